"""The unit of work on real SQLite files and PostgreSQL: one connection per
unit, reads before the write lock checked at the write, folds cached only
once committed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from laurel.envelope import Actor, EventMetadata, NewEvent, RecordedEvent
from laurel.errors import ConcurrencyConflict
from laurel.eventstore import EventStore
from laurel.unit_of_work import Aggregate, AlreadyProcessed, StaleRead

META = EventMetadata(Actor("tester", "organizer"), correlation_id="c-1")


@pytest.fixture
def store(database_url: str) -> Iterator[EventStore]:
    store = EventStore(database_url)
    store.create_schema()
    yield store
    store.close()


def counted(state: int | None, recorded: RecordedEvent) -> int:
    return (state or 0) + recorded.payload["n"]


COUNTER = Aggregate("counter", counted)


def add(n: int) -> NewEvent:
    return NewEvent("Added", {"n": n})


def checkouts(store: EventStore) -> list[int]:
    seen: list[int] = []
    event.listen(store.engine, "checkout", lambda *args: seen.append(1))
    return seen


def another_writer_appends(store: EventStore, n: int) -> None:
    """Another thread's unit appends to counter-1 (and commits) meanwhile."""
    thread = threading.Thread(target=store.append, args=("counter-1", None, [add(n)], META))
    thread.start()
    thread.join()


def test_a_unit_reads_and_writes_on_one_connection(store: EventStore) -> None:
    store.append("counter-1", 0, [add(1)], META)
    seen = checkouts(store)

    def work(uow: Any) -> int:
        total = uow.load("counter-1", COUNTER)
        uow.append("counter-1", [add(total)], META)
        uow.read("counter-2")
        return uow.version("counter-1")

    assert store.run(work) == 2
    assert len(seen) == 1


def test_a_write_after_a_stale_read_is_decided_again(store: EventStore) -> None:
    """Another writer commits between this unit's read and its write: the
    unit's decision is retried on the new state, never committed stale."""
    store.append("counter-1", 0, [add(1)], META)
    decisions: list[int] = []

    def work(uow: Any) -> None:
        total = uow.load("counter-1", COUNTER)
        decisions.append(total)
        if len(decisions) == 1:  # someone else writes while we decide
            another_writer_appends(store, 10)
        uow.append("counter-1", [add(total)], META)

    store.run(work)
    assert decisions == [1, 11]
    events = store.read_stream("counter-1")
    assert [e.payload["n"] for e in events] == [1, 10, 11]


def test_an_overtaken_unit_decides_again_holding_the_write_lock(store: EventStore) -> None:
    """The retry after a stale read takes the write lock before it reads:
    nobody can overtake it, so a hot stream cannot wear out the attempts."""
    store.append("counter-1", 0, [add(1)], META)
    locked: list[bool] = []

    def overtaken_whenever_it_can_be(uow: Any) -> None:
        locked.append(uow.locked)
        total = uow.load("counter-1", COUNTER)
        if not uow.locked:  # the lock is free: another writer gets in first
            another_writer_appends(store, 10)
        uow.append("counter-1", [add(total)], META)

    store.run(overtaken_whenever_it_can_be)
    assert locked == [False, True]
    assert [e.payload["n"] for e in store.read_stream("counter-1")] == [1, 10, 11]


def test_retries_are_bounded_and_end_as_aborted(store: EventStore) -> None:
    store.append("counter-1", 0, [add(1)], META)

    def overtaken(uow: Any) -> None:
        uow.load("counter-1", COUNTER)
        another_writer_appends(store, 1)
        uow.append("counter-1", [add(1)], META)

    with pytest.raises(StaleRead) as raised:
        store.run(overtaken, attempts=1)
    assert raised.value.code == "ABORTED"
    assert store.stream_version("counter-1") == 2  # only the other's write


def test_a_callers_expected_version_is_checked_on_load(store: EventStore) -> None:
    store.append("counter-1", 0, [add(1), add(2)], META)
    with pytest.raises(ConcurrencyConflict) as raised:
        store.run(lambda uow: uow.load("counter-1", COUNTER, expected_version=1))
    assert (raised.value.expected, raised.value.actual) == (1, 2)
    assert "at version 1 when you read it and is now at version 2" in str(raised.value)


def test_folds_are_cached_and_extended_with_newer_events_only(store: EventStore) -> None:
    folded: list[int] = []

    def evolve(state: int | None, recorded: RecordedEvent) -> int:
        folded.append(recorded.version)
        return counted(state, recorded)

    tracked = Aggregate("tracked", evolve)
    store.append("counter-1", 0, [add(1), add(2)], META)
    assert store.run(lambda uow: uow.load("counter-1", tracked)) == 3
    store.append("counter-1", 2, [add(4)], META)
    assert store.run(lambda uow: uow.load("counter-1", tracked)) == 7
    assert folded == [1, 2, 3]


def test_a_rolled_back_unit_leaves_no_trace_in_the_cache(store: EventStore) -> None:
    store.append("counter-1", 0, [add(1)], META)

    def fails_after_writing(uow: Any) -> None:
        uow.load("counter-1", COUNTER)
        uow.append("counter-1", [add(5)], META)
        uow.load("counter-1", COUNTER)  # folds its own uncommitted event
        raise RuntimeError("refused after deciding")

    with pytest.raises(RuntimeError):
        store.run(fails_after_writing)
    assert store.run(lambda uow: uow.load("counter-1", COUNTER)) == 1
    assert store.stream_version("counter-1") == 1


def test_a_read_only_unit_takes_no_write_lock(store: EventStore) -> None:
    """Queries run beside a writer that holds the lock."""
    store.append("counter-1", 0, [add(1)], META)
    with store.unit_of_work(lock=True) as writer:
        writer.append("counter-2", [add(1)], META)
        assert store.run(lambda uow: uow.load("counter-1", COUNTER)) == 1


def _end_other_backends(url: str, connections: int) -> None:
    """pg_terminate_backend on every other connection to the store's database
    (`connections` of them), waiting until the server shows none left."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    admin = create_engine(url, poolclass=NullPool)
    others = ("FROM pg_stat_activity WHERE datname = current_database() "
              "AND pid <> pg_backend_pid()")
    with admin.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) {others}")).scalar() == connections
        conn.execute(text(f"SELECT pg_terminate_backend(pid) {others}"))
        while conn.execute(text(f"SELECT count(*) {others}")).scalar():
            conn.rollback()  # a fresh snapshot of pg_stat_activity next time
    admin.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_connection_the_server_dropped_is_replaced_and_the_unit_runs_again(
    store: EventStore,
) -> None:
    """No ping before each checkout: the server ends the pooled connection's
    backend between two appends; the next unit fails on it, SQLAlchemy
    invalidates it, and the unit runs once more on a fresh connection. Both
    ways a unit first touches its connection: a read (SQLAlchemy's execute,
    on a pooled connection), and an append's lock and head read (one
    multi-statement query on the writer's held connection)."""
    store.append("counter-1", 0, [add(1)], META)  # the writer's held connection
    assert store.run(lambda uow: uow.load("counter-1", COUNTER)) == 1  # and a pooled one
    lost: list[bool] = []
    event.listen(store.engine, "handle_error",
                 lambda context: lost.append(context.is_disconnect))
    _end_other_backends(store.url, 2)

    def work(uow: Any) -> int:
        total = uow.load("counter-1", COUNTER)
        uow.append("counter-1", [add(total)], META)
        return uow.version("counter-1")

    assert store.run(work) == 2
    assert lost == [True]  # the dropped connection was used, and replaced

    _end_other_backends(store.url, 1)  # the pooled one (the held one is gone already)
    pool = store.engine.pool
    [appended] = store.append("counter-1", 2, [add(5)], META)
    assert appended.version == 3
    assert store.engine.pool is not pool  # the lost connection's pool was let go
    assert [e.payload["n"] for e in store.read_stream("counter-1")] == [1, 1, 5]
    assert store.verify().ok


def test_units_joined_commit_once_and_a_failing_one_rolls_back_alone(
        store: EventStore) -> None:
    """`EventStore.joined`: what a batch of consumed events does in one
    transaction. Each unit opened inside is a savepoint: one that raises
    leaves nothing (no event, no position, no cached fold, no mark), the
    others commit together, once, and the after-commit hooks see them once."""
    store.append("counter-1", 0, [add(1)], META)
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    committed: list[list[str]] = []
    store.on_committed.append(lambda events: committed.append([e.stream_id for e in events]))

    def bump(stream: str, fail: bool = False) -> Any:
        def work(uow: Any) -> None:
            uow.mark_processed("joiner", f"{stream}-once")
            total = uow.load(stream, COUNTER) or 0
            uow.append(stream, [add(total + 1)], META)
            uow.load(stream, COUNTER)  # the fold now holds the unit's own append
            if fail:
                raise ValueError("refused")
        return work

    with store.joined():
        store.run(bump("counter-1"))
        with pytest.raises(ValueError):
            store.run(bump("counter-2", fail=True))
        store.run(bump("counter-3"))
        with pytest.raises(AlreadyProcessed):
            store.run(bump("counter-1"))  # its mark, set earlier in this transaction
        assert commits == []  # nothing committed before the batch ends

    assert commits == [1]
    assert committed == [["counter-1", "counter-3"]]
    assert [(e.position, e.stream_id) for e in store.read_all()] == [
        (1, "counter-1"), (2, "counter-1"), (3, "counter-3")]  # gapless
    assert store.verify().ok
    assert store.stream_version("counter-2") == 0
    assert not store.has_processed("joiner", "counter-2-once")
    assert store.run(lambda uow: uow.load("counter-2", COUNTER)) is None
    assert store.run(lambda uow: uow.load("counter-1", COUNTER)) == 3


def test_a_joined_unit_that_raises_leaves_nothing(store: EventStore) -> None:
    with pytest.raises(RuntimeError), store.joined():
        store.append("counter-1", 0, [add(1)], META)
        raise RuntimeError("the batch failed")
    assert store.last_position() == 0
