"""ScoringService over gRPC: messages to commands and results back.

Only translation lives here. The caller (verified by the interceptor) is read
once per call and put on the command; the handler runs in a worker thread in
one unit of work (`store.run`), so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from grpc.aio import ServicerContext

from laurel.auth import current_request
from laurel.envelope import RecordedEvent, canonical_json, parse_time
from laurel.errors import FieldViolation, InvalidArgument
from laurel.eventstore import EventStore
from laurel.scoring import handlers
from laurel.scoring.domain import commands
from laurel.scoring.domain import eligibility as el
from laurel.scoring.handlers import Context
from laurel.scoring.v1 import scoring_pb2 as pb
from laurel.scoring.v1 import scoring_pb2_grpc
from laurel.text import clean
from laurel.unit_of_work import UnitOfWork

T = TypeVar("T")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    def __init__(self, store: EventStore, ctx: Context) -> None:
        self.store = store
        self.ctx = ctx

    async def _run(self, work: Callable[[UnitOfWork], T]) -> T:
        return await asyncio.to_thread(self.store.run, work)

    async def Ping(self, request: pb.PingRequest, context: ServicerContext) -> pb.PingResponse:
        return pb.PingResponse(service="scoring")

    # -- the registry ------------------------------------------------------------

    async def RecordComplaint(self, request: pb.RecordComplaintRequest, context: ServicerContext
                              ) -> pb.RecordComplaintResponse:
        cmd = commands.RecordComplaint(current_request(), _report(request))
        done = await self._run(lambda uow: handlers.record_complaint(cmd, uow, self.ctx))
        return pb.RecordComplaintResponse(entry_id=request.entry_id, recorded=done.recorded,
                                          reevaluated_nomination_ids=done.reevaluated)

    async def RecordPenalty(self, request: pb.RecordPenaltyRequest, context: ServicerContext
                            ) -> pb.RecordPenaltyResponse:
        cmd = commands.RecordPenalty(current_request(), _report(request))
        done = await self._run(lambda uow: handlers.record_penalty(cmd, uow, self.ctx))
        return pb.RecordPenaltyResponse(entry_id=request.entry_id, recorded=done.recorded,
                                        reevaluated_nomination_ids=done.reevaluated)

    async def WithdrawComplianceEntry(
        self, request: pb.WithdrawComplianceEntryRequest, context: ServicerContext
    ) -> pb.WithdrawComplianceEntryResponse:
        on = _date("withdrawn_on", request.withdrawn_on) if request.withdrawn_on \
            else None
        cmd = commands.WithdrawComplianceEntry(current_request(), request.entry_id,
                                               clean("reason", request.reason), on)
        done = await self._run(
            lambda uow: handlers.withdraw_compliance_entry(cmd, uow, self.ctx))
        return pb.WithdrawComplianceEntryResponse(
            entry_id=request.entry_id, recorded=done.recorded,
            reevaluated_nomination_ids=done.reevaluated)

    async def ListComplianceEntries(
        self, request: pb.ListComplianceEntriesRequest, context: ServicerContext
    ) -> pb.ListComplianceEntriesResponse:
        cmd = commands.ListComplianceEntries(current_request(), request.subject_id,
                                             request.kind)
        rows = await self._run(lambda uow: handlers.list_compliance_entries(cmd, uow))
        return pb.ListComplianceEntriesResponse(
            entries=[pb.ComplianceEntry(**row) for row in rows])

    # -- verdicts ------------------------------------------------------------------

    async def GetEligibility(self, request: pb.GetEligibilityRequest,
                             context: ServicerContext) -> pb.GetEligibilityResponse:
        cmd = commands.GetEligibility(current_request(), request.nomination_id)
        view = await self._run(lambda uow: handlers.get_eligibility(cmd, uow))
        return pb.GetEligibilityResponse(
            nomination_id=view.nomination_id, evaluated=view.evaluated,
            eligible=view.eligible, verdicts=[_verdict(e) for e in view.latest],
            history=[_verdict(e) for e in view.history])

    # -- results -------------------------------------------------------------------

    async def ComputeResults(self, request: pb.ComputeResultsRequest,
                             context: ServicerContext) -> pb.ComputeResultsResponse:
        cmd = commands.ComputeResults(current_request(), request.campaign_id,
                                      request.category, request.round_id)
        done = await self._run(lambda uow: handlers.compute_results(cmd, uow, self.ctx))
        return pb.ComputeResultsResponse(version=done.version, changed=done.changed)

    async def GetRanking(self, request: pb.GetRankingRequest, context: ServicerContext
                         ) -> pb.GetRankingResponse:
        cmd = commands.GetRanking(current_request(), request.campaign_id,
                                  request.category, request.round_id, request.version)
        chosen, latest = await self._run(lambda uow: handlers.get_ranking(cmd, uow))
        p = chosen.payload
        return pb.GetRankingResponse(
            campaign_id=p["campaign_id"], category=p["category"],
            round_id=p["round_id"], version=chosen.version, latest_version=latest,
            cause=chosen.cause, computed_at=_timestamp(chosen.computed_at),
            entries=[pb.RankedNomination(**e) for e in _entries(p)],
            unscored=p["unscored"],
            ineligible=[pb.IneligibleNomination(nomination_id=nid, **why)
                        for nid, why in p.get("ineligible", {}).items()],
            tie_break=p["policy"]["tie_break"],
            policy_json=canonical_json(p["policy"]))

    async def GetScoreBreakdown(self, request: pb.GetScoreBreakdownRequest,
                                context: ServicerContext) -> pb.GetScoreBreakdownResponse:
        cmd = commands.GetScoreBreakdown(current_request(), request.nomination_id,
                                         request.round_id, request.version)
        view = await self._run(lambda uow: handlers.get_score_breakdown(cmd, uow))
        message = pb.GetScoreBreakdownResponse(nomination_id=request.nomination_id,
                                               round_id=view.round_id,
                                               version=view.version,
                                               ineligible_reason=view.ineligible_reason)
        b = view.breakdown
        if b is not None:
            message.scored = b["score"] is not None
            message.score = b["score"] or ""
            message.score_display = b["score_display"] or ""
            message.inputs.extend(_input(line) for line in b["inputs"])
            message.dropped.extend(pb.DroppedInput(**d) for d in b["dropped"])
            message.steps.extend(b["steps"])
            message.criterion_means.update(b["criterion_means"])
        if view.entry is not None:
            message.rank = view.entry.rank
            message.tier = view.entry.tier
            message.decided_by = view.entry.decided_by
            message.explanation = view.entry.explanation
        return message


def _report(request: pb.RecordComplaintRequest | pb.RecordPenaltyRequest
            ) -> el.ComplianceReport:
    return el.ComplianceReport(
        request.entry_id, request.subject_kind, request.subject_id,
        _date("occurred_on", request.occurred_on), clean("source", request.source),
        clean("summary", request.summary))


def _entries(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    keys = pb.RankedNomination.DESCRIPTOR.fields_by_name
    return [{k: v for k, v in e.items() if k in keys} for e in payload["entries"]]


def _input(line: dict[str, Any]) -> pb.ScoreInput:
    return pb.ScoreInput(
        reviewer_id=line["reviewer_id"], group=line["group"], raw=line["raw"],
        weighted_total=line["weighted_total"], normalized=line["normalized"] or "",
        value=line["value"], value_display=line["value_display"], kept=line["kept"],
        weight=line["weight"])


def _verdict(event: RecordedEvent) -> pb.Verdict:
    p = event.payload
    return pb.Verdict(
        rule=p["rule"], decision=p["decision"], reason=p["reason"],
        parameters_json=canonical_json(p["parameters"]),
        entries_seen=p["entries_seen"], entries_counted=p["entries_counted"],
        nominations_seen=p["nominations_seen"], cause=p["cause"],
        recorded_at=_timestamp(event.recorded_at), event_id=event.event_id)


def _date(name: str, text: str) -> date:
    """Exactly YYYY-MM-DD: fromisoformat alone also takes 20210301 and 2021-W09-1."""
    try:
        if not ISO_DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{name} is not a date", [FieldViolation(
            name, f"{text!r} is not a date as YYYY-MM-DD")]) from None


def _timestamp(text: str) -> Timestamp:
    stamp = Timestamp()
    if text:
        stamp.FromDatetime(parse_time(text))
    return stamp
