"""Wiring for the scoring service (a skeleton until its issue lands)."""

from __future__ import annotations

import grpc

from laurel.config import Settings
from laurel.runtime import ServiceRuntime, assemble, open_store
from laurel.scoring.v1 import scoring_pb2, scoring_pb2_grpc

SERVICE_NAME = scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    async def Ping(
        self, request: scoring_pb2.PingRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.PingResponse:
        return scoring_pb2.PingResponse(service="scoring")


async def build_scoring(settings: Settings) -> ServiceRuntime:
    store = open_store(settings)
    return assemble(
        settings, store,
        lambda server: scoring_pb2_grpc.add_ScoringServiceServicer_to_server(ScoringServicer(), server),
        [SERVICE_NAME],
    )
