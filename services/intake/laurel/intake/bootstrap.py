"""Wiring: the one place that knows which adapter serves intake's ports.

Every adapter is an argument a test may override: the store (a PostgreSQL
one, or one with a fixed clock), the wall clock campaigns fall back to, the
campaign catalog. Intake consumes no other service's events, so it has no
Kafka subscribers; its events leave through the outbox relay.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from laurel.campaigns import load_catalog
from laurel.envelope import SYSTEM_ACTOR, Caller, utcnow
from laurel.eventstore import EventStore
from laurel.intake.adapters.grpc_servicer import IntakeServicer
from laurel.intake.domain.campaigns import CampaignCatalog
from laurel.intake.domain.commands import RecordCampaignDefinitions
from laurel.intake.domain.events import UPCASTERS
from laurel.intake.handlers import Dependencies, Intake
from laurel.intake.read_models import IntakeProjection
from laurel.intake.settings import IntakeSettings
from laurel.intake.v1 import intake_pb2, intake_pb2_grpc
from laurel.runtime import ServiceRuntime, assemble, open_store

SERVICE_NAME = intake_pb2.DESCRIPTOR.services_by_name["IntakeService"].full_name
# Who records the campaign definitions at start.
STARTUP = Caller(SYSTEM_ACTOR, correlation_id="campaign-definitions")


def projections() -> list[IntakeProjection]:
    """The read models intake keeps (auditors replay them: `laurel.projections`)."""
    return [IntakeProjection()]


def open_intake_store(url: str, *, clock: Callable[[], datetime] = utcnow) -> EventStore:
    """An event store with intake's read models and upcasters, its schema migrated."""
    store = EventStore(url, projections=projections(), upcasters=UPCASTERS, clock=clock)
    store.create_schema()
    return store


async def build(
    settings: IntakeSettings,
    *,
    store: EventStore | None = None,
    clock: Callable[[], datetime] = utcnow,
    catalog: CampaignCatalog | None = None,
    with_relay: bool = True,
) -> ServiceRuntime:
    """Intake, ready to start: campaign definitions recorded, gRPC wired.

    `store` (default: the settings' database) must hold intake's read models
    and upcasters (`open_intake_store`)."""
    store = store or open_store(settings, projections(), UPCASTERS)
    intake = Intake(store, Dependencies(
        catalog=catalog or CampaignCatalog(load_catalog(settings.campaigns_dir)),
        topic=settings.topics.intake,
        development=settings.development,
        clock=clock,
    ))
    intake.handle(RecordCampaignDefinitions(STARTUP))
    servicer = IntakeServicer(intake)
    return assemble(
        settings, store,
        lambda server: intake_pb2_grpc.add_IntakeServiceServicer_to_server(
            servicer, server),
        [SERVICE_NAME],
        with_relay=with_relay,
        app=intake,
    )
