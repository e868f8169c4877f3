"""Which topics scoring reads, and which reaction each one's messages reach.

One subscriber in one consumer group (`laurel.messaging.subscribe`) reads
intake's and review's event topics and the compliance feed. The feed carries
other systems' reports, not Laurel events: its handler takes the raw body.
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from laurel.messaging import events, subscribe
from laurel.scoring.reactions import CONSUMER, ScoringReactions
from laurel.scoring.settings import ScoringSettings


def register_subscribers(broker: KafkaBroker, settings: ScoringSettings,
                         reactions: ScoringReactions) -> None:
    topics = settings.topics
    subscribe(broker, settings.kafka, CONSUMER, {
        topics.intake: events(reactions.on_intake_event),
        topics.review: events(reactions.on_review_event),
        settings.topic_compliance: reactions.on_compliance_report,
    })
