"""The event store's contract, written once and run on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from laurel.contracts import fixtures
from laurel.envelope import Actor, EventMetadata, NewEvent, RecordedEvent
from laurel.errors import ConcurrencyConflict
from laurel.eventstore import AlreadyProcessed, EventStore, Publication
from laurel.upcasting import Upcasters

META = EventMetadata(Actor("u-1", "nominator", "hospital-1"), correlation_id="c-1",
                     trace={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2021, 11, 10, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(database_url: str):
    store = EventStore(database_url)
    store.create_schema()
    yield store
    store.close()


def events(*types: str) -> list[NewEvent]:
    return [NewEvent(t, {"n": i, "text": "河南省"}) for i, t in enumerate(types)]


def test_append_then_read_back_everything_stored(store: EventStore) -> None:
    store.append("nomination-a", 0, events("Drafted", "Submitted"), META)
    store.append("nomination-b", 0, events("Drafted"), META)

    stream = store.read_stream("nomination-a")
    assert [(e.version, e.type, e.position) for e in stream] == [
        (1, "Drafted", 1), (2, "Submitted", 2)
    ]
    first = stream[0]
    assert first.payload == {"n": 0, "text": "河南省"}
    assert first.metadata["actor"] == {"id": "u-1", "role": "nominator",
                                       "organization_id": "hospital-1"}
    assert first.metadata["correlation_id"] == "c-1"
    assert first.metadata["trace"]["traceparent"].startswith("00-111")
    assert len(first.hash) == 64 and first.prev_hash == "0" * 64
    assert stream[1].prev_hash == first.hash
    assert [e.position for e in store.read_all()] == [1, 2, 3]
    assert store.verify().ok


def test_stale_expected_version_raises_and_writes_nothing(store: EventStore) -> None:
    store.append("nomination-a", 0, events("Drafted"), META)
    with pytest.raises(ConcurrencyConflict) as raised:
        store.append("nomination-a", 0, events("Submitted", "Amended"), META)
    assert raised.value.actual == 1 and raised.value.expected == 0
    assert store.stream_version("nomination-a") == 1
    assert store.last_position() == 1


def test_two_writers_racing_on_one_version_leave_exactly_one_append(
    database_url: str, store: EventStore
) -> None:
    store.append("nomination-a", 0, events("Drafted"), META)
    writers = [EventStore(database_url) for _ in range(4)]
    barrier = threading.Barrier(len(writers))
    outcomes: list[str] = []

    def write(writer: EventStore, n: int) -> None:
        barrier.wait()
        try:
            writer.append("nomination-a", 1, [NewEvent("Amended", {"writer": n})], META)
            outcomes.append("appended")
        except ConcurrencyConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(w, n)) for n, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for writer in writers:
        writer.close()

    assert sorted(outcomes) == ["appended", "conflict", "conflict", "conflict"]
    assert [e.version for e in store.read_stream("nomination-a")] == [1, 2]
    assert store.verify().ok


def test_writers_of_separate_stores_interleaving_keep_positions_gapless_and_chained(
    database_url: str, store: EventStore
) -> None:
    """Four stores (as four processes: no shared in-process lock), each
    appending to its own streams and to one shared stream: only the
    database's lock orders them (on PostgreSQL the advisory lock and the
    head read go in one query, one round trip), and every position and link
    still holds."""
    writers = [EventStore(database_url) for _ in range(4)]
    barrier = threading.Barrier(len(writers))
    failures: list[BaseException] = []

    def write(writer: EventStore, n: int) -> None:
        barrier.wait()
        try:
            for i in range(10):
                writer.append(f"nomination-{n}", i, events("Amended"), META)
                writer.append("campaign-log", None, events("Noted"), META)
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=write, args=(w, n)) for n, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for writer in writers:
        writer.close()

    assert failures == []
    assert [e.position for e in store.read_all()] == list(range(1, 81))
    assert [e.version for e in store.read_stream("campaign-log")] == list(range(1, 41))
    report = store.verify()
    assert report.ok and report.events_checked == 80


def test_a_row_edited_behind_the_store_is_reported_with_stream_and_version(
    store: EventStore,
) -> None:
    store.append("nomination-a", 0, events("Drafted", "Submitted", "Endorsed"), META)
    store.append("nomination-b", 0, events("Drafted"), META)
    with store.engine.begin() as conn:
        conn.execute(text(
            "UPDATE events SET payload = :p WHERE stream_id = 'nomination-a' AND version = 2"
        ), {"p": '{"n":1,"text":"河南"}'})

    report = store.verify()

    assert not report.ok
    broken = report.first_break
    assert (broken.stream_id, broken.version, broken.position) == ("nomination-a", 2, 2)
    assert "edited" in broken.reason
    assert [b.stream_id for b in report.breaks] == ["nomination-a"]


def test_a_deleted_row_breaks_positions_and_the_stream_link(store: EventStore) -> None:
    store.append("nomination-a", 0, events("Drafted", "Submitted", "Endorsed"), META)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE position = 2"))

    broken = store.verify().first_break

    assert (broken.stream_id, broken.version) == ("nomination-a", 3)


def test_upcaster_turns_an_old_schema_into_the_current_one_on_read(
    database_url: str, store: EventStore
) -> None:
    store.append("nomination-a", 0, [NewEvent("NominationSubmitted",
                                              {"hospital": "郑州大学第一附属医院"})], META)
    upcasters = Upcasters()

    @upcasters.register("NominationSubmitted", from_version=1)
    def nominee_became_an_object(payload: dict) -> dict:
        return {"nominee": {"kind": "hospital", "name": payload.pop("hospital")}}

    reader = EventStore(database_url, upcasters=upcasters)
    [event] = reader.read_stream("nomination-a")
    reader.close()

    assert event.schema_version == 2
    assert event.payload == {"nominee": {"kind": "hospital", "name": "郑州大学第一附属医院"}}
    assert store.read_stream("nomination-a")[0].schema_version == 1
    assert store.verify().ok


def test_read_a_stream_as_of_a_time(database_url: str) -> None:
    clock = FakeClock()
    store = EventStore(database_url, clock=clock)
    store.create_schema()
    store.append("nomination-a", 0, events("Drafted"), META)
    clock.now += timedelta(days=1)
    store.append("nomination-a", 1, events("Submitted"), META)

    at_noon = store.read_stream("nomination-a", as_of=clock.now - timedelta(hours=12))
    everything = store.read_stream("nomination-a", as_of=clock.now)
    store.close()

    assert [e.type for e in at_noon] == ["Drafted"]
    assert [e.type for e in everything] == ["Drafted", "Submitted"]


def test_read_all_from_a_position_in_batches(store: EventStore) -> None:
    for n in range(7):
        store.append(f"nomination-{n}", 0, events("Drafted", "Submitted"), META)

    tail = list(store.read_all(from_position=5, batch_size=3))

    assert [e.position for e in tail] == list(range(5, 15))


def test_replay_gives_each_stream_folded_alone_one_after_another(store: EventStore) -> None:
    """`replay` folds stream by stream (keyset pages that split streams), each
    state the same as folding that stream's own events, and every stream once."""
    from laurel.envelope import Aggregate

    def types(state: tuple[str, ...] | None, event: RecordedEvent) -> tuple[str, ...]:
        return (*(state or ()), f"{event.version}:{event.type}")

    for n in (3, 1, 2):
        store.append(f"nomination-{n}", 0, events("Drafted"), META)
    for n in (2, 3):
        store.append(f"nomination-{n}", 1, events("Submitted", "Endorsed"), META)

    replayed = list(store.replay(Aggregate("types", types), batch_size=2))

    assert replayed == [
        ("nomination-1", ("1:Drafted",)),
        ("nomination-2", ("1:Drafted", "2:Submitted", "3:Endorsed")),
        ("nomination-3", ("1:Drafted", "2:Submitted", "3:Endorsed")),
    ]


def test_stored_json_that_orjson_refuses_still_reads_as_before(store: EventStore) -> None:
    """A payload with an integer beyond 64 bits (canonical JSON writes it)
    reads back the same (json.loads takes over), and its hash still checks."""
    store.append("nomination-a", 0, [NewEvent("Scored", {"big": 2**70})], META)
    [event] = store.read_stream("nomination-a")
    assert event.payload == {"big": 2**70}
    assert store.verify().ok


def test_a_consumed_event_is_applied_once(store: EventStore) -> None:
    store.append("receipts-1", None, events("ReceiptIssued"), META,
                 consumed=("notification", "evt-1"))
    with pytest.raises(AlreadyProcessed):
        store.append("receipts-1", None, events("ReceiptIssued"), META,
                     consumed=("notification", "evt-1"))

    assert store.stream_version("receipts-1") == 1
    assert store.has_processed("notification", "evt-1")
    assert not store.has_processed("scoring", "evt-1")


def test_outbox_rows_commit_with_their_events_and_are_marked_once_sent(
    store: EventStore,
) -> None:
    submitted = {**fixtures.load("intake", "NominationSubmitted", 1).payload,
                 "nomination_id": "a"}
    store.append("nomination-a", 0, [NewEvent("NominationSubmitted", submitted)], META,
                 publish=Publication("laurel.intake.events"))
    store.append("nomination-b", 0, events("Drafted"), META)

    [entry] = store.unpublished()
    # the key is the contract's: a nomination's events by its id
    assert (entry.topic, entry.key, entry.event.type) == ("laurel.intake.events", "a",
                                                          "NominationSubmitted")
    store.mark_published([entry.event.position])
    assert store.unpublished() == [] and store.pending_outbox_count() == 0


def test_a_failed_transaction_leaves_no_event_and_no_outbox_row(store: EventStore) -> None:
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.append("nomination-a",
                   [NewEvent("NominationSubmitted",
                             fixtures.load("intake", "NominationSubmitted", 1).payload)],
                   META, publish=Publication("t"), expected_version=0)
        raise RuntimeError("crash before commit")

    assert store.last_position() == 0 and store.pending_outbox_count() == 0
