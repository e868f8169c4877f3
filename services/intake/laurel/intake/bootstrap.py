"""Wiring: the one place that knows which adapter serves intake's ports."""

from __future__ import annotations

from laurel.config import Settings
from laurel.intake.adapters.grpc_servicer import IntakeServicer
from laurel.intake.application import IntakeApplication
from laurel.intake.campaign_rules import load_campaign_catalog
from laurel.intake.evidence import EvidenceStore
from laurel.intake.projection import IntakeProjection
from laurel.intake.upcasters import INTAKE_UPCASTERS
from laurel.intake.v1 import intake_pb2, intake_pb2_grpc
from laurel.runtime import ServiceRuntime, assemble, open_store

SERVICE_NAME = intake_pb2.DESCRIPTOR.services_by_name["IntakeService"].full_name


def projections() -> list[IntakeProjection]:
    return [IntakeProjection()]


async def build_intake(settings: Settings, *, with_relay: bool = True) -> ServiceRuntime:
    [projection] = projections()
    store = open_store(settings, [projection], INTAKE_UPCASTERS)
    app = IntakeApplication(
        store, projection, load_campaign_catalog(settings.campaigns_dir), settings.topics,
        development=settings.development,
    )
    app.record_campaign_definitions()
    servicer = IntakeServicer(app, EvidenceStore(store.engine))
    return assemble(
        settings, store,
        lambda server: intake_pb2_grpc.add_IntakeServiceServicer_to_server(servicer, server),
        [SERVICE_NAME],
        with_relay=with_relay,
        app=app,
    )
