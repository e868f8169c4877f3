"""Which topics notification listens to: intake's, scoring's and review's,
in one consumer group, each event handed to `Reactions.on_event`."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from laurel.catchup import Inbox, Upstream
from laurel.config import KafkaSettings, Topics
from laurel.messaging import events, subscribe
from laurel.notification.reactions import CONSUMER, Reactions
from laurel.parking import Parking

UPSTREAMS = ("intake", "scoring", "review")


def topics_read(topics: Topics) -> list[str]:
    return [topics.intake, topics.scoring, topics.review]


def upstreams(topics: Topics, reactions: Reactions) -> list[Upstream]:
    """The stores notification consumes, all to the one reaction (Kafka's
    path and the catch-up from their logs reach the same one)."""
    return [Upstream("intake", topics.intake, reactions.on_event),
            Upstream("scoring", topics.scoring, reactions.on_event),
            Upstream("review", topics.review, reactions.on_event)]


def subscribe_reactions(broker: KafkaBroker, kafka: KafkaSettings, inbox: Inbox) -> None:
    subscribe(broker, kafka, CONSUMER, {
        u.topic: events(inbox.handler(u.name), upstream=u.name)
        for u in inbox.upstreams.values()},
        parking=Parking.for_inbox(inbox))
