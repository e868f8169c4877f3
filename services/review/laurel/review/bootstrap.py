"""Wiring for the review service (a skeleton until its issue lands)."""

from __future__ import annotations

import grpc

from laurel.config import Settings
from laurel.runtime import ServiceRuntime, assemble, open_store
from laurel.review.v1 import review_pb2, review_pb2_grpc

SERVICE_NAME = review_pb2.DESCRIPTOR.services_by_name["ReviewService"].full_name


class ReviewServicer(review_pb2_grpc.ReviewServiceServicer):
    async def Ping(
        self, request: review_pb2.PingRequest, context: grpc.aio.ServicerContext
    ) -> review_pb2.PingResponse:
        return review_pb2.PingResponse(service="review")


async def build_review(settings: Settings) -> ServiceRuntime:
    store = open_store(settings)
    return assemble(
        settings, store,
        lambda server: review_pb2_grpc.add_ReviewServiceServicer_to_server(ReviewServicer(), server),
        [SERVICE_NAME],
    )
