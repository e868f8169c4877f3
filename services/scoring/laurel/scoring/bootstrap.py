"""Wiring: the one place that knows which adapter serves scoring's ports.

Every adapter is an argument a test can override (a store of its own, a
clock, no Kafka); nothing else builds scoring's parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import grpc
from faststream.kafka import KafkaBroker

from laurel.campaigns import load_catalog
from laurel.campaigns.in_force import DefinitionsInForce
from laurel.catchup import open_inbox
from laurel.envelope import utcnow
from laurel.eventstore import EventStore
from laurel.messaging import kafka_broker
from laurel.runtime import ServiceRuntime, assemble, open_store
from laurel.scoring.adapters.grpc_servicer import ScoringServicer
from laurel.scoring.adapters.kafka import register_subscribers, upstreams
from laurel.scoring.domain.events import campaign_stream
from laurel.scoring.handlers import Context
from laurel.scoring.reactions import CONSUMER, ScoringReactions
from laurel.scoring.read_models import ScoringProjection
from laurel.scoring.settings import ScoringSettings
from laurel.scoring.v1 import scoring_pb2, scoring_pb2_grpc

SERVICE_NAME = scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name
# The generated registration carries no annotations; this is its type.
ADD_SERVICER: Callable[[ScoringServicer, grpc.aio.Server], None] = (
    scoring_pb2_grpc.add_ScoringServiceServicer_to_server)


def projections() -> list[ScoringProjection]:
    """Every projection scoring keeps: the audit replay rebuilds exactly these."""
    return [ScoringProjection()]


@dataclass(frozen=True)
class Scoring:
    """Scoring's parts, for tests and tools (`ServiceRuntime.app`)."""

    store: EventStore
    context: Context
    reactions: ScoringReactions


def wire(settings: ScoringSettings, *, store: EventStore | None = None,
         clock: Callable[[], datetime] = utcnow) -> Scoring:
    """The store, the definitions in force and the reactions, without any
    server or broker: what the service's fast tests run."""
    store = store or open_store(settings, projections())
    context = Context(
        DefinitionsInForce(load_catalog(settings.campaigns_dir), campaign_stream),
        settings.topics, clock)
    return Scoring(store, context, ScoringReactions(store, context))


async def build(
    settings: ScoringSettings, *, store: EventStore | None = None,
    broker: KafkaBroker | None = None, clock: Callable[[], datetime] = utcnow,
    with_kafka: bool = True, with_relay: bool = True,
) -> ServiceRuntime:
    """The scoring runtime. Without Kafka (tests handing events to the
    reactions) no consumer joins a group and the relay publishes nothing."""
    scoring = wire(settings, store=store, clock=clock)
    inbox = None
    if with_kafka:
        inbox = open_inbox(settings, scoring.store, CONSUMER,
                           upstreams(settings.topics, scoring.reactions))
        broker = broker or kafka_broker(settings.kafka, "scoring")
        register_subscribers(broker, settings, scoring.reactions, inbox)
    else:
        broker = None
    servicer = ScoringServicer(scoring.store, scoring.context)
    return assemble(
        settings, scoring.store,
        lambda server: ADD_SERVICER(servicer, server),
        [SERVICE_NAME],
        broker=broker,
        with_relay=with_relay and with_kafka,
        app=scoring,
        inbox=inbox,
    )
