"""The outbox relay: committed events to Kafka, at least once, in position order.

The relay only ever reads what the store committed, so a broker that loses
its memory or a relay killed mid-batch loses nothing: unmarked rows are sent
again on the next pass, and consumers drop the duplicates by event id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from kafka import KafkaProducer
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from laurel.config import KafkaSettings
from laurel.envelope import RecordedEvent, canonical_json
from laurel.eventstore import EventStore, OutboxEntry
from laurel.telemetry import continued_from, current_trace_carrier

log = logging.getLogger("laurel.outbox")
tracer = trace.get_tracer("laurel.outbox")


def message_value(event: RecordedEvent) -> bytes:
    """The whole stored envelope, hash included, so consumers can verify it."""
    return canonical_json(event.to_dict()).encode("utf-8")


def message_headers(event: RecordedEvent) -> list[tuple[str, bytes]]:
    headers = {
        "content-type": "application/json",
        "laurel-event-id": event.event_id,
        "laurel-event-type": event.type,
        "laurel-schema-version": str(event.schema_version),
        "laurel-stream-id": event.stream_id,
        "laurel-correlation-id": event.metadata.get("correlation_id", ""),
        **current_trace_carrier(),
    }
    return [(name, value.encode("utf-8")) for name, value in headers.items()]


class OutboxRelay:
    def __init__(
        self,
        store: EventStore,
        kafka: KafkaSettings,
        *,
        batch_size: int = 200,
        poll_interval: float = 0.2,
        producer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.store = store
        self.kafka = kafka
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nudged: asyncio.Event | None = None
        self._producer_factory = producer_factory or (
            lambda: KafkaProducer(**kafka.producer_options())
        )
        self._producer: Any = None

    def publish_pending(self) -> int:
        """One pass: send a batch, wait for the broker, mark what it took."""
        entries = self.store.unpublished(self.batch_size)
        if not entries:
            return 0
        producer = self._ensure_producer()
        sent = [(entry, self._send(producer, entry)) for entry in entries]
        producer.flush()
        published = []
        for entry, future in sent:
            if not future.succeeded():
                log.warning("publish of position %s failed: %s", entry.event.position,
                            future.exception)
                break
            published.append(entry.event.position)
        self.store.mark_published(published)
        return len(published)

    def _send(self, producer: Any, entry: OutboxEntry) -> Any:
        event = entry.event
        with continued_from(event.metadata.get("trace", {})), tracer.start_as_current_span(
            f"{entry.topic} publish",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": entry.topic,
                "messaging.message.id": event.event_id,
                "laurel.event_type": event.type,
            },
        ):
            return producer.send(
                entry.topic,
                key=entry.key.encode("utf-8"),
                value=message_value(event),
                headers=message_headers(event),
            )

    def _ensure_producer(self) -> Any:
        if self._producer is None:
            self._producer = self._producer_factory()
        return self._producer

    def nudge(self) -> None:
        """Publish now: a commit wrote outbox rows (safe from any thread).

        The poll stays as the safety net, for rows other processes wrote and
        for nudges that arrive while no loop runs."""
        loop, nudged = self._loop, self._nudged
        if loop is not None and nudged is not None and not loop.is_closed():
            loop.call_soon_threadsafe(nudged.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set, at each nudge and at least every poll
        interval; a failed pass is retried, never skipped."""
        self._loop, self._nudged = asyncio.get_running_loop(), asyncio.Event()
        try:
            while not stop.is_set():
                self._nudged.clear()
                try:
                    published = await asyncio.to_thread(self.publish_pending)
                except Exception:
                    log.exception("outbox pass failed; retrying")
                    published = 0
                if published == 0:
                    await _first_of(stop, self._nudged, self.poll_interval)
        finally:
            self._loop = self._nudged = None

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


async def _first_of(stop: asyncio.Event, nudged: asyncio.Event, timeout: float) -> None:
    waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(nudged.wait())}
    _, pending = await asyncio.wait(waits, timeout=timeout,
                                    return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
