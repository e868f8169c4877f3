"""Consuming other services' events with FastStream, at least once, applied once.

Subscribers commit their offset only after the handler succeeded (a failure
rewinds to the message), and each handler records the event ids it applied in
its own store, in the same transaction as the effect, so a redelivery changes
nothing. With a `Parking` (laurel.parking), a message that keeps failing is
parked after bounded retries and the partition moves on, and a transient
failure backs off in place instead of spinning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Union, cast

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.security import BaseSecurity
from pydantic import TypeAdapter

from laurel.config import KafkaSettings
from laurel.contracts import REGISTRY
from laurel.contracts.messages import topic_message
from laurel.envelope import RecordedEvent
from laurel.logs import handling
from laurel.parking import Parking

log = logging.getLogger("laurel.messaging")

BodyHandler = Callable[[dict[str, Any]], None]


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

    on_message.__name__ = f"{group_id}_on_message"
    on_message.__annotations__["body"] = Union[tuple(dict.fromkeys(types))]  # noqa: UP007
    router = KafkaRouter(middlewares=[parking.middleware] if parking is not None else [])
    router.subscriber(
        *handlers, ack_policy=AckPolicy.NACK_ON_ERROR, **kafka.consumer_options(group_id)
    )(on_message)
    broker.include_router(router)


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

    if upstream is not None:
        on_body.message = topic_message(REGISTRY[upstream])  # type: ignore[attr-defined]
    return on_body
