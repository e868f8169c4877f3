"""Which topics review reads: intake's and scoring's, in one consumer group
(a group join costs seconds on Tansu), told apart by topic."""

from __future__ import annotations

import asyncio
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from laurel.config import Settings
from laurel.envelope import RecordedEvent
from laurel.review.inbox import CONSUMER, ReviewInbox


def register_subscribers(broker: KafkaBroker, settings: Settings,
                         inbox: ReviewInbox) -> None:
    topics = settings.topics

    async def on_message(body: dict[str, Any], message: KafkaMessage) -> None:
        event = RecordedEvent.from_dict(body)
        if message.raw_message.topic == topics.intake:
            await asyncio.to_thread(inbox.on_intake_event, event)
        else:
            await asyncio.to_thread(inbox.on_scoring_event, event)

    on_message.__name__ = f"{CONSUMER}_on_message"
    broker.subscriber(
        topics.intake, topics.scoring, ack_policy=AckPolicy.NACK_ON_ERROR,
        **settings.kafka.consumer_options(CONSUMER),
    )(on_message)
