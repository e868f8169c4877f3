"""Which topics scoring reads, and which reaction each one's messages reach.

One subscriber in one consumer group (`laurel.messaging.subscribe`) reads
intake's and review's event topics and the compliance feed. The feed carries
other systems' reports, not Laurel events: its handler takes the raw body.
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from laurel.catchup import Inbox, Upstream
from laurel.config import Topics
from laurel.messaging import events, subscribe
from laurel.parking import Parking
from laurel.scoring.reactions import CONSUMER, ScoringReactions
from laurel.scoring.settings import ScoringSettings


def upstreams(topics: Topics, reactions: ScoringReactions) -> list[Upstream]:
    """The stores scoring consumes, each with its reaction (Kafka's path and
    the catch-up from their logs reach the same one)."""
    return [Upstream("intake", topics.intake, reactions.on_intake_event),
            Upstream("review", topics.review, reactions.on_review_event)]


def register_subscribers(broker: KafkaBroker, settings: ScoringSettings,
                         reactions: ScoringReactions, inbox: Inbox) -> None:
    subscribe(broker, settings.kafka, CONSUMER, {
        **{u.topic: events(inbox.handler(u.name), upstream=u.name)
           for u in inbox.upstreams.values()},
        settings.topic_compliance: reactions.on_compliance_report,
    }, parking=parking_for(inbox))


def parking_for(inbox: Inbox) -> Parking:
    """Where scoring parks what it cannot apply (laurel.parking)."""
    return Parking.for_inbox(inbox)
