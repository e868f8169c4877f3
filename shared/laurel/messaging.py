"""Consuming other services' events with FastStream, at least once, applied once.

Subscribers commit their offset only after the handler succeeded (a failure
rewinds to the message), and each handler records the event ids it applied in
its own store, in the same transaction as the effect, so a redelivery changes
nothing. With a `Parking` (laurel.parking), a message that keeps failing is
parked after bounded retries and the partition moves on, and a transient
failure backs off in place instead of spinning.

Subscribers take batches (up to `BATCH_MAX_RECORDS` a poll): a run of
upstream events goes to `laurel.catchup.Inbox.deliver_batch`, one
transaction for many, and the offsets are committed once, after it. Per
message, the transaction's fsync, the thread hop and the offset commit cost
far more than most reactions do (issue 14, item 2: ×4–5 eligibility
verdicts per second at a third of the CPU). Each record is still guarded
alone, decoding included: a poison record is parked, the others apply.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Union, cast

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.security import BaseSecurity
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import TypeAdapter

from laurel.config import KafkaSettings
from laurel.contracts import REGISTRY
from laurel.contracts.messages import topic_message
from laurel.envelope import RecordedEvent
from laurel.logs import handling
from laurel.parking import RETRY_FOR, Parking
from laurel.telemetry import continued_from

log = logging.getLogger("laurel.messaging")
tracer = trace.get_tracer("laurel.messaging")

BodyHandler = Callable[[dict[str, Any]], None]

# At most this many records a batch. After an empty poll FastStream's batch
# subscriber sleeps `BATCH_TIMEOUT_MS` (200 ms by default, which would be
# added to the latency of the next event): kept small, as the broker's own
# fetch wait (`KafkaSettings.fetch_wait_ms`) already paces an idle consumer.
BATCH_MAX_RECORDS = 200
BATCH_TIMEOUT_MS = 10


def kafka_broker(kafka: KafkaSettings, client_id: str) -> KafkaBroker:
    context = kafka.ssl_context()  # TLS (and a client certificate) when configured
    return KafkaBroker(
        kafka.bootstrap.split(","),
        client_id=client_id,
        security=BaseSecurity(ssl_context=context, use_ssl=True) if context else None,
        middlewares=[KafkaTelemetryMiddleware()],
        logger=logging.getLogger(f"laurel.{client_id}.kafka"),
        # Its per-message "Received"/"Processed" lines know no event id:
        # `subscribe` logs one line per message instead, with the ids.
        log_level=logging.DEBUG,
    )


def subscribe(
    broker: KafkaBroker,
    kafka: KafkaSettings,
    group_id: str,
    handlers: Mapping[str, BodyHandler],
    *,
    parking: Parking | None = None,
    batch: bool = True,
) -> None:
    """One subscriber in one consumer group for every topic in `handlers`.

    One group, not one per topic: a group join costs seconds on Tansu and a
    broker's subscribers join one after another. Each message body goes to
    its topic's handler in a worker thread (handlers use the blocking store);
    the offset is committed only after the handler returned. `parking`
    guards the whole handling, decoding included (a FastStream middleware
    on a router of this one subscriber).

    The subscriber takes typed messages: each topic's handler names what its
    topic carries (`events(..., upstream=...)`: the producer's contract), so
    FastStream validates every body and describes every topic and message in
    its AsyncAPI document. A body is validated against its own topic's
    messages as well (the union the subscriber takes spans every topic), and
    handed on as it arrived, hash and all.
    """
    types = [getattr(h, "message", dict[str, Any]) for h in handlers.values()]
    checks = {topic: TypeAdapter(h.message) for topic, h in handlers.items()
              if hasattr(h, "message")}

    async def on_message(body: Any, message: KafkaMessage) -> None:
        record = cast(ConsumerRecord, message.raw_message)  # one record: not a batch
        raw: Any = await message.decode()  # the body as it arrived (decoded once, cached)
        started = time.perf_counter()
        with handling(**_ids_of(raw)):
            check = checks.get(record.topic)
            if check is not None:
                check.validate_python(raw)
            body = raw
            await asyncio.to_thread(handlers[record.topic], body)
            seconds = time.perf_counter() - started
            log.info("%s %s handled in %.1f ms", record.topic, body.get("type", "message"),
                     seconds * 1000, extra={"topic": record.topic,
                                            "partition": record.partition,
                                            "offset": record.offset,
                                            "duration_ms": round(seconds * 1000, 3)})

    message_type: Any = Union[tuple(dict.fromkeys(types))]  # noqa: UP007
    router = KafkaRouter(middlewares=[parking.middleware] if parking is not None else [])
    if batch:
        def consume(records: tuple[ConsumerRecord, ...]) -> None:
            _consume(records, handlers, checks, parking)

        async def on_batch(body: Any, message: KafkaMessage) -> None:
            await asyncio.to_thread(consume, cast(tuple[ConsumerRecord, ...],
                                                  message.raw_message))

        on_batch.__name__ = f"{group_id}_on_message"
        on_batch.__annotations__["body"] = list[message_type]
        router.subscriber(
            *handlers, batch=True, max_records=BATCH_MAX_RECORDS,
            batch_timeout_ms=BATCH_TIMEOUT_MS, decoder=_per_record,
            ack_policy=AckPolicy.NACK_ON_ERROR, **kafka.consumer_options(group_id),
        )(on_batch)
    else:
        on_message.__name__ = f"{group_id}_on_message"
        on_message.__annotations__["body"] = message_type
        router.subscriber(
            *handlers, ack_policy=AckPolicy.NACK_ON_ERROR, **kafka.consumer_options(group_id)
        )(on_message)
    broker.include_router(router)


async def _per_record(message: Any) -> list[Any]:
    """A batch's body for FastStream: none. Each record is decoded and
    validated by `_consume`, alone, so one that does not decode is parked by
    itself instead of failing its batch (the subscriber's annotation still
    names the messages, for the AsyncAPI document)."""
    return []


def _consume(records: Sequence[ConsumerRecord], handlers: Mapping[str, BodyHandler],
             checks: Mapping[str, TypeAdapter[Any]], parking: Parking | None) -> None:
    """A batch's records in their order: each run of events for one inbox
    goes to `Inbox.deliver_batch`, the rest (a compliance report, a record
    that does not decode, a parked message's retry) one at a time."""
    started = time.perf_counter()
    run: list[tuple[ConsumerRecord, Any, str, RecordedEvent]] = []

    def alone(record: ConsumerRecord) -> None:
        def apply() -> None:
            with _consuming(record):
                started = time.perf_counter()
                raw = json.loads(record.value or b"")
                with handling(**_ids_of(raw)):
                    check = checks.get(record.topic)
                    if check is not None:
                        check.validate_python(raw)
                    handlers[record.topic](raw)
                    _handled(record, raw, started)

        if parking is None:
            apply()
        else:
            parking.handle(record, apply)

    def flush() -> None:
        if len(run) == 1:
            alone(run[0][0])
        elif run:
            items = list(run)
            items[0][1].deliver_batch([(upstream, event) for _, _, upstream, event in items],
                                      lambda i: alone(items[i][0]),
                                      lambda i: _consuming(items[i][0], items[i][3]))
        run.clear()

    for record in records:
        item = _inbox_event(record, handlers, checks)
        if item is not None and (not run or run[0][1] is item[1]):
            run.append(item)
            continue
        flush()
        if item is not None:
            run.append(item)
        else:
            alone(record)
    flush()
    seconds = time.perf_counter() - started
    if records:
        log.info("%d message(s) handled in %.1f ms", len(records), seconds * 1000,
                 extra={"topic": records[0].topic, "partition": records[0].partition,
                        "offset": records[0].offset, "count": len(records),
                        "duration_ms": round(seconds * 1000, 3)})


def _handled(record: ConsumerRecord, body: Any, started: float) -> None:
    """One line a message handled, with its ids and trace (laurel.logs)."""
    seconds = time.perf_counter() - started
    kind = body.get("type", "message") if isinstance(body, dict) else "message"
    log.info("%s %s handled in %.1f ms", record.topic, kind, seconds * 1000,
             extra={"topic": record.topic, "partition": record.partition,
                    "offset": record.offset, "duration_ms": round(seconds * 1000, 3)})


@contextmanager
def _consuming(record: ConsumerRecord, event: RecordedEvent | None = None) -> Iterator[None]:
    """One record's handling inside a batch: a consumer span in the trace the
    record carries (as FastStream opens for a single message; a batch's own
    span starts a trace of its own), so what the event causes continues its
    trace; with the event, its ids on every log line, and its line once handled."""
    headers = {name: (value or b"").decode("utf-8", "replace")
               for name, value in record.headers or ()}
    started = time.perf_counter()
    with (continued_from(headers),
          tracer.start_as_current_span(f"{record.topic} process", kind=SpanKind.CONSUMER,
                                       attributes={"messaging.kafka.offset": record.offset}),
          handling(**(_ids_of({"event_id": event.event_id, "payload": event.payload})
                      if event is not None else {}))):
        yield
        if event is not None:
            _handled(record, {"type": event.type}, started)


def _inbox_event(record: ConsumerRecord, handlers: Mapping[str, BodyHandler],
                 checks: Mapping[str, TypeAdapter[Any]]
                 ) -> tuple[ConsumerRecord, Any, str, RecordedEvent] | None:
    """The record as an event for its topic's inbox, if its handler is an
    inbox's and it decodes and validates (else it goes alone, and fails
    there as it would have)."""
    handler = handlers[record.topic]
    inbox = getattr(handler, "inbox", None)
    if inbox is None or any(name == RETRY_FOR for name, _ in record.headers or ()):
        return None
    try:
        raw = json.loads(record.value or b"")
        check = checks.get(record.topic)
        if check is not None:
            check.validate_python(raw)
        return record, inbox, handler.upstream, RecordedEvent.from_dict(raw)  # type: ignore[attr-defined]
    except Exception:
        return None


def _ids_of(body: Any) -> dict[str, str]:
    """The event id and nomination id of a Laurel event's body, for the log."""
    if not isinstance(body, dict):
        return {}
    payload = body.get("payload")
    nomination = payload.get("nomination_id") if isinstance(payload, dict) else None
    event_id = body.get("event_id")
    return {"event_id": event_id if isinstance(event_id, str) else "",
            "nomination_id": nomination if isinstance(nomination, str) else ""}


def events(handler: Callable[[RecordedEvent], None], upstream: str | None = None
           ) -> BodyHandler:
    """A body handler for a topic of Laurel events (the stored envelope);
    with `upstream`, its messages are that service's, as its contract says."""

    def on_body(body: dict[str, Any]) -> None:
        handler(RecordedEvent.from_dict(body))

    if hasattr(handler, "inbox"):  # an inbox's: batches go to `Inbox.deliver_batch`
        on_body.inbox = handler.inbox  # type: ignore[attr-defined]
        on_body.upstream = handler.upstream  # type: ignore[attr-defined]

    if upstream is not None:
        on_body.message = topic_message(REGISTRY[upstream])  # type: ignore[attr-defined]
    return on_body
