"""IntakeService over gRPC: protobuf messages to commands, results back.

Only translation lives here: the caller is read once per call from the
verified request and put on the command, and every decision is the
handlers' and the domain's. A handler blocks on its database, so it runs in
a thread (`Intake.handle`, one unit of work) while the event loop keeps
serving.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.auth import current_request
from laurel.campaigns import CampaignDefinition, Category
from laurel.envelope import RecordedEvent, canonical_json, format_time, parse_time
from laurel.errors import FieldViolation, InvalidArgument
from laurel.grpcutil import in_handler_thread
from laurel.intake.domain import commands as c
from laurel.intake.domain import events
from laurel.intake.domain.evidence import Attachment, sha256_of
from laurel.intake.domain.nomination import Nomination
from laurel.intake.domain.organizations import Organization
from laurel.intake.handlers import CampaignView, Intake
from laurel.intake.v1 import intake_pb2 as pb
from laurel.intake.v1 import intake_pb2_grpc
from laurel.text import clean, clean_all

R = TypeVar("R")
Context: TypeAlias = grpc.aio.ServicerContext


class IntakeServicer(intake_pb2_grpc.IntakeServiceServicer):
    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    async def _handle(self, message: Any) -> Any:
        return await in_handler_thread(self.intake.handle, message)

    async def _acked(self, response: Callable[..., R], command: Callable[..., Any],
                     request: Any, *args: Any) -> R:
        """A command on one nomination: its id checked, the version the caller
        saw passed on (None when not given), the new version acked."""
        nomination_id = _uuid(request.nomination_id)
        version = await self._handle(command(current_request(), nomination_id, *args,
                                             expected_version=_expected(request)))
        return response(id=nomination_id, version=version)

    # -- organizations ---------------------------------------------------------

    async def RegisterOrganization(
        self, request: pb.RegisterOrganizationRequest, context: Context
    ) -> pb.RegisterOrganizationResponse:
        org = Organization(
            request.organization_id, request.kind, clean("name", request.name),
            request.parent_id, request.jurisdiction_id, request.provincial_level)
        version = await self._handle(c.RegisterOrganization(current_request(), org))
        return pb.RegisterOrganizationResponse(id=request.organization_id, version=version)

    async def GetOrganization(
        self, request: pb.GetOrganizationRequest, context: Context
    ) -> pb.GetOrganizationResponse:
        org = await self._handle(c.GetOrganization(current_request(), request.organization_id))
        return pb.GetOrganizationResponse(
            organization_id=org.organization_id, kind=org.kind, name=org.name,
            parent_id=org.parent_id, jurisdiction_id=org.jurisdiction_id,
            provincial_level=org.provincial_level)

    # -- lifecycle ---------------------------------------------------------------

    async def DraftNomination(
        self, request: pb.DraftNominationRequest, context: Context
    ) -> pb.DraftNominationResponse:
        form = _form(request)
        version = await self._handle(c.DraftNomination(current_request(), form))
        return pb.DraftNominationResponse(id=form.nomination_id, version=version)

    async def SaveDraft(
        self, request: pb.SaveDraftRequest, context: Context
    ) -> pb.SaveDraftResponse:
        return await self._acked(pb.SaveDraftResponse, c.SaveDraft, request,
                                 clean_all("fields", request.fields))

    async def SubmitNomination(
        self, request: pb.SubmitNominationRequest, context: Context
    ) -> pb.SubmitNominationResponse:
        form = _form(request)
        version = await self._handle(c.SubmitNomination(current_request(), form))
        return pb.SubmitNominationResponse(nomination_id=form.nomination_id,
                                           version=version)

    async def SubmitDraft(
        self, request: pb.SubmitDraftRequest, context: Context
    ) -> pb.SubmitDraftResponse:
        return await self._acked(pb.SubmitDraftResponse, c.SubmitDraft,
                                 request)

    async def ReturnNomination(
        self, request: pb.ReturnNominationRequest, context: Context
    ) -> pb.ReturnNominationResponse:
        return await self._acked(pb.ReturnNominationResponse, c.ReturnNomination,
                                 request,
                                 tuple(clean_all("reasons", request.reasons)))

    async def RejectNomination(
        self, request: pb.RejectNominationRequest, context: Context
    ) -> pb.RejectNominationResponse:
        return await self._acked(pb.RejectNominationResponse, c.RejectNomination,
                                 request,
                                 tuple(clean_all("reasons", request.reasons)))

    async def ResubmitNomination(
        self, request: pb.ResubmitNominationRequest, context: Context
    ) -> pb.ResubmitNominationResponse:
        return await self._acked(pb.ResubmitNominationResponse, c.ResubmitNomination,
                                 request,
                                 clean_all("fields", request.fields))

    async def EndorseNomination(
        self, request: pb.EndorseNominationRequest, context: Context
    ) -> pb.EndorseNominationResponse:
        return await self._acked(pb.EndorseNominationResponse, c.EndorseNomination,
                                 request,
                                 clean("opinion", request.opinion))

    async def ForwardNomination(
        self, request: pb.ForwardNominationRequest, context: Context
    ) -> pb.ForwardNominationResponse:
        return await self._acked(pb.ForwardNominationResponse, c.ForwardNomination,
                                 request)

    async def ReceiveNomination(
        self, request: pb.ReceiveNominationRequest, context: Context
    ) -> pb.ReceiveNominationResponse:
        return await self._acked(pb.ReceiveNominationResponse, c.ReceiveNomination,
                                 request)

    async def AmendNomination(
        self, request: pb.AmendNominationRequest, context: Context
    ) -> pb.AmendNominationResponse:
        return await self._acked(pb.AmendNominationResponse, c.AmendNomination,
                                 request,
                                 clean_all("fields", request.fields),
                                 clean("reason", request.reason))

    async def WithdrawNomination(
        self, request: pb.WithdrawNominationRequest, context: Context
    ) -> pb.WithdrawNominationResponse:
        return await self._acked(pb.WithdrawNominationResponse, c.WithdrawNomination,
                                 request,
                                 clean("reason", request.reason))

    async def AttachEvidence(
        self, request: pb.AttachEvidenceRequest, context: Context
    ) -> pb.AttachEvidenceResponse:
        nomination_id = _uuid(request.nomination_id)
        version = await self._handle(c.AttachEvidence(
            current_request(), nomination_id, request.content, request.filename,
            request.media_type, request.kind, expected_version=_expected(request)))
        return pb.AttachEvidenceResponse(sha256=sha256_of(request.content),
                                         version=version)

    async def AttachReport(
        self, request: pb.AttachReportRequest, context: Context
    ) -> pb.AttachReportResponse:
        nomination_id = _uuid(request.nomination_id)
        version = await self._handle(c.AttachReport(
            current_request(), nomination_id, request.content, request.filename,
            request.media_type, request.kind, clean("title", request.title),
            expected_version=_expected(request)))
        return pb.AttachReportResponse(sha256=sha256_of(request.content), version=version)

    async def GetEvidence(
        self, request: pb.GetEvidenceRequest, context: Context
    ) -> pb.GetEvidenceResponse:
        attachment, content = await self._handle(c.GetEvidence(
            current_request(), _uuid(request.nomination_id), request.sha256))
        return pb.GetEvidenceResponse(attachment=_attachment(attachment), content=content)

    # -- queries -----------------------------------------------------------------

    async def GetNomination(
        self, request: pb.GetNominationRequest, context: Context
    ) -> pb.GetNominationResponse:
        if request.HasField("as_of") and request.HasField("recorded_as_of"):
            raise InvalidArgument("ask as of a campaign time or a recorded time, not both", [
                FieldViolation("recorded_as_of", "leave unset when as_of is set")])
        nomination = await self._handle(c.GetNomination(
            current_request(), _uuid(request.nomination_id), _time(request, "as_of"),
            _time(request, "recorded_as_of")))
        return to_message(nomination)

    async def GetNominationHistory(
        self, request: pb.GetNominationHistoryRequest, context: Context
    ) -> pb.GetNominationHistoryResponse:
        nomination_id = _uuid(request.nomination_id)
        history = await self._handle(c.GetNominationHistory(current_request(), nomination_id))
        return pb.GetNominationHistoryResponse(nomination_id=nomination_id,
                                               entries=[_history_entry(e) for e in history])

    async def ListNominations(
        self, request: pb.ListNominationsRequest, context: Context
    ) -> pb.ListNominationsResponse:
        rows, token = await self._handle(c.ListNominations(
            current_request(), campaign_id=request.campaign_id, category=request.category,
            jurisdiction_id=request.jurisdiction_id, status=request.status,
            page_size=request.page_size, page_token=request.page_token))
        return pb.ListNominationsResponse(nominations=[_summary(r) for r in rows],
                                          next_page_token=token)

    async def ListCampaigns(
        self, request: pb.ListCampaignsRequest, context: Context
    ) -> pb.ListCampaignsResponse:
        views = await self._handle(c.ListCampaigns(current_request()))
        return pb.ListCampaignsResponse(campaigns=[_campaign_summary(v) for v in views])

    async def GetCampaign(
        self, request: pb.GetCampaignRequest, context: Context
    ) -> pb.GetCampaignResponse:
        if request.HasField("as_of") and request.HasField("recorded_as_of"):
            raise InvalidArgument("ask as of a campaign time or a recorded time, not both", [
                FieldViolation("recorded_as_of", "leave unset when as_of is set")])
        view = await self._handle(c.GetCampaign(
            current_request(), request.campaign_id, _time(request, "as_of"),
            _time(request, "recorded_as_of")))
        return _campaign(view)

    async def SetCampaignClock(
        self, request: pb.SetCampaignClockRequest, context: Context
    ) -> pb.SetCampaignClockResponse:
        if not request.HasField("now"):
            raise InvalidArgument("say what time it is",
                                  [FieldViolation("now", "required")])
        await self._handle(c.SetCampaignClock(current_request(), request.campaign_id,
                                              request.now.ToDatetime(tzinfo=UTC)))
        return pb.SetCampaignClockResponse(id=request.campaign_id)


def _form(
    request: pb.DraftNominationRequest | pb.SubmitNominationRequest,
) -> c.NominationForm:
    return c.NominationForm(
        nomination_id=_uuid(request.nomination_id, allow_new=True),
        campaign_id=request.campaign_id,
        category=request.category,
        nominee=c.Nominee(request.nominee.kind,
                          clean("nominee.name", request.nominee.name),
                          request.nominee.organization_id),
        fields=clean_all("fields", request.fields),
    )


def _time(request: Any, name: str) -> datetime | None:
    return getattr(request, name).ToDatetime(tzinfo=UTC) if request.HasField(name) else None


def _expected(request: Any) -> int | None:
    """The version the caller saw, if they said (`expected_version` is optional)."""
    return request.expected_version if request.HasField("expected_version") else None


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


def to_message(n: Nomination) -> pb.GetNominationResponse:
    return pb.GetNominationResponse(
        nomination_id=n.nomination_id, campaign_id=n.campaign_id, category=n.category,
        nominee=pb.Nominee(kind=n.nominee.kind, name=n.nominee.name,
                           organization_id=n.nominee.organization_id),
        fields=n.fields, status=n.status, version=n.version,
        submitted_at=_timestamp(n.submitted_at), submitted_by=n.submitted_by,
        submitted_recorded_at=_timestamp(n.submitted_recorded_at),
        receiver_id=n.route.receiver_id,
        hospital_id=n.hospital_id, jurisdiction_id=n.jurisdiction_id,
        route_to=n.route.to, route_organization_id=n.route.organization_id,
        eligible=n.eligible, ineligible_reason=n.ineligible_reason,
        return_reasons=list(n.return_reasons),
        attachments=[_attachment(a) for a in n.attachments],
    )


def _attachment(a: Attachment) -> pb.Attachment:
    return pb.Attachment(sha256=a.sha256, filename=a.filename, media_type=a.media_type,
                         size=a.size, kind=a.kind)


def _history_entry(event: RecordedEvent) -> pb.HistoryEntry:
    payload = dict(event.payload)
    changes = payload.pop("changes", None)
    if changes is None and event.type in (events.NOMINATION_DRAFTED,
                                          events.NOMINATION_SUBMITTED):
        changes = {k: {"before": None, "after": v}
                   for k, v in sorted(payload.pop("fields", {}).items())}
    actor = event.metadata["actor"]
    return pb.HistoryEntry(
        version=event.version, event_type=event.type, event_id=event.event_id,
        recorded_at=_timestamp(event.recorded_at), actor_id=actor["id"],
        campaign_time=_timestamp(format_time(event.campaign_time)),
        actor_role=actor["role"], actor_organization_id=actor.get("organization_id", ""),
        changes=[pb.FieldChange(field=k, before=change["before"] or "",
                                after=change["after"] or "",
                                had_before=change["before"] is not None,
                                has_after=change["after"] is not None)
                 for k, change in (changes or {}).items()],
        details_json=canonical_json({k: v for k, v in payload.items()
                                     if k not in ("nomination_id", "fields")}),
    )


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _stages(definition: CampaignDefinition) -> list[pb.CampaignStage]:
    return [pb.CampaignStage(key=s.key, name_zh=s.name_zh, name_en=s.name_en,
                             start=s.start.isoformat(), end=s.end.isoformat(),
                             permits=list(s.permits)) for s in definition.stages]


def _campaign_summary(view: CampaignView) -> pb.CampaignSummary:
    d = view.recorded.definition
    return pb.CampaignSummary(campaign_id=d.id, name_zh=d.name_zh, name_en=d.name_en,
                              version=d.version, stages=_stages(d),
                              campaign_now=_stamp(view.now), open_stages=view.open_stages)


def _campaign(view: CampaignView) -> pb.GetCampaignResponse:
    recorded = view.recorded
    d = recorded.definition
    reference = d.lookback_reference_date()
    return pb.GetCampaignResponse(
        campaign_id=d.id, name_zh=d.name_zh, name_en=d.name_en, version=d.version,
        digest=recorded.digest, timezone=d.timezone, stages=_stages(d),
        categories=[_category(c) for c in d.categories],
        organizer_ids=list(d.organizer.organization_ids),
        co_organizer_ids=[co.organization_id for co in d.organizer.co_organizers],
        nominator_kinds=list(d.nominators.kinds),
        receiver_ids=[r.organization_id for r in d.routing.receivers],
        reporting_ids=list(d.reporting.organization_ids) if d.reporting else [],
        lookback_reference_date=reference.isoformat() if reference else "",
        recorded_at=_stamp(recorded.recorded_at),
        campaign_time=_stamp(recorded.campaign_time),
        definition_json=canonical_json(d.model_dump(mode="json")))


def _category(category: Category) -> pb.CampaignCategory:
    rules = {"eligibility": [r.model_dump(mode="json") for r in category.eligibility],
             "quotas": [q.model_dump(mode="json") for q in category.quotas]}
    return pb.CampaignCategory(
        key=category.key, name_zh=category.name_zh, name_en=category.name_en,
        nominee_kinds=list(category.nominee_kinds),
        form_title_zh=category.form_title_zh or "",
        fields=[pb.CampaignFormField(key=key, label_zh=f.label_zh, label_en=f.label_en,
                                     type=f.type or "", required=f.required,
                                     filled_by=f.filled_by)
                for key, f in category.form_fields.items()],
        rules_json=canonical_json(rules))


def _summary(row: dict[str, Any]) -> pb.NominationSummary:
    return pb.NominationSummary(
        nomination_id=row["nomination_id"], campaign_id=row["campaign_id"],
        category=row["category"], nominee_name=row["nominee_name"],
        hospital_id=row["hospital_id"], jurisdiction_id=row["jurisdiction_id"],
        status=row["status"], eligible=row["eligible"], version=row["version"])
