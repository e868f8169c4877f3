"""Which topics review reads: intake's and scoring's, in one consumer group
(a group join costs seconds on Tansu), each to its reaction."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from laurel.catchup import Inbox, Upstream
from laurel.config import ServiceSettings, Topics
from laurel.messaging import events, subscribe
from laurel.parking import Parking
from laurel.review.reactions import CONSUMER, Reactions


def upstreams(topics: Topics, reactions: Reactions) -> list[Upstream]:
    """The stores review consumes, each with its reaction (Kafka's path and
    the catch-up from their logs reach the same one)."""
    return [Upstream("intake", topics.intake, reactions.on_intake_event),
            Upstream("scoring", topics.scoring, reactions.on_scoring_event)]


def register_subscribers(broker: KafkaBroker, settings: ServiceSettings,
                         inbox: Inbox) -> None:
    subscribe(broker, settings.kafka, CONSUMER, {
        u.topic: events(inbox.handler(u.name), upstream=u.name)
        for u in inbox.upstreams.values()},
        parking=Parking.for_inbox(inbox))
