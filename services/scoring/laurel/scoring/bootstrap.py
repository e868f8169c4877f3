"""Wiring: the one place that knows which adapter serves scoring's ports.

The compliance feed's topic is scoring's own setting, read from the
environment like notification's (`LAUREL_TOPIC_COMPLIANCE`), until the shared
`Topics` names it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from laurel.campaigns import load_catalog
from laurel.config import Settings
from laurel.messaging import kafka_broker
from laurel.runtime import ServiceRuntime, assemble, open_store
from laurel.scoring.adapters.grpc_servicer import ScoringServicer
from laurel.scoring.adapters.kafka_subscribers import register_subscribers
from laurel.scoring.application import ScoringApplication
from laurel.scoring.engine import ScoringEngine
from laurel.scoring.inbox import ScoringInbox
from laurel.scoring.projection import ScoringProjection
from laurel.scoring.v1 import scoring_pb2, scoring_pb2_grpc

SERVICE_NAME = scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name
DEFAULT_COMPLIANCE_TOPIC = "laurel.compliance.reports"


def compliance_topic(settings: Settings, env: Mapping[str, str] | None = None) -> str:
    shared = getattr(settings.topics, "compliance", "")
    env = os.environ if env is None else env
    return shared or env.get("LAUREL_TOPIC_COMPLIANCE", DEFAULT_COMPLIANCE_TOPIC)


def projections() -> list[ScoringProjection]:
    """Every projection scoring keeps: the audit replay rebuilds exactly these."""
    return [ScoringProjection()]


async def build_scoring(
    settings: Settings, env: Mapping[str, str] | None = None, *,
    with_relay: bool = True, with_kafka: bool = True,
) -> ServiceRuntime:
    """The scoring runtime; without Kafka (tests feeding the inbox directly)
    no consumer joins a group and nothing is published."""
    [projection] = projections()
    store = open_store(settings, [projection])
    engine = ScoringEngine(store, projection, load_catalog(settings.campaigns_dir),
                           settings.topics)
    app = ScoringApplication(engine)
    broker = None
    if with_kafka:
        broker = kafka_broker(settings.kafka, "scoring")
        register_subscribers(broker, settings, ScoringInbox(engine),
                             compliance_topic(settings, env))
    servicer = ScoringServicer(app)
    return assemble(
        settings, store,
        lambda server: scoring_pb2_grpc.add_ScoringServiceServicer_to_server(
            servicer, server),
        [SERVICE_NAME],
        broker=broker,
        with_relay=with_relay and with_kafka,
        app=app,
    )
