"""ReviewService over gRPC: messages to use-case calls and results back.

Only translation lives here; store work runs in a thread so the event loop
keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC
from decimal import Decimal
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.envelope import format_time, parse_time
from laurel.errors import FieldViolation, InvalidArgument
from laurel.review import assignment, campaigns, forums, rounds
from laurel.review.application import ReviewApplication
from laurel.review.round_cases import BLIND
from laurel.review.v1 import review_pb2 as pb
from laurel.review.v1 import review_pb2_grpc
from laurel.text import clean

T = TypeVar("T")
Context = grpc.aio.ServicerContext


async def run(call: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(call, *args)


class ReviewServicer(review_pb2_grpc.ReviewServiceServicer):
    def __init__(self, app: ReviewApplication) -> None:
        self.app = app

    async def Ping(self, request: pb.PingRequest, context: Context) -> pb.PingResponse:
        return pb.PingResponse(service="review")

    # -- reviewers, panels, assignment -------------------------------------------

    async def RegisterReviewer(self, request: pb.RegisterReviewerRequest,
                               context: Context) -> pb.RegisterReviewerResponse:
        reviewer = assignment.Reviewer(
            request.reviewer_id, clean("name", request.name), request.organization_id,
            request.jurisdiction_id, request.group,
            frozenset(request.declared_conflicts))
        version = await run(self.app.register_reviewer, reviewer,
                            {"email": request.email, "language": request.language})
        return pb.RegisterReviewerResponse(id=request.reviewer_id, version=version)

    async def DeclareConflict(self, request: pb.DeclareConflictRequest,
                              context: Context) -> pb.DeclareConflictResponse:
        version = await run(self.app.declare_conflict, request.reviewer_id,
                            request.subject_id, clean("reason", request.reason))
        return pb.DeclareConflictResponse(id=request.reviewer_id, version=version)

    async def FormPanel(self, request: pb.FormPanelRequest, context: Context
                        ) -> pb.FormPanelResponse:
        spec = assignment.PanelSpec(
            request.panel_id, request.campaign_id, request.category,
            _required("round_id", request.round_id), dict(request.mix),
            tuple(request.members), request.seed)
        version = await run(self.app.form_panel, spec)
        return pb.FormPanelResponse(id=spec.panel_id or spec.round_id, version=version)

    async def AssignReviewers(self, request: pb.AssignReviewersRequest,
                              context: Context) -> pb.AssignReviewersResponse:
        made = await run(self.app.assign_reviewers, request.round_id,
                         list(request.nomination_ids))
        return pb.AssignReviewersResponse(assignments=[_assignment(p) for p in made])

    async def ExplainAssignment(self, request: pb.ExplainAssignmentRequest,
                                context: Context) -> pb.ExplainAssignmentResponse:
        lines = await run(self.app.explain_assignment, request.round_id,
                          request.nomination_id)
        return pb.ExplainAssignmentResponse(
            round_id=request.round_id, nomination_id=request.nomination_id,
            lines=[pb.ExplanationLine(reviewer_id=x.reviewer_id, group=x.group,
                                      status=x.status, reason=x.reason)
                   for x in lines])

    async def Recuse(self, request: pb.RecuseRequest, context: Context
                     ) -> pb.RecuseResponse:
        replacement = await run(self.app.recuse, request.round_id,
                                request.nomination_id, request.reviewer_id,
                                clean("reason", request.reason))
        return pb.RecuseResponse(replacement=_assignment(replacement))

    # -- rounds ---------------------------------------------------------------------

    async def OpenRound(self, request: pb.OpenRoundRequest, context: Context
                        ) -> pb.OpenRoundResponse:
        version = await run(self.app.open_round, request.round_id,
                            _time("deadline", request), list(request.nomination_ids),
                            request.number or 1, request.previous_round_id)
        return pb.OpenRoundResponse(id=request.round_id, version=version)

    async def GetRound(self, request: pb.GetRoundRequest, context: Context
                       ) -> pb.GetRoundResponse:
        view = await run(self.app.round_view, request.round_id)
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
        rows = await run(self.app.my_assignments, request.round_id)
        keys = pb.MyAssignment.DESCRIPTOR.fields_by_name
        return pb.ListMyAssignmentsResponse(assignments=[
            pb.MyAssignment(**{k: v for k, v in row.items() if k in keys})
            for row in rows])

    async def GetNominationForReview(self, request: pb.GetNominationForReviewRequest,
                                     context: Context) -> pb.GetNominationForReviewResponse:
        view = await run(self.app.nomination_for_review, request.round_id,
                         request.nomination_id)
        n, state = view.nomination, view.round
        labels = await run(self._labels, state.campaign_id, state.category)
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

    def _labels(self, campaign_id: str, category: str) -> dict[str, tuple[str, str]]:
        return campaigns.labels(self.app.definitions.get(campaign_id), category)

    async def SubmitReview(self, request: pb.SubmitReviewRequest, context: Context
                           ) -> pb.SubmitReviewResponse:
        version, changed = await run(self.app.submit_review, request.round_id,
                                     request.nomination_id, dict(request.scores),
                                     clean("comment", request.comment))
        return pb.SubmitReviewResponse(form_version=version, changed=changed)

    async def GetReviews(self, request: pb.GetReviewsRequest, context: Context
                         ) -> pb.GetReviewsResponse:
        forms, withheld = await run(self.app.reviews, request.round_id,
                                    request.nomination_id)
        return pb.GetReviewsResponse(reviews=[_form(f) for f in forms],
                                     withheld=withheld,
                                     withheld_reason=BLIND if withheld else "")

    async def CloseRound(self, request: pb.CloseRoundRequest, context: Context
                         ) -> pb.CloseRoundResponse:
        closed = await run(self.app.close_round, request.round_id,
                           clean("reason", request.reason))
        if closed is None:
            return pb.CloseRoundResponse(closed=False)
        return pb.CloseRoundResponse(
            closed=True, early=closed["early"],
            outstanding=[pb.Outstanding(**o) for o in closed["outstanding"]])

    async def ReopenRound(self, request: pb.ReopenRoundRequest, context: Context
                          ) -> pb.ReopenRoundResponse:
        version = await run(self.app.reopen_round, request.round_id,
                            clean("reason", request.reason),
                            _time("deadline", request))
        return pb.ReopenRoundResponse(id=request.round_id, version=version)

    # -- decisions --------------------------------------------------------------------

    async def RecordDecision(self, request: pb.RecordDecisionRequest,
                             context: Context) -> pb.RecordDecisionResponse:
        version = await run(self.app.record_decision, request.round_id,
                            request.nomination_id, request.outcome, request.tier,
                            clean("reason", request.reason), request.result_version)
        return pb.RecordDecisionResponse(id=request.nomination_id, version=version)

    async def PublishResults(self, request: pb.PublishResultsRequest,
                             context: Context) -> pb.PublishResultsResponse:
        version, count = await run(self.app.publish_results, request.round_id)
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
        invited = await run(self.app.issue_forum_invitations, plan)
        return pb.IssueForumInvitationsResponse(forum_id=plan.forum_id,
                                                nomination_ids=invited)


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


def _time(name: str, request: Any):  # noqa: ANN202
    if not request.HasField(name):
        raise InvalidArgument(f"{name} is required", [FieldViolation(name, "required")])
    return getattr(request, name).ToDatetime(tzinfo=UTC)


def _timestamp(text: str) -> Timestamp:
    stamp = Timestamp()
    if text:
        stamp.FromDatetime(parse_time(text))
    return stamp
