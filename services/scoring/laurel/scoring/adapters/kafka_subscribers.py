"""Which topics scoring reads, and how each message reaches the inbox.

One subscriber in one consumer group reads intake's and review's topics and
the compliance feed: a group join costs seconds on Tansu and a broker's
subscribers join one after another. Messages are told apart by their topic.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from laurel.config import Settings
from laurel.envelope import RecordedEvent
from laurel.scoring.inbox import CONSUMER, ScoringInbox


def register_subscribers(
    broker: KafkaBroker, settings: Settings, inbox: ScoringInbox,
    compliance_topic: str,
) -> None:
    topics = settings.topics

    async def on_message(body: dict[str, Any], message: KafkaMessage) -> None:
        topic = message.raw_message.topic
        if topic == compliance_topic:
            await asyncio.to_thread(inbox.on_compliance_report, body)
        elif topic == topics.intake:
            event = RecordedEvent.from_dict(body)
            await asyncio.to_thread(inbox.on_intake_event, event)
        elif topic == topics.review:
            event = RecordedEvent.from_dict(body)
            await asyncio.to_thread(inbox.on_review_event, event)

    on_message.__name__ = f"{CONSUMER}_on_message"
    broker.subscriber(
        topics.intake, topics.review, compliance_topic,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        **settings.kafka.consumer_options(CONSUMER),
    )(on_message)
