"""innovation-year, a hospital's own campaign, from its departments' and
wards' applications through the office's receipt to first, second and third
prizes, with its own organizers only (issue 16).

Everything is real: intake, scoring, review and notification with their own
SQLite stores and gRPC sockets over the real Tansu broker. The hospital is
registered as what it is (a county hospital with departments and wards, none
under a false kind); its departments and wards apply in the application stage
and its innovation office receives; the campaign clock is intake's
(`SetCampaignClock` by the leading group), and each move is awaited until
every consumer group committed past it on intake's topic.

What is checked: the management review group scores (the category's panel is
"one group of" the four professional groups, with three of its members; a
reviewer of the applying department does not score its project); the
novelty, difficulty and benefit criteria; the tiers first (1), second (2)
and third (3); the office and the hospital's leadership act, the Henan
center does not; and every boundary of the review and commendation stages
(2012-12-01 to 2012-12-31, Asia/Shanghai) at both sides in review, scoring
and notification. No stage of this campaign permits forum invitations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.auth import call_metadata
from laurel.campaigns import SHIPPED_DIR, load_catalog
from laurel.campaigns.specimen import specimen_fields
from laurel.config import load_settings
from laurel.demo import campaign_clock_request
from laurel.envelope import Actor
from laurel.grpcutil import client_channel
from laurel.intake.bootstrap import build as build_intake
from laurel.intake.v1 import intake_pb2 as ip
from laurel.intake.v1 import intake_pb2_grpc
from laurel.notification.bootstrap import build as build_notification
from laurel.notification.v1 import notification_pb2 as npb
from laurel.notification.v1 import notification_pb2_grpc
from laurel.review.bootstrap import build as build_review
from laurel.review.v1 import review_pb2 as rv
from laurel.review.v1 import review_pb2_grpc
from laurel.scoring.bootstrap import build as build_scoring
from laurel.scoring.v1 import scoring_pb2 as sc
from laurel.scoring.v1 import scoring_pb2_grpc

pytestmark = [pytest.mark.slow]
T = TypeVar("T")
BEIJING = timezone(timedelta(hours=8))
CAMPAIGN, CATEGORY = "innovation-year", "management_innovation"
ROUND = "innovation-year-management-r1"
HOSPITAL, COMMISSION = "xingan-peoples", "xingan"
OFFICE = Actor("office-1", "organizer", "xingan-peoples-innovation-office")
LEADERSHIP = Actor("president", "organizer", HOSPITAL)
HENAN = Actor("organizer-henan-1", "organizer", "henan-center")
REVIEW_STAGES = "2012-12-01 to 2012-12-31"
CRITERIA = ("novelty", "difficulty", "benefit")
# project -> (the department or ward applying, its kind, what each reviewer gives)
PROJECTS = {
    "proj-1": ("xingan-peoples-outpatient", "department", 95),
    "proj-2": ("xingan-peoples-finance", "department", 90),
    "proj-3": ("xingan-peoples-ward-3", "ward", 86),
    "proj-4": ("xingan-peoples-pharmacy", "department", 82),
    "proj-5": ("xingan-peoples-ward-7", "ward", 78),
    "proj-6": ("xingan-peoples-records", "department", 74),
    "proj-7": ("xingan-peoples-logistics", "department", 60),
}
# 管理组 and one of 护理组: reviewers are the hospital's own staff, each of a
# department; the finance department's reviewer may not score its project.
REVIEWERS = [
    ("mgmt-1", "xingan-peoples-admin", "management"),
    ("mgmt-2", "xingan-peoples-quality", "management"),
    ("mgmt-3", "xingan-peoples-hr", "management"),
    ("mgmt-4", "xingan-peoples-finance", "management"),
    ("nurse-1", "xingan-peoples-nursing", "nursing"),
]


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BEIJING)  # type: ignore[misc]


def nominator(department: str) -> Actor:
    return Actor(f"nominator-{department}", "nominator", department)


async def until(check: Callable[[], Awaitable[T | None]], what: str,
                timeout: float = 30.0) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            found = await check()
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            found = None
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.1)


async def refused(call: Awaitable[Any], code: grpc.StatusCode, *words: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == code, raised.value.details()
    for word in words:
        assert word in (raised.value.details() or ""), raised.value.details()


async def test_innovation_year_from_receipt_to_prizes_with_its_own_organizers(
    service_env: dict[str, str], tmp_path, broker_view: Any,  # noqa: ANN001
) -> None:
    env = {**service_env, "LAUREL_REVIEW_REMINDER_POLL_S": "0"}
    kafka = load_settings("intake", env).kafka
    intake_topic = env["LAUREL_TOPIC_INTAKE"]
    intake = await build_intake(load_settings("intake", env))
    scoring = await build_scoring(load_settings("scoring", env))
    review = await build_review(load_settings("review", env))
    notification = await build_notification(load_settings("notification", env))
    services = (intake, scoring, review, notification)
    await asyncio.gather(*(s.start() for s in services))
    channels = [client_channel(f"127.0.0.1:{s.grpc.port}") for s in services]
    intake_api = intake_pb2_grpc.IntakeServiceStub(channels[0])
    score_api = scoring_pb2_grpc.ScoringServiceStub(channels[1])
    review_api = review_pb2_grpc.ReviewServiceStub(channels[2])
    notify_api = notification_pb2_grpc.NotificationServiceStub(channels[3])
    office, leadership, henan = (call_metadata(a) for a in (OFFICE, LEADERSHIP, HENAN))
    innovation = load_catalog(SHIPPED_DIR)[CAMPAIGN]

    async def clock(moment: datetime) -> None:
        """Intake moves the clock; every consumer has noted it on return."""
        await intake_api.SetCampaignClock(campaign_clock_request(CAMPAIGN, moment),
                                          metadata=leadership)
        records = len(await asyncio.to_thread(broker_view.keys, kafka, intake_topic))
        for consumer in ("scoring", "review", "notification"):
            await broker_view.until_consumed(kafka, intake_topic, consumer, records)

    try:
        # -- the hospital as what it is: a county hospital, its departments and wards
        organizations = [
            {"organization_id": COMMISSION, "kind": "commission",
             "name": "新干县卫生健康委员会"},
            {"organization_id": HOSPITAL, "kind": "hospital", "name": "新干县人民医院",
             "jurisdiction_id": COMMISSION},
            *({"organization_id": unit, "kind": kind, "name": unit, "parent_id": HOSPITAL}
              for unit, kind, _ in PROJECTS.values())]
        for org in organizations:
            await intake_api.RegisterOrganization(ip.RegisterOrganizationRequest(**org),
                                                  metadata=leadership)
        # -- applications (2012-11): departments and wards apply, the office receives
        await clock(at(2012, 11, 20, 9))
        ids: dict[str, str] = {}
        for key, (unit, _, _) in PROJECTS.items():
            fields = specimen_fields(innovation.category(CATEGORY))
            fields.update(title=f"{key} 创新项目", department=unit)
            applied = await intake_api.SubmitNomination(ip.SubmitNominationRequest(
                campaign_id=CAMPAIGN, category=CATEGORY, fields=fields,
                nominee=ip.Nominee(kind="innovation_project", name=f"{key} 创新项目",
                                   organization_id=unit)),
                metadata=call_metadata(nominator(unit)))
            ids[key] = applied.nomination_id
        for nid in ids.values():
            await intake_api.ReceiveNomination(ip.ReceiveNominationRequest(
                nomination_id=nid), metadata=office)
        named = {nid: key for key, nid in ids.items()}
        for rid, organization, group in REVIEWERS:
            await review_api.RegisterReviewer(rv.RegisterReviewerRequest(
                reviewer_id=rid, name=rid, organization_id=organization, group=group),
                metadata=office)
        form_panel = rv.FormPanelRequest(
            campaign_id=CAMPAIGN, category=CATEGORY, round_id=ROUND,
            members=[r[0] for r in REVIEWERS if r[2] == "management"],
            mix={"management": 3}, seed=ROUND)

        # -- the review opens on 2012-12-01 --------------------------------------------
        await clock(at(2012, 11, 30, 23, 59, 59))
        await refused(review_api.FormPanel(form_panel, metadata=office),
                      grpc.StatusCode.FAILED_PRECONDITION, REVIEW_STAGES)
        await clock(at(2012, 12, 1))
        await refused(review_api.FormPanel(form_panel, metadata=henan),  # not theirs
                      grpc.StatusCode.PERMISSION_DENIED, "is not for organizer-henan-1",
                      "xingan-peoples-innovation-office")
        henan_mix = rv.FormPanelRequest()
        henan_mix.CopyFrom(form_panel)
        henan_mix.mix.clear()
        henan_mix.mix.update({"hospital_manager": 2, "media": 1})
        await refused(review_api.FormPanel(henan_mix, metadata=office),
                      grpc.StatusCode.INVALID_ARGUMENT, "one group scores")
        await review_api.FormPanel(form_panel, metadata=office)
        made = await until(lambda: review_api.AssignReviewers(rv.AssignReviewersRequest(
            round_id=ROUND, nomination_ids=list(ids.values())), metadata=office),
            "review knowing the received projects")
        by_project: dict[str, list[str]] = {}
        for a in made.assignments:
            assert a.group == "management"
            by_project.setdefault(a.nomination_id, []).append(a.reviewer_id)
        assert {named[n]: len(r) for n, r in by_project.items()} == dict.fromkeys(
            PROJECTS, 3)
        assert "mgmt-4" not in by_project[ids["proj-2"]]  # the finance department's own
        explained = await review_api.ExplainAssignment(rv.ExplainAssignmentRequest(
            round_id=ROUND, nomination_id=ids["proj-2"]), metadata=office)
        [own] = [x for x in explained.lines if x.reviewer_id == "mgmt-4"]
        assert own.status == "conflict" and "xingan-peoples-finance" in own.reason
        deadline = Timestamp()
        deadline.FromDatetime(datetime.now(UTC) + timedelta(days=7))
        await review_api.OpenRound(rv.OpenRoundRequest(round_id=ROUND, deadline=deadline),
                                   metadata=leadership)  # the leading group too
        forms = sorted((n, r) for n, rs in by_project.items() for r in rs)
        last = forms.pop()

        def score(nid: str, rid: str) -> Awaitable[Any]:
            value = str(PROJECTS[named[nid]][2])
            return review_api.SubmitReview(rv.SubmitReviewRequest(
                round_id=ROUND, nomination_id=nid, scores=dict.fromkeys(CRITERIA, value)),
                metadata=call_metadata(Actor(rid, "reviewer", "")))

        form = await review_api.GetNominationForReview(rv.GetNominationForReviewRequest(
            round_id=ROUND, nomination_id=last[0]),
            metadata=call_metadata(Actor(last[1], "reviewer", "")))
        assert sorted(c.key for c in form.criteria) == sorted(CRITERIA)
        for nid, rid in forms:
            await score(nid, rid)

        # -- the review and the commendation close after 2012-12-31 ----------------------
        await clock(at(2013, 1, 1))
        await refused(score(*last), grpc.StatusCode.FAILED_PRECONDITION, REVIEW_STAGES)
        await refused(review_api.CloseRound(rv.CloseRoundRequest(round_id=ROUND),
                                            metadata=office),
                      grpc.StatusCode.FAILED_PRECONDITION, REVIEW_STAGES)
        await clock(at(2012, 12, 31, 23, 59, 59))
        await score(*last)
        await review_api.CloseRound(rv.CloseRoundRequest(round_id=ROUND), metadata=office)
        asked = sc.GetRankingRequest(campaign_id=CAMPAIGN, category=CATEGORY,
                                     round_id=ROUND)
        ranking = await until(lambda: score_api.GetRanking(asked, metadata=office),
                              "scoring's ranking")
        assert [named[e.nomination_id] for e in ranking.entries] == list(PROJECTS)
        assert [e.tier for e in ranking.entries] == [
            "first", "second", "second", "third", "third", "third", ""]
        breakdown = await score_api.GetScoreBreakdown(sc.GetScoreBreakdownRequest(
            nomination_id=ids["proj-1"], round_id=ROUND), metadata=office)
        assert len(breakdown.inputs) == 3
        compute = sc.ComputeResultsRequest(campaign_id=CAMPAIGN, category=CATEGORY,
                                           round_id=ROUND)
        await refused(score_api.ComputeResults(compute, metadata=henan),
                      grpc.StatusCode.PERMISSION_DENIED)
        assert not (await score_api.ComputeResults(compute, metadata=office)).changed

        async def noted() -> bool:
            got = await review_api.GetRound(rv.GetRoundRequest(round_id=ROUND),
                                            metadata=office)
            return bool(got.latest_result_version == ranking.version)

        await until(noted, "review noting the result")

        def decide(entry: Any) -> Awaitable[Any]:
            outcome = "tier" if entry.tier else "not_awarded"
            return review_api.RecordDecision(rv.RecordDecisionRequest(
                round_id=ROUND, nomination_id=entry.nomination_id, outcome=outcome,
                tier=entry.tier, reason=f"第{entry.rank}名",
                result_version=ranking.version), metadata=office)

        await refused(review_api.RecordDecision(rv.RecordDecisionRequest(
            round_id=ROUND, nomination_id=ids["proj-1"], outcome="tier", tier="awarded",
            reason="x", result_version=ranking.version), metadata=office),
            grpc.StatusCode.INVALID_ARGUMENT)  # Henan's tier is not one of these
        for entry in ranking.entries:
            await decide(entry)

        await clock(at(2013, 1, 1))
        await refused(decide(ranking.entries[0]), grpc.StatusCode.FAILED_PRECONDITION,
                      REVIEW_STAGES)
        await refused(score_api.ComputeResults(compute, metadata=office),
                      grpc.StatusCode.FAILED_PRECONDITION, REVIEW_STAGES)
        publish = rv.PublishResultsRequest(round_id=ROUND)
        await refused(review_api.PublishResults(publish, metadata=office),
                      grpc.StatusCode.FAILED_PRECONDITION, REVIEW_STAGES)
        await clock(at(2012, 12, 31, 23, 59, 59))
        await refused(review_api.PublishResults(publish, metadata=henan),
                      grpc.StatusCode.PERMISSION_DENIED)
        published = await review_api.PublishResults(publish, metadata=office)
        assert published.decisions == len(PROJECTS)

        async def batch() -> npb.NotificationBatch | None:
            found = await notify_api.ListPendingBatches(
                npb.ListPendingBatchesRequest(campaign_id=CAMPAIGN), metadata=office)
            return next((b for b in found.batches if b.kind == "results"), None)

        results = await until(batch, "notification holding the results")
        approve = npb.ApproveNotificationBatchRequest(batch_id=results.batch_id)
        await refused(notify_api.ApproveNotificationBatch(approve, metadata=henan),
                      grpc.StatusCode.PERMISSION_DENIED)
        await clock(at(2013, 1, 1))
        await refused(notify_api.ApproveNotificationBatch(approve, metadata=office),
                      grpc.StatusCode.FAILED_PRECONDITION, REVIEW_STAGES)
        await clock(at(2012, 12, 31, 23, 59, 59))
        approved = await notify_api.ApproveNotificationBatch(approve, metadata=office)
        assert approved.released >= 1

        # the plan has no forums: no stage permits invitations
        starts = Timestamp()
        starts.FromDatetime(datetime(2012, 12, 28, 1, 0, tzinfo=UTC))
        await refused(review_api.IssueForumInvitations(rv.IssueForumInvitationsRequest(
            forum_id="forum-1", campaign_id=CAMPAIGN, grouping="theme", label="管理创新",
            title="表彰大会", starts_at=starts, venue="院礼堂", round_ids=[ROUND],
            categories=[CATEGORY]), metadata=office),
            grpc.StatusCode.FAILED_PRECONDITION, "no stage of this campaign permits it")
    finally:
        for channel in channels:
            await channel.close()
        for service in reversed(services):
            await service.stop()
