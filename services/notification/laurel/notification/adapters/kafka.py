"""Which topics notification listens to: intake's, scoring's and review's,
in one consumer group, each event handed to `Reactions.on_event`."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from laurel.config import KafkaSettings, Topics
from laurel.envelope import RecordedEvent
from laurel.messaging import events, subscribe
from laurel.notification.reactions import CONSUMER, Reactions


def topics_read(topics: Topics) -> list[str]:
    return [topics.intake, topics.scoring, topics.review]


def subscribe_reactions(broker: KafkaBroker, kafka: KafkaSettings, topics: Topics,
                        reactions: Reactions) -> None:
    def on_event(event: RecordedEvent) -> None:
        reactions.on_event(event)

    subscribe(broker, kafka, CONSUMER, dict.fromkeys(topics_read(topics), events(on_event)))
