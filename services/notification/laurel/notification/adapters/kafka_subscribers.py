"""Which topics notification listens to, and how each event reaches a use case.

One subscriber reads intake's, scoring's and review's topics in one consumer
group: a group join costs seconds on Tansu and the subscribers of a broker
join one after another, so one group per topic would triple the start-up
time. Events are dispatched by type name inside the use case, and applied
once each by their event id (the inbox mark).
"""

from __future__ import annotations

import asyncio
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from laurel.config import Settings
from laurel.envelope import RecordedEvent
from laurel.notification.application import CONSUMER, NotificationApplication


def topics_read(settings: Settings) -> list[str]:
    return [settings.topics.intake, settings.topics.scoring, settings.topics.review]


def register_subscribers(
    broker: KafkaBroker, settings: Settings, app: NotificationApplication
) -> None:
    async def on_event(body: dict[str, Any]) -> None:
        await asyncio.to_thread(app.on_event, RecordedEvent.from_dict(body))

    on_event.__name__ = f"{CONSUMER}_on_event"
    broker.subscriber(
        *topics_read(settings),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        **settings.kafka.consumer_options(CONSUMER),
    )(on_event)
