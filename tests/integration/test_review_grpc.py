"""Review over real gRPC sockets on a real store (a SQLite file, PostgreSQL).

The service is built by its own bootstrap and served on a loopback port;
intake's and scoring's events are handed to its reactions as its Kafka
subscriber would (the broker path is the e2e test's). Checked as a caller sees it:
reviewers and a panel, assignment that excludes a conflict and explains it, a
recusal reassigned, blind review, refusals that store nothing, the round
closed, reminders recorded as events, decisions and publication.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import grpc
import pytest
import sqlalchemy
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.auth import call_metadata
from laurel.config import load_settings
from laurel.envelope import Actor, RecordedEvent
from laurel.grpcutil import client_channel, violations_of
from laurel.review.bootstrap import ReviewRuntime, build
from laurel.review.domain.events import reviewers_stream, round_stream
from laurel.review.reactions import Reactions
from laurel.review.settings import ReviewSettings
from laurel.review.v1 import review_pb2 as pb
from laurel.review.v1 import review_pb2_grpc

ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")
ROUND = "warm-r1"
CATEGORY = "warm_service_post"
CRITERIA = ("warm_service", "supporting_cases", "achievements")
REVIEWERS = [
    ("mgr-1", "zhengzhou-central", "zhengzhou", "hospital_manager"),
    ("mgr-2", "luoyang-central", "luoyang", "hospital_manager"),
    ("mgr-3", "anyang-central", "anyang", "hospital_manager"),
    ("exp-1", "henan-university", "", "industry_expert"),
    ("exp-2", "zzu-school", "", "industry_expert"),
    ("exp-3", "xxmu", "", "industry_expert"),
    ("media-1", "health-news", "", "media"),
]
POSTS = {"post-1": ("zhengzhou-peoples", "zhengzhou"),
         "post-2": ("kaifeng-peoples", "kaifeng"),
         "post-3": ("xinxiang-peoples", "xinxiang")}


BEIJING = timezone(timedelta(hours=8))
# The campaign clock, as intake announces it: henan-2021's expert evaluation
# (2021-12), then its forums and awards (2022-01).
EVALUATION = datetime(2021, 12, 10, 9, 0, tzinfo=BEIJING)
FORUMS = datetime(2022, 1, 10, 9, 0, tzinfo=BEIJING)


def md(actor_id: str = "", role: str = "reviewer") -> tuple[tuple[str, str], ...]:
    return call_metadata(Actor(actor_id, role, "") if actor_id else ORGANIZER)


@dataclass
class Served:
    runtime: ReviewRuntime
    reactions: Reactions
    stub: review_pb2_grpc.ReviewServiceStub

    def deliver(self, type_: str, payload: dict[str, Any], source: str) -> None:
        event = RecordedEvent(
            position=1, event_id=str(uuid.uuid4()), stream_id=f"{source}-x",
            version=1, type=type_, schema_version=1, payload=payload,
            metadata={"actor": {"id": source, "role": "service"},
                      "correlation_id": "c-1"},
            recorded_at="2021-11-20T08:00:00.000000Z", prev_hash="0" * 64,
            hash="f" * 64)
        if source == "intake":
            self.reactions.on_intake_event(event)
        else:
            self.reactions.on_scoring_event(event)

    def campaign_clock(self, moment: datetime) -> None:
        """Intake's CampaignClockSet, as its topic brings it."""
        self.deliver("CampaignClockSet", {"campaign_id": "henan-2021",
                                          "now": moment.isoformat()}, "intake")

    async def assigned(self, nid: str) -> dict[str, str]:
        found = await self.stub.ExplainAssignment(
            pb.ExplainAssignmentRequest(round_id=ROUND, nomination_id=nid),
            metadata=md())
        return {x.reviewer_id: x.group for x in found.lines if x.status == "assigned"}


@pytest.fixture
async def review(database_url: str, tmp_path) -> AsyncIterator[Served]:  # noqa: ANN001
    env = {"LAUREL_ENV": "development", "LAUREL_GRPC_HOST": "127.0.0.1",
           "LAUREL_GRPC_PORT": "0", "LAUREL_DATA_DIR": str(tmp_path),
           "LAUREL_DATABASE_URL": database_url,
           "LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9",  # never dialled: no Kafka here
           "LAUREL_REVIEW_REMINDER_POLL_S": "0"}
    settings = load_settings("review", env)
    assert isinstance(settings, ReviewSettings)
    runtime = await build(settings, with_kafka=False)
    await runtime.start()
    channel = client_channel(f"127.0.0.1:{runtime.grpc.port}")
    served = Served(runtime, runtime.app.reactions,
                    review_pb2_grpc.ReviewServiceStub(channel))
    try:
        served.campaign_clock(EVALUATION)
        for nid, (hospital, jurisdiction) in POSTS.items():
            served.deliver("NominationSubmitted", {
                "nomination_id": nid, "campaign_id": "henan-2021",
                "category": CATEGORY,
                "nominee": {"kind": "department", "name": f"{nid} ward",
                            "organization_id": f"{hospital}-ward"},
                "hospital_id": hospital, "jurisdiction_id": jurisdiction,
                "fields": {"department_name": f"{nid} ward"}}, "intake")
            served.deliver("NominationReceived", {"nomination_id": nid}, "intake")
        for rid, org, jurisdiction, group in REVIEWERS:
            await served.stub.RegisterReviewer(pb.RegisterReviewerRequest(
                reviewer_id=rid, name=rid, organization_id=org,
                jurisdiction_id=jurisdiction, group=group,
                email=f"{rid}@example.invalid", language="zh"), metadata=md())
        await served.stub.FormPanel(pb.FormPanelRequest(
            campaign_id="henan-2021", category=CATEGORY, round_id=ROUND,
            members=[r[0] for r in REVIEWERS], seed="seed-1"), metadata=md())
        yield served
    finally:
        await channel.close()
        await runtime.stop()


def deadline(days: int = 7) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + timedelta(days=days))
    return stamp


def scores(value: object = 85) -> dict[str, str]:
    return dict.fromkeys(CRITERIA, str(value))


async def test_assignment_conflicts_recusal_and_explanation(review: Served) -> None:
    await review.stub.DeclareConflict(pb.DeclareConflictRequest(
        reviewer_id="exp-1", subject_id="post-2", reason="former colleague"),
        metadata=md("exp-1"))
    # The reviewers' one stream goes out keyed by it: one partition, in order.
    published = [(e.event.version, e.key) for e in review.runtime.store.unpublished()
                 if e.event.stream_id == reviewers_stream()]
    assert published == [(v, "reviewers") for v in range(1, len(REVIEWERS) + 2)]
    made = await review.stub.AssignReviewers(
        pb.AssignReviewersRequest(round_id=ROUND), metadata=md())
    assert len(made.assignments) == 3 * 5  # the campaign's mix: 2 + 2 + 1
    post_1 = await review.assigned("post-1")
    assert "mgr-1" not in post_1  # same jurisdiction as the nominee
    assert sorted(post_1.values()) == ["hospital_manager"] * 2 + [
        "industry_expert"] * 2 + ["media"]
    assert "exp-1" not in await review.assigned("post-2")  # declared
    explained = await review.stub.ExplainAssignment(
        pb.ExplainAssignmentRequest(round_id=ROUND, nomination_id="post-1"),
        metadata=md())
    mgr_1 = next(x for x in explained.lines if x.reviewer_id == "mgr-1")
    assert mgr_1.status == "conflict" and "zhengzhou" in mgr_1.reason
    loads: dict[str, int] = {}
    for a in made.assignments:
        loads[a.reviewer_id] = loads.get(a.reviewer_id, 0) + 1
    experts = [loads.get(r, 0) for r in ("exp-1", "exp-2", "exp-3")]
    assert max(experts) - min(experts) <= 1  # balanced within a group

    expert = next(r for r, g in (await review.assigned("post-3")).items()
                  if g == "industry_expert")
    recused = await review.stub.Recuse(pb.RecuseRequest(
        round_id=ROUND, nomination_id="post-3", reason="my brother works there"),
        metadata=md(expert))
    assert recused.replacement.replaces == expert
    now = await review.assigned("post-3")
    assert expert not in now and recused.replacement.reviewer_id in now
    assert recused.replacement.group == "industry_expert"


async def test_blind_review_refusals_and_round_close(review: Served) -> None:
    await review.stub.AssignReviewers(pb.AssignReviewersRequest(round_id=ROUND),
                                      metadata=md())
    await review.stub.OpenRound(pb.OpenRoundRequest(round_id=ROUND,
                                                    deadline=deadline()),
                                metadata=md())
    on_post_2 = await review.assigned("post-2")
    first, second = sorted(on_post_2)[:2]
    outsider = next(r for r, *_ in REVIEWERS if r not in on_post_2)
    mine = await review.stub.ListMyAssignments(pb.ListMyAssignmentsRequest(),
                                               metadata=md(outsider))
    assert "post-2" not in {a.nomination_id for a in mine.assignments}
    store = review.runtime.store
    before = store.last_position()
    refusals = [
        (review.stub.GetNominationForReview(pb.GetNominationForReviewRequest(
            round_id=ROUND, nomination_id="post-2"), metadata=md(outsider)),
         grpc.StatusCode.NOT_FOUND),
        (review.stub.SubmitReview(pb.SubmitReviewRequest(
            round_id=ROUND, nomination_id="post-2", scores=scores()),
            metadata=md(outsider)), grpc.StatusCode.PERMISSION_DENIED),
        (review.stub.SubmitReview(pb.SubmitReviewRequest(
            round_id=ROUND, nomination_id="post-2", scores=scores(101)),
            metadata=md(first)), grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for call, code in refusals:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == code
    assert {f for f, _ in violations_of(raised.value)} == {
        f"scores[{c}]" for c in CRITERIA}
    assert store.last_position() == before

    await review.stub.SubmitReview(pb.SubmitReviewRequest(
        round_id=ROUND, nomination_id="post-2", scores=scores(90)), metadata=md(first))
    blind = await review.stub.GetReviews(pb.GetReviewsRequest(
        round_id=ROUND, nomination_id="post-2"), metadata=md(second))
    assert list(blind.reviews) == [] and blind.withheld == 1 and blind.withheld_reason
    await review.stub.SubmitReview(pb.SubmitReviewRequest(
        round_id=ROUND, nomination_id="post-2", scores=scores("80.5")),
        metadata=md(second))
    own_only = await review.stub.GetReviews(pb.GetReviewsRequest(
        round_id=ROUND, nomination_id="post-2"), metadata=md(second))
    assert [f.reviewer_id for f in own_only.reviews] == [second]
    assert own_only.withheld == 1  # still blind: the round is open

    # A close from a round version someone has moved past is refused.
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await review.stub.CloseRound(pb.CloseRoundRequest(
            round_id=ROUND, reason="all in", expected_version=1), metadata=md())
    assert stale.value.code() == grpc.StatusCode.ABORTED
    assert "version 1" in stale.value.details()
    closed = await review.stub.CloseRound(pb.CloseRoundRequest(
        round_id=ROUND, reason="all in"), metadata=md())
    assert closed.closed and closed.early and len(closed.outstanding) == 15 - 2
    seen = await review.stub.GetReviews(pb.GetReviewsRequest(
        round_id=ROUND, nomination_id="post-2"), metadata=md(second))
    assert sorted(f.reviewer_id for f in seen.reviews) == sorted([first, second])
    before = store.last_position()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await review.stub.SubmitReview(pb.SubmitReviewRequest(
            round_id=ROUND, nomination_id="post-2", scores=scores(70)),
            metadata=md(first))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert ("round_closed" in dict(violations_of(raised.value)))
    assert store.last_position() == before


async def test_reminders_decisions_and_publication(review: Served) -> None:
    await review.stub.AssignReviewers(pb.AssignReviewersRequest(round_id=ROUND),
                                      metadata=md())
    await review.stub.OpenRound(pb.OpenRoundRequest(round_id=ROUND,
                                                    deadline=deadline(2)),
                                metadata=md())
    sent = review.runtime.app.send_due_reminders()
    assert sent > 0 and review.runtime.app.send_due_reminders() == 0
    due = [e for e in review.runtime.store.unpublished()
           if e.event.type == "ReviewDeadlineReminderDue"]
    assert len(due) == sent and {e.key for e in due} == {ROUND}
    assert all(e.event.payload["nomination_ids"] for e in due)

    await review.stub.CloseRound(pb.CloseRoundRequest(round_id=ROUND), metadata=md())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await review.stub.RecordDecision(pb.RecordDecisionRequest(
            round_id=ROUND, nomination_id="post-1", outcome="award", reason="x"),
            metadata=md())
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    review.deliver("ResultComputed", {
        "round_id": ROUND, "campaign_id": "henan-2021", "category": CATEGORY,
        "version": 1, "ineligible": {"post-3": {"rules": [], "reason": "complaint"}},
        "entries": [{"rank": i + 1, "nomination_id": nid, "score_display": "90",
                     "tier": "awarded"} for i, nid in enumerate(["post-1", "post-2"])]},
        "scoring")
    review.deliver("EligibilityVerdictRecorded", {
        "nomination_id": "post-3", "rule": "no_complaint_within_years",
        "decision": "ineligible", "reason": "1 complaint(s): c-7",
        "parameters": {}}, "scoring")
    got = await review.stub.GetRound(pb.GetRoundRequest(round_id=ROUND), metadata=md())
    assert got.latest_result_version == 1 and list(got.ineligible_nomination_ids) == [
        "post-3"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await review.stub.RecordDecision(pb.RecordDecisionRequest(
            round_id=ROUND, nomination_id="post-3", outcome="tier", tier="awarded",
            reason="x"), metadata=md())
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "c-7" in raised.value.details()
    for nid, outcome, tier in (("post-1", "tier", "awarded"),
                               ("post-2", "tier", "awarded"),
                               ("post-3", "not_awarded", "")):
        await review.stub.RecordDecision(pb.RecordDecisionRequest(
            round_id=ROUND, nomination_id=nid, outcome=outcome, tier=tier,
            reason="on result v1"), metadata=md())
    review.campaign_clock(FORUMS)
    published = await review.stub.PublishResults(
        pb.PublishResultsRequest(round_id=ROUND), metadata=md())
    assert (published.result_version, published.decisions) == (1, 3)
    [event] = [e.event for e in review.runtime.store.unpublished()
               if e.event.type == "ResultsPublished"]
    assert {d["nomination_id"]: d["tier"] for d in event.payload["decisions"]} == {
        "post-1": "awarded", "post-2": "awarded", "post-3": ""}


async def publish_round(review: Served) -> None:
    """Close the round, take scoring's result 1, award post-1 and post-2, publish."""
    await review.stub.AssignReviewers(pb.AssignReviewersRequest(round_id=ROUND),
                                      metadata=md())
    await review.stub.OpenRound(pb.OpenRoundRequest(round_id=ROUND, deadline=deadline()),
                                metadata=md())
    await review.stub.CloseRound(pb.CloseRoundRequest(round_id=ROUND), metadata=md())
    review.deliver("ResultComputed", {
        "round_id": ROUND, "campaign_id": "henan-2021", "category": CATEGORY,
        "version": 1, "ineligible": {},
        "entries": [{"rank": i + 1, "nomination_id": nid, "score_display": "90",
                     "tier": "awarded"} for i, nid in enumerate(POSTS)]}, "scoring")
    for nid, outcome, tier in (("post-1", "tier", "awarded"),
                               ("post-2", "tier", "awarded"),
                               ("post-3", "not_awarded", "")):
        await review.stub.RecordDecision(pb.RecordDecisionRequest(
            round_id=ROUND, nomination_id=nid, outcome=outcome, tier=tier,
            reason="on result v1"), metadata=md())
    review.campaign_clock(FORUMS)


def forum(grouping: str, **selection: list[str]) -> pb.IssueForumInvitationsRequest:
    starts = Timestamp()
    starts.FromDatetime(datetime(2022, 1, 15, 9, 0, tzinfo=UTC))
    return pb.IssueForumInvitationsRequest(
        forum_id=f"forum-{grouping}", campaign_id="henan-2021", grouping=grouping,
        label="豫北片区" if grouping == "region" else "温馨服务", title="改善医疗服务经验交流会",
        starts_at=starts, venue="郑州市金水区", round_ids=[ROUND], **selection)


async def test_forum_invitations_go_to_published_winners_by_region_and_theme(
    review: Served,
) -> None:
    await publish_round(review)
    before = review.runtime.store.last_position()
    with pytest.raises(grpc.aio.AioRpcError) as raised:  # results not published yet
        await review.stub.IssueForumInvitations(
            forum("theme", categories=[CATEGORY]), metadata=md())
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert [rule for rule, _ in violations_of(raised.value)] == ["results_not_published"]
    assert review.runtime.store.last_position() == before

    await review.stub.PublishResults(pb.PublishResultsRequest(round_id=ROUND),
                                     metadata=md())
    # post-3 was not awarded, so a region holding only it has nobody to invite.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await review.stub.IssueForumInvitations(
            forum("region", jurisdiction_ids=["xinxiang"]), metadata=md())
    assert [rule for rule, _ in violations_of(raised.value)] == ["no_invitees"]

    region = await review.stub.IssueForumInvitations(
        forum("region", jurisdiction_ids=["kaifeng", "xinxiang"]), metadata=md())
    assert list(region.nomination_ids) == ["post-2"]
    theme = await review.stub.IssueForumInvitations(
        forum("theme", categories=[CATEGORY]), metadata=md())
    assert list(theme.nomination_ids) == ["post-1", "post-2"]

    with pytest.raises(grpc.aio.AioRpcError) as raised:  # once per forum
        await review.stub.IssueForumInvitations(
            forum("theme", categories=[CATEGORY]), metadata=md())
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        bad = forum("theme", categories=[CATEGORY])
        bad.forum_id, bad.venue = "forum-2", ""
        bad.ClearField("starts_at")
        await review.stub.IssueForumInvitations(bad, metadata=md())
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in violations_of(raised.value)} == {"venue", "starts_at"}
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await review.stub.IssueForumInvitations(
            forum("region", jurisdiction_ids=["kaifeng"]), metadata=md("exp-1"))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED

    [issued] = [e.event for e in review.runtime.store.unpublished()
                if e.event.type == "ForumInvitationsIssued" and
                e.event.payload["grouping"] == "region"]
    assert issued.payload["region"] == "豫北片区"
    assert issued.payload["starts_at"].startswith("2022-01-15T09:00")


async def test_an_organizer_of_another_campaign_runs_none_of_this_one(
    review: Served,
) -> None:
    other = call_metadata(Actor("organizer-hubei", "organizer", "hubei-center"))
    before = review.runtime.store.last_position()
    for call, request in (
        (review.stub.AssignReviewers, pb.AssignReviewersRequest(round_id=ROUND)),
        (review.stub.OpenRound, pb.OpenRoundRequest(round_id=ROUND, deadline=deadline())),
        (review.stub.CloseRound, pb.CloseRoundRequest(round_id=ROUND)),
        (review.stub.FormPanel, pb.FormPanelRequest(
            campaign_id="henan-2021", category=CATEGORY, round_id="warm-r2",
            members=[r[0] for r in REVIEWERS], seed="s")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(request, metadata=other)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED, call
        assert "is not for organizer-hubei" in raised.value.details()
        assert "its organizers are from henan-center" in raised.value.details()
    assert review.runtime.store.last_position() == before


async def test_a_reviewer_sees_only_their_part_of_a_round(review: Served) -> None:
    await review.stub.AssignReviewers(pb.AssignReviewersRequest(round_id=ROUND),
                                      metadata=md())
    await review.stub.OpenRound(pb.OpenRoundRequest(round_id=ROUND, deadline=deadline()),
                                metadata=md())
    whole = await review.stub.GetRound(pb.GetRoundRequest(round_id=ROUND), metadata=md())
    assert sorted(whole.nomination_ids) == sorted(POSTS)
    for reviewer_id, *_ in REVIEWERS:
        mine = await review.stub.ListMyAssignments(
            pb.ListMyAssignmentsRequest(round_id=ROUND), metadata=md(reviewer_id))
        assigned = {a.nomination_id for a in mine.assignments}
        if not assigned:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await review.stub.GetRound(pb.GetRoundRequest(round_id=ROUND),
                                           metadata=md(reviewer_id))
            assert raised.value.code() == grpc.StatusCode.NOT_FOUND
            continue
        seen = await review.stub.GetRound(pb.GetRoundRequest(round_id=ROUND),
                                          metadata=md(reviewer_id))
        assert set(seen.nomination_ids) == assigned
        assert not seen.outstanding and not seen.decisions
    with pytest.raises(grpc.aio.AioRpcError) as raised:  # a reviewer of no round
        await review.stub.GetRound(pb.GetRoundRequest(round_id=ROUND),
                                   metadata=md("reviewer-elsewhere"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_review_submitted_over_grpc_uses_one_database_connection(
    review: Served,
) -> None:
    """One unit of work per call: the round is read, the form decided and
    appended, its projection row written, all on one connection."""
    await review.stub.AssignReviewers(pb.AssignReviewersRequest(round_id=ROUND),
                                      metadata=md())
    await review.stub.OpenRound(pb.OpenRoundRequest(round_id=ROUND, deadline=deadline()),
                                metadata=md())
    first = sorted(await review.assigned("post-1"))[0]
    store = review.runtime.store
    before = store.last_position()
    taken: list[int] = []
    sqlalchemy.event.listen(store.engine, "checkout", lambda *args: taken.append(1))
    submitted = await review.stub.SubmitReview(pb.SubmitReviewRequest(
        round_id=ROUND, nomination_id="post-1", scores=scores(90)), metadata=md(first))
    assert (submitted.form_version, submitted.changed) == (1, True)
    assert len(taken) == 1
    assert store.last_position() == before + 1



# More nominations for one round: (hospital, jurisdiction), none where a
# panel manager works, so each takes 2 managers, 2 experts and 1 media.
MORE_POSTS = {f"post-{n}": (f"{city}-{n}-hospital", city)
              for n, city in enumerate(["kaifeng", "xinxiang", "xuchang", "nanyang",
                                        "shangqiu", "zhoukou", "xinyang", "puyang",
                                        "jiaozuo"], start=4)}


async def test_concurrent_reviews_of_one_round_are_all_recorded_none_aborted(
    review: Served,
) -> None:
    """Every SubmitReview appends to the round's one stream. Many reviewers
    scoring at once over real gRPC (client threads, each call its own unit of
    work in the service's worker threads) overtake each other between a
    unit's read of the round and its write: the service decides again on
    the fresh round, and no caller (none sends an expected version) sees
    ABORTED. Each form is recorded exactly once. A caller who does send the
    version they read is still refused with ABORTED once the round moved."""
    for nid, (hospital, jurisdiction) in MORE_POSTS.items():
        review.deliver("NominationSubmitted", {
            "nomination_id": nid, "campaign_id": "henan-2021", "category": CATEGORY,
            "nominee": {"kind": "department", "name": f"{nid} ward",
                        "organization_id": f"{hospital}-ward"},
            "hospital_id": hospital, "jurisdiction_id": jurisdiction,
            "fields": {"department_name": f"{nid} ward"}}, "intake")
        review.deliver("NominationReceived", {"nomination_id": nid}, "intake")
    await review.stub.AssignReviewers(pb.AssignReviewersRequest(round_id=ROUND),
                                      metadata=md())
    opened = await review.stub.OpenRound(
        pb.OpenRoundRequest(round_id=ROUND, deadline=deadline()), metadata=md())
    work = [(nid, rid) for nid in [*POSTS, *MORE_POSTS]
            for rid in await review.assigned(nid)]
    assert len(work) == 5 * (len(POSTS) + len(MORE_POSTS))

    address = f"127.0.0.1:{review.runtime.grpc.port}"
    local = threading.local()

    def submit(nid: str, rid: str) -> tuple[str, str, Any]:
        if not hasattr(local, "stub"):  # one channel per client thread
            local.stub = review_pb2_grpc.ReviewServiceStub(
                grpc.insecure_channel(address))
        try:
            reply = local.stub.SubmitReview(pb.SubmitReviewRequest(
                round_id=ROUND, nomination_id=nid, scores=scores(90)),
                metadata=md(rid), timeout=60)
            return nid, rid, (reply.form_version, reply.changed)
        except grpc.RpcError as error:
            return nid, rid, error.code()

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=16) as clients:
        outcomes = await asyncio.gather(*(loop.run_in_executor(clients, submit, *w)
                                          for w in work))
    refused = [(nid, rid, o) for nid, rid, o in outcomes if o != (1, True)]
    assert refused == []

    recorded = [e for e in review.runtime.store.read_stream(round_stream(ROUND))
                if e.type == "ReviewScoreRecorded"]
    assert sorted((e.payload["nomination_id"], e.payload["reviewer_id"])
                  for e in recorded) == sorted(work)  # each exactly once
    assert {e.payload["form_version"] for e in recorded} == {1}

    with pytest.raises(grpc.aio.AioRpcError) as stale:  # a caller's own version
        await review.stub.CloseRound(pb.CloseRoundRequest(
            round_id=ROUND, expected_version=opened.version), metadata=md())
    assert stale.value.code() == grpc.StatusCode.ABORTED
    closed = await review.stub.CloseRound(pb.CloseRoundRequest(round_id=ROUND),
                                          metadata=md())
    assert closed.closed and not closed.outstanding
