"""A consumer applies a batch of events in one transaction (laurel.catchup,
`Inbox.deliver_batch`), with every guarantee of one event at a time.

Real parts: the upstream's store served over real gRPC (`EventLogService`),
review's own reactions on its own SQLite store. The transactions are counted
on the consumer's engine; a fresh store fed one event at a time is what a
batch must end equal to.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter

from sqlalchemy import event as sa_event

from laurel.catchup import Inbox
from laurel.envelope import RecordedEvent
from laurel.eventstore import EventStore
from laurel.review.bootstrap import projections
from laurel.review.reactions import CONSUMER, Reactions

from .test_catchup import Setup, submitted
from .test_catchup import setup as setup  # noqa: F401  (the fixture)


def commits(store: EventStore) -> list[int]:
    seen: list[int] = []
    sa_event.listen(store.engine, "commit", lambda conn: seen.append(1))
    return seen


def shape(store: EventStore) -> Counter[tuple[str, str]]:
    return Counter((e.stream_id, e.type) for e in store.read_all())


def nominations(setup: Setup, count: int) -> list[RecordedEvent]:
    """`count` nominations submitted and received, interleaved as Kafka would
    bring them (a stream's events in order, streams mixed)."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for nid in ids:
        setup.append(nid, "NominationSubmitted", submitted(nid))
    for nid in ids:
        setup.append(nid, "NominationReceived")
    return list(setup.upstream.read_all())


def one_by_one(events: list[RecordedEvent], tmp: str) -> EventStore:
    fresh = EventStore(f"sqlite:///{tmp}", projections=projections())
    fresh.create_schema()
    reactions = Reactions(fresh)
    for recorded in events:
        reactions.on_intake_event(recorded)
    return fresh


async def test_a_batch_applies_in_one_transaction_and_again_changes_nothing(
        setup: Setup, tmp_path) -> None:
    events = nominations(setup, 20)
    counted = commits(setup.consumer)
    batch = [("intake", e) for e in events]
    setup.inbox.batch_hold_s = 60.0  # however slow this machine is today

    await asyncio.to_thread(setup.inbox.deliver_batch, batch)
    assert len(counted) == 1  # 40 events, one transaction (one fsync)
    assert setup.outcomes() == {e.position: "applied" for e in events}
    assert all(setup.consumer.has_processed(CONSUMER, e.event_id) for e in events)
    fresh = one_by_one(events, str(tmp_path / "fresh.sqlite"))
    try:
        assert shape(setup.consumer) == shape(fresh)
    finally:
        fresh.close()

    before, last = shape(setup.consumer), setup.consumer.last_position()
    await asyncio.to_thread(setup.inbox.deliver_batch, batch)  # redelivered whole
    assert shape(setup.consumer) == before
    assert setup.consumer.last_position() == last
    assert setup.consumer.verify().ok


async def test_a_failing_event_rolls_its_batch_back_and_goes_alone(
        setup: Setup) -> None:
    events = nominations(setup, 5)
    refused = events[3]
    tries: Counter[str] = Counter()
    react = setup.inbox.upstreams["intake"].react

    def picky(recorded: RecordedEvent) -> object:
        tries[recorded.event_id] += 1
        if recorded.event_id == refused.event_id:
            raise ValueError("refused")
        return react(recorded)

    inbox = Inbox(setup.consumer, CONSUMER, [setup.inbox.upstreams["intake"].__class__(
        "intake", "t", picky)], {}, batch_hold_s=60.0)  # one transaction however slow
    alone: list[int] = []

    def one(i: int) -> None:
        alone.append(i)
        with contextlib.suppress(ValueError):  # Kafka's path parks it (laurel.parking)
            inbox.deliver(*batch[i])

    batch = [("intake", e) for e in events]
    await asyncio.to_thread(inbox.deliver_batch, batch, one)
    # Rolled back at the refused event: what came before it batched again, it alone.
    assert alone == [3]
    assert tries[events[0].event_id] == 2 and tries[refused.event_id] == 2
    assert tries[events[4].event_id] == 1
    assert {p for p, o in setup.outcomes().items() if o == "applied"} == {
        e.position for e in events if e is not refused}


async def test_an_event_after_a_gap_in_its_stream_is_caught_up_inside_a_batch(
        setup: Setup) -> None:
    n1, n2 = str(uuid.uuid4()), str(uuid.uuid4())
    p1 = setup.append(n1, "NominationSubmitted", submitted(n1))
    p2 = setup.append(n2, "NominationSubmitted", submitted(n2))
    p3 = setup.append(n2, "NominationReceived")
    p4 = setup.append(n1, "NominationReceived")
    events = {e.position: e for e in setup.upstream.read_all()}
    # Kafka lost p1: p4 follows an event this consumer lacks; p3 follows p2,
    # which the same batch applies before it.
    await asyncio.to_thread(setup.inbox.deliver_batch,
                            [("intake", events[p]) for p in (p2, p3, p4)])
    assert setup.status(n1) == "received" and setup.status(n2) == "received"
    assert setup.outcomes() == {p1: "applied", p2: "applied", p3: "applied",
                                p4: "applied"}
