"""The relay publishes when a commit wrote outbox rows, not only when it polls."""

from __future__ import annotations

import asyncio
import threading

from laurel.config import KafkaSettings
from laurel.contracts import fixtures
from laurel.envelope import Actor, EventMetadata, NewEvent
from laurel.eventstore import EventStore, Publication
from laurel.outbox import OutboxRelay

META = EventMetadata(Actor("n-1", "nominator", "h-1"), correlation_id="c")


class Sent:
    """A producer that records what it was given (delivery acknowledged at once)."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.arrived = threading.Event()

    def send(self, topic: str, key: bytes, value: bytes, headers: list) -> object:
        self.keys.append(key.decode())
        self.arrived.set()
        return _Acknowledged()

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        pass


class _Acknowledged:
    exception = None
    is_done = True

    def succeeded(self) -> bool:
        return True


async def test_a_commit_with_outbox_rows_wakes_a_relay_that_polls_rarely(tmp_path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'intake.sqlite'}")
    store.create_schema()
    sent = Sent()
    relay = OutboxRelay(store, KafkaSettings(bootstrap="unused:9092"), poll_interval=3600,
                        producer_factory=lambda: sent)
    store.on_published.append(relay.nudge)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(0.2)  # the first (empty) pass is done; it now waits an hour

    submitted = {**fixtures.load("intake", "NominationSubmitted", 1).payload,
                 "nomination_id": "n-1"}
    await asyncio.to_thread(store.append, "nomination-n-1", 0, [NewEvent(
        "NominationSubmitted", submitted)], META,
        publish=Publication("laurel.intake.events"))
    assert await asyncio.to_thread(sent.arrived.wait, 30)  # not an hour
    assert sent.keys == ["n-1"]
    stop.set()
    await asyncio.wait_for(running, 30)
    assert store.pending_outbox_count() == 0
    store.close()


async def test_events_sent_and_not_yet_marked_are_not_sent_again(tmp_path) -> None:
    """The relay marks what the broker took once per `mark_interval` (or when
    it caught up), not once per pass; meanwhile its passes read on after what
    it sent, so nothing goes out twice, and a stop writes the marks."""
    store = EventStore(f"sqlite:///{tmp_path / 'intake.sqlite'}")
    store.create_schema()
    sent = Sent()
    relay = OutboxRelay(store, KafkaSettings(bootstrap="unused:9092"), poll_interval=3600,
                        mark_interval=3600, producer_factory=lambda: sent)
    store.on_published.append(relay.nudge)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    submitted = fixtures.load("intake", "NominationSubmitted", 1).payload
    for n in ("n-1", "n-2", "n-3"):
        sent.arrived.clear()
        await asyncio.to_thread(store.append, f"nomination-{n}", 0, [NewEvent(
            "NominationSubmitted", {**submitted, "nomination_id": n})], META,
            publish=Publication("laurel.intake.events"))
        assert await asyncio.to_thread(sent.arrived.wait, 30)
    stop.set()
    await asyncio.wait_for(running, 30)
    assert sent.keys == ["n-1", "n-2", "n-3"]
    assert store.pending_outbox_count() == 0
    store.close()
