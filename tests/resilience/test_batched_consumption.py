"""Consumers take Kafka's records in batches (laurel.messaging, issue 14
item 2), one transaction for many, and keep every guarantee.

Real parts: a real broker, review's own reactions on a SQLite store (in this
process, or `python -m laurel.review` as operators run it), intake's events
from a store of the test's own, sent as its relay sends them. What review
ends with is compared with a fresh store fed the same events one at a time.
"""

from __future__ import annotations

import asyncio
import re
import signal
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from sqlalchemy import event as sa_event
from sqlalchemy import select

from laurel import messaging
from laurel.broker import TansuBroker, ensure_topics, free_port
from laurel.catchup import Inbox, Upstream
from laurel.config import KafkaSettings
from laurel.contracts import REGISTRY, fixtures
from laurel.envelope import Actor, EventMetadata, NewEvent, RecordedEvent
from laurel.eventstore import EventStore, applied_positions_table
from laurel.messaging import events, subscribe
from laurel.outbox import message_headers, message_value
from laurel.parking import Parking
from laurel.review.bootstrap import projections
from laurel.review.reactions import CONSUMER, Reactions

from .conftest import ServiceProcess, create_topics, service_env, until

META = EventMetadata(Actor("nominator-1", "nominator", "hospital-1"), correlation_id="c")


def intake_events(path: Path, count: int) -> list[RecordedEvent]:
    """`count` nominations submitted, then each received, in intake's store."""
    store = EventStore(f"sqlite:///{path}")
    store.create_schema()
    ids = [str(uuid.uuid4()) for _ in range(count)]

    def body(type_: str, nid: str) -> dict[str, Any]:
        golden = fixtures.load("intake", type_, REGISTRY["intake"][type_].version)
        return {**golden.payload, "nomination_id": nid}

    def append_all(uow: Any) -> None:
        for type_ in ("NominationSubmitted", "NominationReceived"):
            for nid in ids:
                uow.append(f"nomination-{nid}", [NewEvent(type_, body(type_, nid))], META)

    try:
        store.run(append_all)
        return list(store.read_all())
    finally:
        store.close()


def send(bootstrap: str, topic: str, recorded: list[RecordedEvent]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    for e in recorded:  # keyed by stream: a stream's events in order
        producer.send(topic, key=e.stream_id.encode(), value=message_value(e),
                      headers=message_headers(e))
    producer.flush(30)
    producer.close()


def review_store(path: Path) -> EventStore:
    store = EventStore(f"sqlite:///{path}", projections=projections())
    store.create_schema()
    return store


def shape(store: EventStore) -> Counter[tuple[str, str]]:
    """What a consumer recorded: how many events of each type in each stream."""
    return Counter((e.stream_id, e.type) for e in store.read_all())


def outcomes(store: EventStore) -> dict[int, str]:
    t = applied_positions_table.c
    with store.engine.connect() as conn:
        return dict(conn.execute(select(t.position, t.outcome).where(
            t.consumer == CONSUMER, t.upstream == "intake")).tuples().all())


def one_by_one(recorded: list[RecordedEvent], path: Path) -> EventStore:
    fresh = review_store(path)
    reactions = Reactions(fresh)
    for e in recorded:
        reactions.on_intake_event(e)
    return fresh


async def test_a_poison_event_in_a_batch_is_parked_and_the_rest_applies_in_few_transactions(
    kafka_broker: TansuBroker, topic_suffix: str, tmp_path: Path,
) -> None:
    kafka = KafkaSettings(bootstrap=kafka_broker.bootstrap,
                          group_prefix=f"test-{topic_suffix}")
    topic = f"laurel.intake.events.{topic_suffix}"
    ensure_topics(kafka, [topic])
    recorded = intake_events(tmp_path / "intake.sqlite", 30)
    poison = recorded[40]  # a receipt, in the middle
    store = review_store(tmp_path / "review.sqlite")
    reactions = Reactions(store)

    def react(e: RecordedEvent) -> None:
        if e.event_id == poison.event_id:
            raise ValueError("no rule for this receipt in this version of review")
        reactions.on_intake_event(e)

    inbox = Inbox(store, CONSUMER, [Upstream("intake", topic, react)], {})
    parking = Parking.for_inbox(inbox, max_attempts=2, backoff_s=0.01, backoff_cap_s=0.05)
    transactions: list[int] = []
    sa_event.listen(store.engine, "commit", lambda conn: transactions.append(1))
    broker = messaging.kafka_broker(kafka, CONSUMER)
    subscribe(broker, kafka, CONSUMER, {topic: events(inbox.handler("intake"),
                                                      upstream="intake")}, parking=parking)
    try:
        await asyncio.to_thread(send, kafka.bootstrap, topic, recorded)
        await broker.start()
        await until(lambda: len(outcomes(store)) == len(recorded), "every position settled")
        assert outcomes(store) == {e.position: "parked" if e is poison else "applied"
                                   for e in recorded}
        [parked] = parking.parked().values()
        assert (parked.event_id, parked.attempts, parked.topic) == (
            poison.event_id, 2, topic)
        assert parked.offset >= 0  # the Kafka record itself, kept whole
        # 60 events: one transaction each would be 60 commits and more.
        assert len(transactions) < len(recorded) // 2, len(transactions)
        fresh = one_by_one([e for e in recorded if e is not poison], tmp_path / "fresh.sqlite")
        try:
            assert shape(store) - shape(fresh) == Counter({("parked-review", "MessageParked"): 1})
            assert shape(fresh) - shape(store) == Counter()
        finally:
            fresh.close()
    finally:
        await broker.stop()
        store.close()


async def test_review_killed_mid_batch_applies_every_event_exactly_once(
    kafka_broker: TansuBroker, tmp_path: Path,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    nowhere = f"127.0.0.1:{free_port()}"  # no upstream log: Kafka alone must do it
    env = service_env(kafka_broker.bootstrap, tmp_path / "data", suffix,
                      LAUREL_REVIEW_REMINDER_POLL_S="0",
                      LAUREL_CATCHUP_INTAKE_ADDRESS=nowhere,
                      LAUREL_CATCHUP_SCORING_ADDRESS=nowhere)
    create_topics(env)
    recorded = intake_events(tmp_path / "intake.sqlite", 1000)
    await asyncio.to_thread(send, kafka_broker.bootstrap, env["LAUREL_TOPIC_INTAKE"],
                            recorded)
    (tmp_path / "data").mkdir()
    service = ServiceProcess("review", env, tmp_path / "review.log")
    path = tmp_path / "data" / "review.sqlite"
    store: EventStore | None = None
    try:
        service.start()
        store = EventStore(f"sqlite:///{path}")
        observer = store

        def some_applied() -> bool:
            return len(outcomes(observer)) >= 200

        await until(some_applied, "review applying", timeout=120)
        assert service.process is not None
        service.process.send_signal(signal.SIGKILL)
        service.process.wait(10)
        at_kill = len(outcomes(store))
        assert at_kill < len(recorded), "killed after the last batch: nothing tested"

        service.start()  # as it was: same store, same consumer group
        await until(lambda: len(outcomes(observer)) == len(recorded),
                    "every event applied after the restart", timeout=180)
        service.stop()
        sizes = [int(n) for n in re.findall(r"(\d+) message\(s\) handled", service.log())]
        assert max(sizes) > 1, "never a batch"
        fresh = one_by_one(recorded, tmp_path / "fresh.sqlite")
        try:
            assert shape(store) == shape(fresh)  # no effect twice, none lost
        finally:
            fresh.close()
        assert set(outcomes(store).values()) == {"applied"}
        assert all(store.has_processed(CONSUMER, e.event_id) for e in recorded)
        assert store.verify().ok
    finally:
        service.kill()
        if store is not None:
            store.close()
