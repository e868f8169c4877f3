"""IntakeService over gRPC: translate messages to commands and state back."""

from __future__ import annotations

import asyncio
import uuid

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.envelope import parse_time
from laurel.errors import FieldViolation, InvalidArgument
from laurel.intake import domain
from laurel.intake.application import IntakeApplication
from laurel.intake.v1 import intake_pb2, intake_pb2_grpc


class IntakeServicer(intake_pb2_grpc.IntakeServiceServicer):
    def __init__(self, app: IntakeApplication) -> None:
        self.app = app

    async def SubmitNomination(
        self, request: intake_pb2.SubmitNominationRequest, context: grpc.aio.ServicerContext
    ) -> intake_pb2.SubmitNominationResponse:
        command = domain.SubmitNomination(
            nomination_id=_nomination_id(request.nomination_id, allow_new=True),
            campaign_id=request.campaign_id,
            category=request.category,
            nominee=domain.Nominee(
                request.nominee.kind, request.nominee.name, request.nominee.organization_id
            ),
            fields=dict(request.fields),
        )
        version = await asyncio.to_thread(self.app.submit_nomination, command)
        return intake_pb2.SubmitNominationResponse(
            nomination_id=command.nomination_id, version=version
        )

    async def GetNomination(
        self, request: intake_pb2.GetNominationRequest, context: grpc.aio.ServicerContext
    ) -> intake_pb2.Nomination:
        nomination_id = _nomination_id(request.nomination_id, allow_new=False)
        nomination = await asyncio.to_thread(self.app.get_nomination, nomination_id)
        return to_message(nomination)


def _nomination_id(raw: str, *, allow_new: bool) -> str:
    if not raw and allow_new:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidArgument(
            "nomination_id must be a UUID",
            [FieldViolation("nomination_id", f"{raw!r} is not a UUID")],
        ) from None


def to_message(nomination: domain.Nomination) -> intake_pb2.Nomination:
    submitted_at = Timestamp()
    if nomination.submitted_at:
        submitted_at.FromDatetime(parse_time(nomination.submitted_at))
    return intake_pb2.Nomination(
        nomination_id=nomination.nomination_id,
        campaign_id=nomination.campaign_id,
        category=nomination.category,
        nominee=intake_pb2.Nominee(
            kind=nomination.nominee.kind,
            name=nomination.nominee.name,
            organization_id=nomination.nominee.organization_id,
        ),
        fields=nomination.fields,
        status=nomination.status,
        version=nomination.version,
        submitted_at=submitted_at,
        submitted_by=nomination.submitted_by,
    )
