"""IntakeService over gRPC: translate messages to use-case calls and state back.

Only translation lives here; every decision is in the application and domain.
Blocking store work runs in a thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.envelope import canonical_json, parse_time
from laurel.errors import FieldViolation, InvalidArgument
from laurel.intake import domain, organizations
from laurel.intake.application import IntakeApplication
from laurel.intake.evidence import EvidenceStore, describe
from laurel.intake.v1 import intake_pb2 as pb
from laurel.intake.v1 import intake_pb2_grpc
from laurel.text import clean, clean_all

T = TypeVar("T")
R = TypeVar("R")
Context = grpc.aio.ServicerContext


async def run(call: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(call, *args)


class IntakeServicer(intake_pb2_grpc.IntakeServiceServicer):
    def __init__(self, app: IntakeApplication, evidence: EvidenceStore) -> None:
        self.app = app
        self.evidence = evidence

    # -- organizations ---------------------------------------------------------

    async def _acked(self, response: Callable[..., R], call: Callable[..., int], raw_id: str,
                     *args: Any) -> R:
        """A command on one nomination: its id checked, the new version acked."""
        nomination_id = _uuid(raw_id)
        return response(id=nomination_id, version=await run(call, nomination_id, *args))

    async def RegisterOrganization(
        self, request: pb.RegisterOrganizationRequest, context: Context
    ) -> pb.RegisterOrganizationResponse:
        org = organizations.Organization(
            request.organization_id, request.kind, clean("name", request.name),
            request.parent_id,
            request.jurisdiction_id, request.provincial_level)
        version = await run(self.app.register_organization, org)
        return pb.RegisterOrganizationResponse(id=request.organization_id, version=version)

    async def GetOrganization(
        self, request: pb.GetOrganizationRequest, context: Context
    ) -> pb.GetOrganizationResponse:
        org = await run(self.app.organization, request.organization_id)
        return pb.GetOrganizationResponse(
            organization_id=org.organization_id, kind=org.kind, name=org.name,
            parent_id=org.parent_id, jurisdiction_id=org.jurisdiction_id,
            provincial_level=org.provincial_level)

    # -- lifecycle ---------------------------------------------------------------

    async def DraftNomination(
        self, request: pb.DraftNominationRequest, context: Context
    ) -> pb.DraftNominationResponse:
        draft = _draft(request)
        version = await run(self.app.draft_nomination, draft)
        return pb.DraftNominationResponse(id=draft.nomination_id, version=version)

    async def SaveDraft(
        self, request: pb.SaveDraftRequest, context: Context
    ) -> pb.SaveDraftResponse:
        return await self._acked(pb.SaveDraftResponse, self.app.save_draft, request.nomination_id,
                                 clean_all("fields", request.fields))

    async def SubmitNomination(
        self, request: pb.SubmitNominationRequest, context: Context
    ) -> pb.SubmitNominationResponse:
        draft = _draft(request)
        version = await run(self.app.submit_nomination, draft)
        return pb.SubmitNominationResponse(nomination_id=draft.nomination_id,
                                           version=version)

    async def SubmitDraft(
        self, request: pb.SubmitDraftRequest, context: Context
    ) -> pb.SubmitDraftResponse:
        nomination_id = _uuid(request.nomination_id)
        version = await run(self.app.submit_nomination, None, nomination_id)
        return pb.SubmitDraftResponse(id=nomination_id, version=version)

    async def ReturnNomination(
        self, request: pb.ReturnNominationRequest, context: Context
    ) -> pb.ReturnNominationResponse:
        return await self._acked(pb.ReturnNominationResponse, self.app.return_nomination,
                                 request.nomination_id,
                                 clean_all("reasons", request.reasons))

    async def RejectNomination(
        self, request: pb.RejectNominationRequest, context: Context
    ) -> pb.RejectNominationResponse:
        return await self._acked(pb.RejectNominationResponse, self.app.reject_nomination,
                                 request.nomination_id,
                                 clean_all("reasons", request.reasons))

    async def ResubmitNomination(
        self, request: pb.ResubmitNominationRequest, context: Context
    ) -> pb.ResubmitNominationResponse:
        return await self._acked(pb.ResubmitNominationResponse, self.app.resubmit_nomination,
                                 request.nomination_id,
                                 clean_all("fields", request.fields))

    async def EndorseNomination(
        self, request: pb.EndorseNominationRequest, context: Context
    ) -> pb.EndorseNominationResponse:
        return await self._acked(pb.EndorseNominationResponse, self.app.endorse_nomination,
                                 request.nomination_id,
                                 clean("opinion", request.opinion))

    async def ForwardNomination(
        self, request: pb.ForwardNominationRequest, context: Context
    ) -> pb.ForwardNominationResponse:
        return await self._acked(pb.ForwardNominationResponse, self.app.forward_nomination,
                                 request.nomination_id)

    async def ReceiveNomination(
        self, request: pb.ReceiveNominationRequest, context: Context
    ) -> pb.ReceiveNominationResponse:
        return await self._acked(pb.ReceiveNominationResponse, self.app.receive_nomination,
                                 request.nomination_id)

    async def AmendNomination(
        self, request: pb.AmendNominationRequest, context: Context
    ) -> pb.AmendNominationResponse:
        return await self._acked(pb.AmendNominationResponse, self.app.amend_nomination,
                                 request.nomination_id,
                                 clean_all("fields", request.fields),
                                 clean("reason", request.reason))

    async def WithdrawNomination(
        self, request: pb.WithdrawNominationRequest, context: Context
    ) -> pb.WithdrawNominationResponse:
        return await self._acked(pb.WithdrawNominationResponse, self.app.withdraw_nomination,
                                 request.nomination_id,
                                 clean("reason", request.reason))

    async def AttachEvidence(
        self, request: pb.AttachEvidenceRequest, context: Context
    ) -> pb.AttachEvidenceResponse:
        nomination_id = _uuid(request.nomination_id)
        attachment = describe(request.content, request.filename, request.media_type,
                              request.kind)
        version = await run(self.app.attach_evidence, nomination_id, attachment,
                            lambda conn: self.evidence.keep(conn, request.content))
        return pb.AttachEvidenceResponse(sha256=attachment.sha256, version=version)

    async def GetEvidence(
        self, request: pb.GetEvidenceRequest, context: Context
    ) -> pb.GetEvidenceResponse:
        nomination_id = _uuid(request.nomination_id)
        attachment = await run(self.app.evidence_of, nomination_id, request.sha256)
        content = await run(self.evidence.get, attachment.sha256)
        return pb.GetEvidenceResponse(attachment=_attachment(attachment), content=content)

    # -- queries -----------------------------------------------------------------

    async def GetNomination(
        self, request: pb.GetNominationRequest, context: Context
    ) -> pb.GetNominationResponse:
        nomination_id = _uuid(request.nomination_id)
        as_of = request.as_of.ToDatetime(tzinfo=UTC) if request.HasField("as_of") else None
        nomination = await run(self.app.get_nomination, nomination_id, as_of)
        return to_message(nomination)

    async def GetNominationHistory(
        self, request: pb.GetNominationHistoryRequest, context: Context
    ) -> pb.GetNominationHistoryResponse:
        nomination_id = _uuid(request.nomination_id)
        events = await run(self.app.history, nomination_id)
        return pb.GetNominationHistoryResponse(nomination_id=nomination_id,
                                    entries=[_history_entry(e) for e in events])

    async def ListNominations(
        self, request: pb.ListNominationsRequest, context: Context
    ) -> pb.ListNominationsResponse:
        rows, token = await run(lambda: self.app.list_nominations(
            campaign_id=request.campaign_id, category=request.category,
            jurisdiction_id=request.jurisdiction_id, status=request.status,
            page_size=request.page_size, after=request.page_token))
        return pb.ListNominationsResponse(nominations=[_summary(r) for r in rows],
                                          next_page_token=token)

    async def SetCampaignClock(
        self, request: pb.SetCampaignClockRequest, context: Context
    ) -> pb.SetCampaignClockResponse:
        if not request.HasField("now"):
            raise InvalidArgument("say what time it is",
                                  [FieldViolation("now", "required")])
        await run(self.app.set_campaign_clock, request.campaign_id,
                  request.now.ToDatetime(tzinfo=UTC))
        return pb.SetCampaignClockResponse(id=request.campaign_id)



def _draft(
    request: pb.DraftNominationRequest | pb.SubmitNominationRequest,
) -> domain.NominationDraft:
    return domain.NominationDraft(
        nomination_id=_uuid(request.nomination_id, allow_new=True),
        campaign_id=request.campaign_id,
        category=request.category,
        nominee=domain.Nominee(request.nominee.kind,
                               clean("nominee.name", request.nominee.name),
                               request.nominee.organization_id),
        fields=clean_all("fields", request.fields),
    )


def _uuid(raw: str, *, allow_new: bool = False) -> str:
    if not raw and allow_new:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidArgument(
            "nomination_id must be a UUID",
            [FieldViolation("nomination_id", f"{raw!r} is not a UUID")],
        ) from None


def _timestamp(text: str) -> Timestamp:
    stamp = Timestamp()
    if text:
        stamp.FromDatetime(parse_time(text))
    return stamp


def to_message(n: domain.Nomination) -> pb.GetNominationResponse:
    return pb.GetNominationResponse(
        nomination_id=n.nomination_id, campaign_id=n.campaign_id, category=n.category,
        nominee=pb.Nominee(kind=n.nominee.kind, name=n.nominee.name,
                           organization_id=n.nominee.organization_id),
        fields=n.fields, status=n.status, version=n.version,
        submitted_at=_timestamp(n.submitted_at), submitted_by=n.submitted_by,
        hospital_id=n.hospital_id, jurisdiction_id=n.jurisdiction_id,
        route_to=n.route.to, route_organization_id=n.route.organization_id,
        eligible=n.eligible, ineligible_reason=n.ineligible_reason,
        return_reasons=list(n.return_reasons),
        attachments=[_attachment(a) for a in n.attachments],
    )


def _attachment(a: domain.Attachment) -> pb.Attachment:
    return pb.Attachment(sha256=a.sha256, filename=a.filename, media_type=a.media_type,
                         size=a.size, kind=a.kind)


def _history_entry(event: Any) -> pb.HistoryEntry:
    payload = dict(event.payload)
    changes = payload.pop("changes", None)
    if changes is None and event.type in (domain.NOMINATION_DRAFTED,
                                          domain.NOMINATION_SUBMITTED):
        changes = {k: {"before": None, "after": v}
                   for k, v in sorted(payload.pop("fields", {}).items())}
    actor = event.metadata["actor"]
    return pb.HistoryEntry(
        version=event.version, event_type=event.type, event_id=event.event_id,
        recorded_at=_timestamp(event.recorded_at), actor_id=actor["id"],
        actor_role=actor["role"], actor_organization_id=actor.get("organization_id", ""),
        changes=[pb.FieldChange(field=k, before=c["before"] or "",
                                after=c["after"] or "",
                                had_before=c["before"] is not None,
                                has_after=c["after"] is not None)
                 for k, c in (changes or {}).items()],
        details_json=canonical_json({k: v for k, v in payload.items()
                                     if k not in ("nomination_id", "fields")}),
    )


def _summary(row: dict[str, Any]) -> pb.NominationSummary:
    return pb.NominationSummary(
        nomination_id=row["nomination_id"], campaign_id=row["campaign_id"],
        category=row["category"], nominee_name=row["nominee_name"],
        hospital_id=row["hospital_id"], jurisdiction_id=row["jurisdiction_id"],
        status=row["status"], eligible=row["eligible"], version=row["version"])
