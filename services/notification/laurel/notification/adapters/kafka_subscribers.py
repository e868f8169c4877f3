"""Which topics notification listens to, and how each event reaches a use case."""

from __future__ import annotations

import asyncio

from faststream.kafka import KafkaBroker

from laurel.config import Settings
from laurel.envelope import RecordedEvent
from laurel.messaging import subscribe
from laurel.notification.application import CONSUMER, NotificationApplication


def register_subscribers(
    broker: KafkaBroker, settings: Settings, app: NotificationApplication
) -> None:
    async def on_intake_event(event: RecordedEvent) -> None:
        await asyncio.to_thread(app.on_intake_event, event)

    subscribe(broker, settings.kafka, settings.topics.intake, CONSUMER, on_intake_event)
