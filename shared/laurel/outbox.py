"""The outbox relay: committed events to Kafka, at least once, in position order.

The relay only ever reads what the store committed, so a broker that loses
its memory or a relay killed mid-batch loses nothing: unmarked rows are sent
again on the next pass, and consumers drop the duplicates by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
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

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; a failed pass is retried, never skipped."""
        while not stop.is_set():
            try:
                published = await asyncio.to_thread(self.publish_pending)
            except Exception:
                log.exception("outbox pass failed; retrying")
                published = 0
            if published == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
