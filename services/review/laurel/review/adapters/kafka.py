"""Which topics review reads: intake's and scoring's, in one consumer group
(a group join costs seconds on Tansu), each to its reaction."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from laurel.config import ServiceSettings
from laurel.messaging import events, subscribe
from laurel.review.reactions import CONSUMER, Reactions


def register_subscribers(broker: KafkaBroker, settings: ServiceSettings,
                         reactions: Reactions) -> None:
    topics = settings.topics
    subscribe(broker, settings.kafka, CONSUMER, {
        topics.intake: events(reactions.on_intake_event),
        topics.scoring: events(reactions.on_scoring_event),
    })
