"""ScoringService over gRPC: messages to use-case calls and results back.

Only translation lives here; store work runs in a thread so the event loop
keeps serving.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.envelope import RecordedEvent, canonical_json, parse_time
from laurel.errors import FieldViolation, InvalidArgument
from laurel.scoring import eligibility as el
from laurel.scoring.application import ScoringApplication
from laurel.scoring.v1 import scoring_pb2 as pb
from laurel.scoring.v1 import scoring_pb2_grpc
from laurel.text import clean

T = TypeVar("T")
R = TypeVar("R", pb.RecordComplaintResponse, pb.RecordPenaltyResponse)
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
Context = grpc.aio.ServicerContext


async def run(call: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(call, *args)


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    def __init__(self, app: ScoringApplication) -> None:
        self.app = app

    async def Ping(self, request: pb.PingRequest, context: Context) -> pb.PingResponse:
        return pb.PingResponse(service="scoring")

    # -- the registry ------------------------------------------------------------

    async def RecordComplaint(self, request: pb.RecordComplaintRequest, context: Context
                              ) -> pb.RecordComplaintResponse:
        return await self._record(el.COMPLAINT, request, pb.RecordComplaintResponse)

    async def RecordPenalty(self, request: pb.RecordPenaltyRequest, context: Context
                            ) -> pb.RecordPenaltyResponse:
        return await self._record(el.PENALTY, request, pb.RecordPenaltyResponse)

    async def _record(self, kind: str,
                      request: pb.RecordComplaintRequest | pb.RecordPenaltyRequest,
                      response: type[R]) -> R:
        report = el.ComplianceReport(
            request.entry_id, request.subject_kind, request.subject_id,
            _date("occurred_on", request.occurred_on), clean("source", request.source),
            clean("summary", request.summary))
        recorded, changed = await run(self.app.record_entry, kind, report)
        return response(entry_id=request.entry_id, recorded=recorded,
                        reevaluated_nomination_ids=changed)

    async def WithdrawComplianceEntry(
        self, request: pb.WithdrawComplianceEntryRequest, context: Context
    ) -> pb.WithdrawComplianceEntryResponse:
        on = _date("withdrawn_on", request.withdrawn_on) if request.withdrawn_on \
            else None
        recorded, changed = await run(self.app.withdraw_entry, request.entry_id,
                                      clean("reason", request.reason), on)
        return pb.WithdrawComplianceEntryResponse(entry_id=request.entry_id,
                                                  recorded=recorded,
                                                  reevaluated_nomination_ids=changed)

    async def ListComplianceEntries(
        self, request: pb.ListComplianceEntriesRequest, context: Context
    ) -> pb.ListComplianceEntriesResponse:
        rows = await run(self.app.entries, request.subject_id, request.kind)
        return pb.ListComplianceEntriesResponse(
            entries=[pb.ComplianceEntry(**row) for row in rows])

    # -- verdicts ------------------------------------------------------------------

    async def GetEligibility(self, request: pb.GetEligibilityRequest,
                             context: Context) -> pb.GetEligibilityResponse:
        view = await run(self.app.eligibility, request.nomination_id)
        return pb.GetEligibilityResponse(
            nomination_id=view.nomination_id, evaluated=view.evaluated,
            eligible=view.eligible, verdicts=[_verdict(e) for e in view.latest],
            history=[_verdict(e) for e in view.history])

    # -- results -------------------------------------------------------------------

    async def ComputeResults(self, request: pb.ComputeResultsRequest,
                             context: Context) -> pb.ComputeResultsResponse:
        done = await run(self.app.compute_results, request.campaign_id,
                         request.category, request.round_id)
        return pb.ComputeResultsResponse(version=done.version, changed=done.changed)

    async def GetRanking(self, request: pb.GetRankingRequest, context: Context
                         ) -> pb.GetRankingResponse:
        chosen, latest = await run(self.app.ranking, request.campaign_id,
                                   request.category, request.round_id,
                                   request.version)
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
                                context: Context) -> pb.GetScoreBreakdownResponse:
        view = await run(self.app.breakdown, request.nomination_id,
                         request.round_id, request.version)
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


def _entries(payload: dict[str, Any]) -> list[dict[str, Any]]:
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
