"""ReviewService over gRPC: messages to commands and queries, results back.

Only translation lives here. The caller is read once, from the verified call,
and travels on the command; the handler runs in a worker thread (in its own
unit of work) so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeAlias

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.auth import current_request
from laurel.envelope import format_time, parse_time
from laurel.errors import FieldViolation, InvalidArgument
from laurel.review.domain import assignment, commands, forums, rounds
from laurel.review.handlers import ForReview, RoundView
from laurel.review.v1 import review_pb2 as pb
from laurel.review.v1 import review_pb2_grpc
from laurel.text import clean

Context: TypeAlias = grpc.aio.ServicerContext


class ReviewServicer(review_pb2_grpc.ReviewServiceServicer):
    def __init__(self, handle: Callable[[Any], Any]) -> None:
        self.handle = handle

    async def run(self, message: Any) -> Any:
        return await asyncio.to_thread(self.handle, message)

    async def Ping(self, request: pb.PingRequest, context: Context) -> pb.PingResponse:
        return pb.PingResponse(service="review")

    # -- reviewers, panels, assignment -------------------------------------------

    async def RegisterReviewer(self, request: pb.RegisterReviewerRequest,
                               context: Context) -> pb.RegisterReviewerResponse:
        reviewer = assignment.Reviewer(
            request.reviewer_id, clean("name", request.name), request.organization_id,
            request.jurisdiction_id, request.group,
            frozenset(request.declared_conflicts))
        version = await self.run(commands.RegisterReviewer(
            current_request(), reviewer,
            {"email": request.email, "language": request.language}))
        return pb.RegisterReviewerResponse(id=request.reviewer_id, version=version)

    async def DeclareConflict(self, request: pb.DeclareConflictRequest,
                              context: Context) -> pb.DeclareConflictResponse:
        version = await self.run(commands.DeclareConflict(
            current_request(), request.reviewer_id, request.subject_id,
            clean("reason", request.reason)))
        return pb.DeclareConflictResponse(id=request.reviewer_id, version=version)

    async def FormPanel(self, request: pb.FormPanelRequest, context: Context
                        ) -> pb.FormPanelResponse:
        spec = assignment.PanelSpec(
            request.panel_id, request.campaign_id, request.category,
            _required("round_id", request.round_id), dict(request.mix),
            tuple(request.members), request.seed)
        version = await self.run(commands.FormPanel(current_request(), spec))
        return pb.FormPanelResponse(id=spec.panel_id or spec.round_id, version=version)

    async def AssignReviewers(self, request: pb.AssignReviewersRequest,
                              context: Context) -> pb.AssignReviewersResponse:
        made = await self.run(commands.AssignReviewers(
            current_request(), request.round_id, tuple(request.nomination_ids)))
        return pb.AssignReviewersResponse(assignments=[_assignment(p) for p in made])

    async def ExplainAssignment(self, request: pb.ExplainAssignmentRequest,
                                context: Context) -> pb.ExplainAssignmentResponse:
        lines = await self.run(commands.ExplainAssignment(
            current_request(), request.round_id, request.nomination_id))
        return pb.ExplainAssignmentResponse(
            round_id=request.round_id, nomination_id=request.nomination_id,
            lines=[pb.ExplanationLine(reviewer_id=x.reviewer_id, group=x.group,
                                      status=x.status, reason=x.reason)
                   for x in lines])

    async def Recuse(self, request: pb.RecuseRequest, context: Context
                     ) -> pb.RecuseResponse:
        replacement = await self.run(commands.Recuse(
            current_request(), request.round_id, request.nomination_id,
            request.reviewer_id, clean("reason", request.reason)))
        return pb.RecuseResponse(replacement=_assignment(replacement))

    # -- rounds ---------------------------------------------------------------------

    async def OpenRound(self, request: pb.OpenRoundRequest, context: Context
                        ) -> pb.OpenRoundResponse:
        version = await self.run(commands.OpenRound(
            current_request(), request.round_id, _time("deadline", request),
            tuple(request.nomination_ids), request.number or 1,
            request.previous_round_id))
        return pb.OpenRoundResponse(id=request.round_id, version=version)

    async def GetRound(self, request: pb.GetRoundRequest, context: Context
                       ) -> pb.GetRoundResponse:
        view: RoundView = await self.run(commands.GetRound(current_request(),
                                                           request.round_id))
        state = view.round
        return pb.GetRoundResponse(
            round_id=state.round_id, campaign_id=state.campaign_id,
            category=state.category, number=state.number, status=state.status,
            deadline=_timestamp(state.deadline),
            nomination_ids=list(state.nomination_ids),
            outstanding=[pb.Outstanding(nomination_id=n, reviewer_id=r)
                         for n, r in state.outstanding()] if view.manager else [],
            latest_result_version=view.result_version,
            decisions=[_decision(d) for d in state.decisions.values()],
            published_version=state.published_version or 0,
            ineligible_nomination_ids=view.ineligible)

    async def ListMyAssignments(self, request: pb.ListMyAssignmentsRequest,
                                context: Context) -> pb.ListMyAssignmentsResponse:
        rows = await self.run(commands.ListMyAssignments(current_request(),
                                                         request.round_id))
        keys = pb.MyAssignment.DESCRIPTOR.fields_by_name
        return pb.ListMyAssignmentsResponse(assignments=[
            pb.MyAssignment(**{k: v for k, v in row.items() if k in keys})
            for row in rows])

    async def GetNominationForReview(self, request: pb.GetNominationForReviewRequest,
                                     context: Context) -> pb.GetNominationForReviewResponse:
        view: ForReview = await self.run(commands.GetNominationForReview(
            current_request(), request.round_id, request.nomination_id))
        n, state, labels = view.nomination, view.round, view.labels
        message = pb.GetNominationForReviewResponse(
            round_id=state.round_id, nomination_id=n.nomination_id,
            campaign_id=n.campaign_id, category=n.category,
            nominee_kind=n.nominee_kind, nominee_name=n.nominee_name,
            hospital_id=n.hospital_id, fields=dict(n.fields),
            deadline=_timestamp(state.deadline),
            criteria=[pb.Criterion(key=k, max_score=_text(v),
                                   label_zh=labels.get(k, ("", ""))[0],
                                   label_en=labels.get(k, ("", ""))[1])
                      for k, v in sorted(state.criteria.items())])
        if view.own is not None:
            message.my_form.CopyFrom(_form(view.own))
            message.has_my_form = True
        return message

    async def SubmitReview(self, request: pb.SubmitReviewRequest, context: Context
                           ) -> pb.SubmitReviewResponse:
        version, changed = await self.run(commands.SubmitReview(
            current_request(), request.round_id, request.nomination_id,
            dict(request.scores), clean("comment", request.comment)))
        return pb.SubmitReviewResponse(form_version=version, changed=changed)

    async def GetReviews(self, request: pb.GetReviewsRequest, context: Context
                         ) -> pb.GetReviewsResponse:
        forms, withheld = await self.run(commands.GetReviews(
            current_request(), request.round_id, request.nomination_id))
        return pb.GetReviewsResponse(reviews=[_form(f) for f in forms],
                                     withheld=withheld,
                                     withheld_reason=rounds.BLIND if withheld else "")

    async def CloseRound(self, request: pb.CloseRoundRequest, context: Context
                         ) -> pb.CloseRoundResponse:
        closed = await self.run(commands.CloseRound(
            current_request(), request.round_id, clean("reason", request.reason),
            expected_version=_expected(request)))
        if closed is None:
            return pb.CloseRoundResponse(closed=False)
        return pb.CloseRoundResponse(
            closed=True, early=closed["early"],
            outstanding=[pb.Outstanding(**o) for o in closed["outstanding"]])

    async def ReopenRound(self, request: pb.ReopenRoundRequest, context: Context
                          ) -> pb.ReopenRoundResponse:
        version = await self.run(commands.ReopenRound(
            current_request(), request.round_id, clean("reason", request.reason),
            _time("deadline", request), expected_version=_expected(request)))
        return pb.ReopenRoundResponse(id=request.round_id, version=version)

    # -- decisions, publication, forums ---------------------------------------------

    async def RecordDecision(self, request: pb.RecordDecisionRequest,
                             context: Context) -> pb.RecordDecisionResponse:
        version = await self.run(commands.RecordDecision(
            current_request(), request.round_id, request.nomination_id, request.outcome,
            request.tier, clean("reason", request.reason), request.result_version,
            expected_version=_expected(request)))
        return pb.RecordDecisionResponse(id=request.nomination_id, version=version)

    async def PublishResults(self, request: pb.PublishResultsRequest,
                             context: Context) -> pb.PublishResultsResponse:
        version, count = await self.run(commands.PublishResults(
            current_request(), request.round_id, expected_version=_expected(request)))
        return pb.PublishResultsResponse(result_version=version, decisions=count)

    async def IssueForumInvitations(
        self, request: pb.IssueForumInvitationsRequest, context: Context
    ) -> pb.IssueForumInvitationsResponse:
        starts_at = (format_time(request.starts_at.ToDatetime(tzinfo=UTC))
                     if request.HasField("starts_at") else "")
        plan = forums.ForumPlan(
            request.forum_id, request.campaign_id, request.grouping,
            clean("label", request.label), clean("title", request.title), starts_at,
            clean("venue", request.venue), tuple(request.round_ids),
            tuple(request.jurisdiction_ids), tuple(request.categories))
        invited = await self.run(commands.IssueForumInvitations(current_request(), plan))
        return pb.IssueForumInvitationsResponse(forum_id=plan.forum_id,
                                                nomination_ids=invited)


def add_to_server(servicer: ReviewServicer, server: grpc.aio.Server) -> None:
    """Register the servicer (through a typed name: the generated function
    carries no annotations)."""
    register: Callable[[Any, Any], None] = review_pb2_grpc.add_ReviewServiceServicer_to_server
    register(servicer, server)


def _assignment(p: dict[str, Any]) -> pb.Assignment:
    return pb.Assignment(round_id=p["round_id"], nomination_id=p["nomination_id"],
                         reviewer_id=p["reviewer_id"], group=p["group"],
                         reason=p["reason"], replaces=p.get("replaces", ""))


def _form(form: rounds.ReviewForm) -> pb.ReviewForm:
    return pb.ReviewForm(
        round_id=form.round_id, nomination_id=form.nomination_id,
        reviewer_id=form.reviewer_id, group=form.group,
        scores={k: _text(v) for k, v in form.scores.items()},
        comment=form.comment, version=form.version,
        submitted_at=_timestamp(form.submitted_at), recused=form.recused)


def _decision(d: rounds.Decision) -> pb.Decision:
    return pb.Decision(nomination_id=d.nomination_id, outcome=d.outcome, tier=d.tier,
                       reason=d.reason, result_version=d.result_version)


def _text(value: Decimal) -> str:
    return format(value, "f")


def _required(name: str, value: str) -> str:
    if not value.strip():
        raise InvalidArgument(f"{name} is required", [FieldViolation(name, "required")])
    return value


def _time(name: str, request: Any) -> datetime:
    if not request.HasField(name):
        raise InvalidArgument(f"{name} is required", [FieldViolation(name, "required")])
    when: datetime = getattr(request, name).ToDatetime(tzinfo=UTC)
    return when


def _timestamp(text: str) -> Timestamp:
    stamp = Timestamp()
    if text:
        stamp.FromDatetime(parse_time(text))
    return stamp


def _expected(request: Any) -> int | None:
    """The version the caller saw, if they said (`expected_version` is optional)."""
    return request.expected_version if request.HasField("expected_version") else None
