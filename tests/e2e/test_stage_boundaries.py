"""Every stage boundary of henan-2021 at both sides, in each service that acts
in that stage, on the campaign clock intake announces (issue 16, item 1).

Everything is real: intake, scoring, review and notification with their own
SQLite stores and gRPC sockets over the real Tansu broker. Intake's
`SetCampaignClock` moves the clock; the test waits until every consumer
group has committed past it on intake's topic (so each service noted it)
before calling on either side of a boundary, in the campaign's zone
(Asia/Shanghai):

- the expert evaluation, 2021-12-01 to 2021-12-31: review's panels,
  assignment, rounds, scores and decisions, scoring's ComputeResults, and the
  look-back windows of scoring's verdicts (which end on its last day);
- the forums and awards, 2022-01-01 to 2022-01-31: review's publication and
  forum invitations, notification's approval of the results.

The Medicine & Health newspaper co-organizes the evaluation (it opens a
round) but not the forums (it may not publish).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.broker import TansuBroker, ensure_topics
from laurel.config import KafkaSettings, load_settings
from laurel.demo import ORGANIZER, campaign_clock_request
from laurel.demo.campaign import (
    HOTLINE,
    Apis,
    CampaignRun,
    await_eligibility,
    connect,
    load_plan,
    md,
    nominate,
    register_organizations,
    register_reviewers,
    reviewer,
    route_to_center,
    until,
)
from laurel.envelope import Actor
from laurel.intake.bootstrap import build as build_intake
from laurel.notification.bootstrap import build as build_notification
from laurel.notification.v1 import notification_pb2 as npb
from laurel.review.bootstrap import build as build_review
from laurel.review.v1 import review_pb2 as rv
from laurel.runtime import ServiceRuntime
from laurel.scoring.bootstrap import build as build_scoring
from laurel.scoring.v1 import scoring_pb2 as sc

pytestmark = [pytest.mark.slow]
BEIJING = timezone(timedelta(hours=8))
CONSUMERS = ("scoring", "review", "notification")
CAMPAIGN, CATEGORY = "henan-2021", "warm_service_post"
ROUND = "henan-2021-warm-boundaries"
NEWSPAPER = Actor("editor-yywsb", "organizer", "medicine-health-news")
EVALUATION = "2021-12-01 to 2021-12-31"
FORUMS = "2022-01-01 to 2022-01-31"


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BEIJING)  # type: ignore[misc]


class Stack:
    def __init__(self, apis: Apis, env: dict[str, str], broker_view: Any) -> None:
        self.apis = apis
        self.kafka = load_settings("intake", env).kafka
        self.intake_topic = env["LAUREL_TOPIC_INTAKE"]
        self.broker_view = broker_view

    async def clock(self, moment: datetime) -> None:
        """Intake moves the clock; every consumer has noted it on return."""
        await self.apis.intake.SetCampaignClock(campaign_clock_request(CAMPAIGN, moment),
                                                metadata=md(ORGANIZER))
        records = len(await asyncio.to_thread(self.broker_view.keys, self.kafka,
                                              self.intake_topic))
        for consumer in CONSUMERS:
            await self.broker_view.until_consumed(self.kafka, self.intake_topic, consumer,
                                                  records)


async def refused(call: Awaitable[Any], stage: str) -> None:
    """Out of stage: FAILED_PRECONDITION naming the stage's dates."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION, raised.value.details()
    assert stage in (raised.value.details() or ""), raised.value.details()
    assert "the campaign clock says" in (raised.value.details() or "")


@pytest_asyncio.fixture
async def stack(kafka_broker: TansuBroker, tmp_path, broker_view: Any  # noqa: ANN001
                ) -> AsyncIterator[Stack]:
    suffix = tmp_path.name.replace("_", "-")[-40:]
    env = {
        "LAUREL_ENV": "development", "LAUREL_GRPC_HOST": "127.0.0.1",
        "LAUREL_GRPC_PORT": "0", "LAUREL_DATA_DIR": str(tmp_path),
        "LAUREL_KAFKA_BOOTSTRAP": kafka_broker.bootstrap, "LAUREL_OUTBOX_POLL_MS": "50",
        "LAUREL_KAFKA_GROUP_PREFIX": f"stages-{suffix}",
        "LAUREL_REVIEW_REMINDER_POLL_S": "0",
        "LAUREL_TOPIC_COMPLIANCE": f"laurel.compliance.{suffix}",
    }
    for service in ("intake", *CONSUMERS):
        env[f"LAUREL_TOPIC_{service.upper()}"] = f"laurel.{service}.events.{suffix}"
    ensure_topics(KafkaSettings(bootstrap=kafka_broker.bootstrap),
                  [v for k, v in env.items() if k.startswith("LAUREL_TOPIC_")])
    runtimes: dict[str, ServiceRuntime] = {
        "intake": await build_intake(load_settings("intake", env)),
        "scoring": await build_scoring(load_settings("scoring", env)),
        "review": await build_review(load_settings("review", env)),
        "notification": await build_notification(load_settings("notification", env)),
    }
    await asyncio.gather(*(rt.start() for rt in runtimes.values()))
    try:
        async with connect({n: f"127.0.0.1:{rt.grpc.port}"
                            for n, rt in runtimes.items()}) as apis:
            yield Stack(apis, env, broker_view)
    finally:
        for runtime in reversed(list(runtimes.values())):
            await runtime.stop()


async def test_every_henan_stage_boundary_at_both_sides(stack: Stack) -> None:
    apis, org = stack.apis, md(ORGANIZER)
    # -- the nomination stage (2021-11-25): three warm-service posts and a leader --
    run = CampaignRun(load_plan(6))
    await register_organizations(apis, run.plan)
    await register_reviewers(apis, run.plan)
    await nominate(apis, run, lambda _: None)
    await route_to_center(apis, run, lambda _: None)
    await await_eligibility(apis, run)
    posts = run.of_category(CATEGORY)
    [leader] = run.of_category("quality_service_leader")
    members = [r["id"] for r in run.plan.reviewers]
    form_panel = rv.FormPanelRequest(campaign_id=CAMPAIGN, category=CATEGORY,
                                     round_id=ROUND, members=members, seed=ROUND)

    # -- the evaluation opens on 2021-12-01 -----------------------------------------
    await stack.clock(at(2021, 11, 30, 23, 59, 59))
    await refused(apis.review.FormPanel(form_panel, metadata=org), EVALUATION)
    await stack.clock(at(2021, 12, 1))
    await apis.review.FormPanel(form_panel, metadata=org)
    made = await apis.review.AssignReviewers(rv.AssignReviewersRequest(
        round_id=ROUND, nomination_ids=posts), metadata=org)
    deadline = Timestamp()
    deadline.FromDatetime(datetime.now(UTC) + timedelta(days=7))
    # the newspaper co-organizes the evaluation: it opens the round
    await apis.review.OpenRound(rv.OpenRoundRequest(round_id=ROUND, deadline=deadline),
                                metadata=md(NEWSPAPER))
    forms = sorted((a.nomination_id, a.reviewer_id) for a in made.assignments)
    last = forms.pop()

    async def score(nid: str, rid: str) -> Any:
        return await apis.review.SubmitReview(rv.SubmitReviewRequest(
            round_id=ROUND, nomination_id=nid,
            scores=dict.fromkeys(("warm_service", "supporting_cases", "achievements"),
                                 "88")), metadata=md(reviewer(rid)))

    for nid, rid in forms:
        await score(nid, rid)
    # scoring's look-back ends on the campaign's "now" until the last day: a
    # penalty dated 2021-12-31 does not count yet, one dated 2022-01-01 never
    for entry_id, on in (("pen-1231", "2021-12-31"), ("pen-0101", "2022-01-01")):
        ack = await apis.scoring.RecordPenalty(sc.RecordPenaltyRequest(
            entry_id=entry_id, subject_kind="person", subject_id="zhengzhou-peoples/王明",
            occurred_on=on, source="省卫生健康委", summary="通报批评"), metadata=md(HOTLINE))
        assert ack.recorded and list(ack.reevaluated_nomination_ids) == []
    eligibility = sc.GetEligibilityRequest(nomination_id=leader)
    assert (await apis.scoring.GetEligibility(eligibility, metadata=org)).eligible

    # -- the evaluation closes after 2021-12-31; the forums open on 2022-01-01 -----
    await stack.clock(at(2022, 1, 1))
    await refused(score(*last), EVALUATION)
    await refused(apis.review.CloseRound(rv.CloseRoundRequest(round_id=ROUND),
                                         metadata=org), EVALUATION)
    await refused(apis.review.AssignReviewers(rv.AssignReviewersRequest(
        round_id=ROUND, nomination_ids=posts), metadata=org), EVALUATION)
    await stack.clock(at(2021, 12, 31, 23, 59, 59))
    await score(*last)
    await apis.review.CloseRound(rv.CloseRoundRequest(round_id=ROUND), metadata=org)
    ranking_request = sc.GetRankingRequest(campaign_id=CAMPAIGN, category=CATEGORY,
                                           round_id=ROUND)
    ranking = await until(lambda: apis.scoring.GetRanking(ranking_request, metadata=org),
                          "scoring's ranking")
    compute = sc.ComputeResultsRequest(campaign_id=CAMPAIGN, category=CATEGORY,
                                       round_id=ROUND)
    assert not (await apis.scoring.ComputeResults(compute, metadata=org)).changed
    # on the evaluation's last day the penalty dated that day counts; the other not
    judged = await apis.scoring.GetEligibility(eligibility, metadata=org)
    [penalty] = [v for v in judged.verdicts if v.rule == "no_penalty_within_years"]
    assert not judged.eligible and list(penalty.entries_counted) == ["pen-1231"]

    async def noted() -> bool:
        got = await apis.review.GetRound(rv.GetRoundRequest(round_id=ROUND), metadata=org)
        return bool(got.latest_result_version == ranking.version)

    await until(noted, "review noting the result")

    def decide(nid: str) -> Awaitable[Any]:
        return apis.review.RecordDecision(rv.RecordDecisionRequest(
            round_id=ROUND, nomination_id=nid, outcome="tier", tier="awarded",
            reason="达到获奖分数线", result_version=ranking.version), metadata=org)

    for entry in ranking.entries:
        await decide(entry.nomination_id)
    publish = rv.PublishResultsRequest(round_id=ROUND)
    await refused(apis.review.PublishResults(publish, metadata=org), FORUMS)

    await stack.clock(at(2022, 1, 1))
    await refused(decide(ranking.entries[0].nomination_id), EVALUATION)
    await refused(apis.scoring.ComputeResults(compute, metadata=org), EVALUATION)
    judged = await apis.scoring.GetEligibility(eligibility, metadata=org)
    [penalty] = [v for v in judged.verdicts if v.rule == "no_penalty_within_years"]
    assert list(penalty.entries_counted) == ["pen-1231"]  # the window ends 2021-12-31
    with pytest.raises(grpc.aio.AioRpcError) as raised:  # co-organizes no forums
        await apis.review.PublishResults(publish, metadata=md(NEWSPAPER))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "its organizers are from henan-center" in (raised.value.details() or "")
    published = await apis.review.PublishResults(publish, metadata=org)
    assert published.decisions == len(ranking.entries)

    async def batch() -> npb.NotificationBatch | None:
        found = await apis.notification.ListPendingBatches(
            npb.ListPendingBatchesRequest(campaign_id=CAMPAIGN), metadata=org)
        return next((b for b in found.batches if b.kind == "results"), None)

    results = await until(batch, "notification holding the results")
    approve = npb.ApproveNotificationBatchRequest(batch_id=results.batch_id)

    # -- the forums close after 2022-01-31 --------------------------------------------
    starts = Timestamp()
    starts.FromDatetime(datetime(2022, 1, 20, 1, 0, tzinfo=UTC))
    forum = rv.IssueForumInvitationsRequest(
        forum_id="forum-warm", campaign_id=CAMPAIGN, grouping="theme", label="暖心服务",
        title="改善医疗服务经验交流会", starts_at=starts, venue="郑州",
        round_ids=[ROUND], categories=[CATEGORY])
    await stack.clock(at(2022, 2, 1))
    await refused(apis.notification.ApproveNotificationBatch(approve, metadata=org),
                  FORUMS)
    await refused(apis.review.IssueForumInvitations(forum, metadata=org), FORUMS)
    await stack.clock(at(2022, 1, 31, 23, 59, 59))
    approved = await apis.notification.ApproveNotificationBatch(approve, metadata=org)
    assert approved.released == len(ranking.entries)
    invited = await apis.review.IssueForumInvitations(forum, metadata=org)
    assert sorted(invited.nomination_ids) == sorted(e.nomination_id
                                                    for e in ranking.entries)
