"""Consuming other services' events with FastStream, at least once, applied once.

Subscribers commit their offset only after the handler succeeded (a failure
rewinds to the message), and each handler records the event ids it applied in
its own store, in the same transaction as the effect, so a redelivery changes
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.security import BaseSecurity

from laurel.config import KafkaSettings
from laurel.envelope import RecordedEvent

log = logging.getLogger("laurel.messaging")

EventHandler = Callable[[RecordedEvent], Awaitable[None]]


def kafka_broker(kafka: KafkaSettings, client_id: str) -> KafkaBroker:
    context = kafka.ssl_context()  # TLS (and a client certificate) when configured
    return KafkaBroker(
        kafka.bootstrap.split(","),
        client_id=client_id,
        security=BaseSecurity(ssl_context=context, use_ssl=True) if context else None,
        middlewares=[KafkaTelemetryMiddleware()],
        logger=logging.getLogger(f"laurel.{client_id}.kafka"),
    )


def subscribe(
    broker: KafkaBroker,
    kafka: KafkaSettings,
    topic: str,
    group_id: str,
    handler: EventHandler,
) -> None:
    """Register `handler` for every event on `topic`, decoded from the envelope."""

    async def on_message(body: dict[str, Any]) -> None:
        await handler(RecordedEvent.from_dict(body))

    on_message.__name__ = f"{group_id}_{handler.__name__}"
    broker.subscriber(
        topic, ack_policy=AckPolicy.NACK_ON_ERROR, **kafka.consumer_options(group_id)
    )(on_message)
