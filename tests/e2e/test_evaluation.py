"""The expert-evaluation stage through the real broker: scoring and review as
they run, real gRPC sockets, real SQLite files, a real Tansu broker.

Intake's part is its log: the events intake records for received nominations
(as `laurel.intake.domain` names them) are appended to a real event store and
published by the real outbox relay onto intake's topic. From there everything
travels as in production: scoring notes the nominations and decides their
eligibility, review assigns a panel, reviewers score blind over gRPC, a
complaint registered mid-stage flips one post (another, too old to count,
arrives on the compliance feed topic), closing the round makes scoring
compute a trimmed ranking, review decides on it and publishes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from kafka import KafkaProducer

from laurel.auth import call_metadata
from laurel.broker import ensure_topics
from laurel.config import KafkaSettings, load_settings
from laurel.envelope import Actor, EventMetadata, NewEvent
from laurel.eventstore import EventStore, Publication
from laurel.grpcutil import client_channel
from laurel.intake.domain import events as intake_events
from laurel.outbox import OutboxRelay
from laurel.review.bootstrap import build as build_review
from laurel.review.v1 import review_pb2 as rv
from laurel.review.v1 import review_pb2_grpc
from laurel.scoring.bootstrap import build as build_scoring
from laurel.scoring.v1 import scoring_pb2 as sc
from laurel.scoring.v1 import scoring_pb2_grpc

T = TypeVar("T")
BEIJING = timezone(timedelta(hours=8))
EVALUATION = datetime(2021, 12, 10, 9, 0, tzinfo=BEIJING)
FORUMS = datetime(2022, 1, 10, 9, 0, tzinfo=BEIJING)
ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")
HOTLINE = Actor("hotline-12320", "service", "health-hotline")
INTAKE = Actor("intake", "service", "")
CAMPAIGN, CATEGORY, ROUND = "henan-2021", "warm_service_post", "henan-2021-warm-r1"
CRITERIA = ("warm_service", "supporting_cases", "achievements")
# nomination -> (hospital, jurisdiction, the score every reviewer gives)
POSTS = {"post-4": ("anyang-peoples", "anyang", 82),  # submitted first: wins the tie
         "post-1": ("zhengzhou-peoples", "zhengzhou", 95),
         "post-2": ("kaifeng-peoples", "kaifeng", 88),
         "post-3": ("luoyang-peoples", "luoyang", 82),
         "post-5": ("xinxiang-peoples", "xinxiang", 90)}
# post-1's reviewers disagree, so trimming has something to drop.
SPREAD = [4, 2, 0, -2, -6]
REVIEWERS = [
    ("mgr-1", "zhengzhou-central", "zhengzhou", "hospital_manager"),  # post-1's commission
    ("mgr-2", "shangqiu-central", "shangqiu", "hospital_manager"),
    ("mgr-3", "nanyang-central", "nanyang", "hospital_manager"),
    ("exp-1", "henan-university", "", "industry_expert"),
    ("exp-2", "zzu-school", "", "industry_expert"),
    ("exp-3", "xxmu", "", "industry_expert"),
    ("media-1", "health-news", "", "media"),
    ("media-2", "henan-daily", "", "media"),
]


def as_reviewer(rid: str) -> tuple[tuple[str, str], ...]:
    return call_metadata(Actor(rid, "reviewer", ""))


async def until(check: Callable[[], Awaitable[T | None]], what: str,
                timeout: float = 30.0) -> T:
    """Poll `check` until it returns something truthy (over the broker: seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = await check()
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            found = None
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s")


async def in_stage(call: Callable[[], Awaitable[T]], what: str,
                   timeout: float = 30.0) -> T:
    """`call`, once the service noted the campaign clock intake moved: until
    then it refuses the act as out of stage (FAILED_PRECONDITION stage_window)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as error:
            if (error.code() != grpc.StatusCode.FAILED_PRECONDITION
                    or "campaign clock says" not in (error.details() or "")
                    or time.monotonic() > deadline):
                raise
        await asyncio.sleep(0.1)


def intake_log(url: str, topic: str) -> Callable[[str, str, dict], None]:
    """Intake's events, recorded and published as intake's outbox would."""
    store = EventStore(url)
    store.create_schema()

    def record(type_: str, nid: str, payload: dict) -> None:
        store.append(f"nomination-{nid}", None, [NewEvent(type_, payload)],
                     EventMetadata(INTAKE, f"corr-{nid}"),
                     publish=Publication(topic))

    record.store = store  # type: ignore[attr-defined]
    return record


def set_campaign_clock(store: EventStore, topic: str, moment: datetime) -> None:
    """Intake's CampaignClockSet, recorded and published as intake records it."""
    stream = f"campaign-clock-{CAMPAIGN}"
    store.append(stream, None, [NewEvent("CampaignClockSet", {
        "campaign_id": CAMPAIGN, "now": moment.isoformat()})],
        EventMetadata(ORGANIZER, f"clock-{moment.isoformat()}"),
        publish=Publication(topic))


async def test_henan_warm_service_posts_from_receipt_to_published_results(
    service_env: dict[str, str], tmp_path,  # noqa: ANN001
) -> None:
    env = {**service_env, "LAUREL_REVIEW_REMINDER_POLL_S": "0",
           "LAUREL_TOPIC_COMPLIANCE": service_env["LAUREL_TOPIC_INTAKE"] + ".compliance"}
    kafka = KafkaSettings(bootstrap=env["LAUREL_KAFKA_BOOTSTRAP"])
    ensure_topics(kafka, [env["LAUREL_TOPIC_COMPLIANCE"]])
    scoring = await build_scoring(load_settings("scoring", env))
    review = await build_review(load_settings("review", env))
    await asyncio.gather(scoring.start(), review.start())
    channels = [client_channel(f"127.0.0.1:{s.grpc.port}") for s in (scoring, review)]
    score_api = scoring_pb2_grpc.ScoringServiceStub(channels[0])
    review_api = review_pb2_grpc.ReviewServiceStub(channels[1])
    org = call_metadata(ORGANIZER)
    record = intake_log(f"sqlite:///{tmp_path / 'intake.sqlite'}", env["LAUREL_TOPIC_INTAKE"])
    relay = OutboxRelay(record.store, kafka)  # type: ignore[attr-defined]
    try:
        # -- the campaign clock: henan-2021's expert evaluation (2021-12) ---------
        set_campaign_clock(record.store, env["LAUREL_TOPIC_INTAKE"],  # type: ignore[attr-defined]
                           EVALUATION)
        # -- intake: five posts received by the center -------------------------
        for nid, (hospital, jurisdiction, _) in POSTS.items():
            record("NominationSubmitted", nid, {
                "nomination_id": nid, "campaign_id": CAMPAIGN, "category": CATEGORY,
                "nominee": {"kind": "department", "name": f"{nid} 科室",
                            "organization_id": f"{hospital}-ward"},
                "hospital_id": hospital, "jurisdiction_id": jurisdiction,
                "route": {"to": "center", "organization_id": ""},
                "fields": {"department_name": f"{nid} 科室"}})
            record("EvidenceAttached", nid, {"nomination_id": nid, "kind": "case",
                                             "sha256": "ab" * 32, "filename": "c.pdf",
                                             "media_type": "application/pdf",
                                             "size": 10})
            record("NominationReceived", nid, {"nomination_id": nid,
                                               "center_id": "henan-center"})
        assert await asyncio.to_thread(relay.publish_pending) == 3 * len(POSTS) + 1

        async def all_eligible() -> bool:
            for nid in POSTS:
                found = await score_api.GetEligibility(
                    sc.GetEligibilityRequest(nomination_id=nid), metadata=org)
                if not (found.evaluated and found.eligible):
                    return False
            return True

        await until(all_eligible, "scoring's verdicts on every post")

        # -- review: reviewers, a panel, assignment without conflicts -------------
        for rid, organization, jurisdiction, group in REVIEWERS:
            await review_api.RegisterReviewer(rv.RegisterReviewerRequest(
                reviewer_id=rid, name=rid, organization_id=organization,
                jurisdiction_id=jurisdiction, group=group), metadata=org)
        await in_stage(lambda: review_api.FormPanel(rv.FormPanelRequest(
            campaign_id=CAMPAIGN, category=CATEGORY, round_id=ROUND,
            members=[r[0] for r in REVIEWERS], seed=ROUND), metadata=org),
            "review keeping to the evaluation's clock")

        async def assigned() -> list:
            try:
                made = await review_api.AssignReviewers(rv.AssignReviewersRequest(
                    round_id=ROUND, nomination_ids=list(POSTS)), metadata=org)
            except grpc.aio.AioRpcError as error:  # intake's events still in flight
                if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    return []
                raise
            return list(made.assignments)

        made = await until(assigned, "review knowing the received posts")
        assert len({a.nomination_id for a in made}) == len(POSTS)
        explained = await review_api.ExplainAssignment(rv.ExplainAssignmentRequest(
            round_id=ROUND, nomination_id="post-1"), metadata=org)
        lines = {x.reviewer_id: x for x in explained.lines}
        assert lines["mgr-1"].status == "conflict"
        assert {r for r, x in lines.items() if x.status == "assigned"} >= {"mgr-2",
                                                                           "mgr-3"}
        deadline = Timestamp()
        deadline.FromDatetime(datetime.now(UTC) + timedelta(days=7))
        await review_api.OpenRound(rv.OpenRoundRequest(round_id=ROUND,
                                                       deadline=deadline), metadata=org)
        on_post_2 = [x.reviewer_id for x in (await review_api.ExplainAssignment(
            rv.ExplainAssignmentRequest(round_id=ROUND, nomination_id="post-2"),
            metadata=org)).lines if x.status == "assigned" and x.group == "media"]
        recused = await review_api.Recuse(rv.RecuseRequest(
            round_id=ROUND, nomination_id="post-2", reason="I wrote about this ward"),
            metadata=as_reviewer(on_post_2[0]))
        assert recused.replacement.replaces == on_post_2[0]
        assert recused.replacement.group == "media"

        # -- a complaint mid-stage flips post-5 ----------------------------------------
        ack = await score_api.RecordComplaint(sc.RecordComplaintRequest(
            entry_id="c-7", subject_kind="department",
            subject_id="xinxiang-peoples-ward", occurred_on="2021-06-05",
            source="12320 hotline", summary="rude to a patient's family"),
            metadata=call_metadata(HOTLINE))
        assert list(ack.reevaluated_nomination_ids) == ["post-5"]
        verdicts = await score_api.GetEligibility(
            sc.GetEligibilityRequest(nomination_id="post-5"), metadata=org)
        [flipped] = [v for v in verdicts.verdicts if v.decision == "ineligible"]
        assert flipped.rule == "no_complaint_within_years"
        assert list(flipped.entries_seen) == ["c-7"] and "c-7" in flipped.reason

        # -- the compliance feed over Kafka: an old complaint, outside the window ---
        feed = KafkaProducer(bootstrap_servers=kafka.bootstrap)
        feed.send(env["LAUREL_TOPIC_COMPLIANCE"], json.dumps({
            "kind": "complaint", "entry_id": "hotline-2015-3", "subject_kind":
            "department", "subject_id": "luoyang-peoples-ward",
            "occurred_on": "2015-03-01", "source": "12320 hotline",
            "summary": "long wait"}).encode()).get(timeout=10)
        feed.close()

        async def fed() -> list:
            found = await score_api.ListComplianceEntries(
                sc.ListComplianceEntriesRequest(subject_id="luoyang-peoples-ward"),
                metadata=org)
            return list(found.entries)

        [old] = await until(fed, "the feed's complaint in the registry")
        assert (old.entry_id, old.kind) == ("hotline-2015-3", "complaint")
        post_3 = await score_api.GetEligibility(
            sc.GetEligibilityRequest(nomination_id="post-3"), metadata=org)
        assert post_3.eligible  # six years before the evaluation: not counted
        [seen] = [v for v in post_3.verdicts if v.rule == "no_complaint_within_years"]
        assert (list(seen.entries_seen), list(seen.entries_counted)) == (
            ["hotline-2015-3"], [])

        # -- blind scoring --------------------------------------------------------------
        forms: dict[str, list[str]] = {}
        for a in sorted(made, key=lambda a: (a.nomination_id, a.reviewer_id)):
            forms.setdefault(a.nomination_id, []).append(a.reviewer_id)
        forms["post-2"] = [r for r in forms["post-2"] if r != recused.replacement.replaces]
        forms["post-2"].append(recused.replacement.reviewer_id)
        first, second = forms["post-2"][:2]
        for nid, reviewers in sorted(forms.items()):
            base = POSTS[nid][2]
            for i, rid in enumerate(sorted(reviewers)):
                value = base + (SPREAD[i] if nid == "post-1" else 0)
                if (nid, rid) == ("post-2", second):
                    blind = await review_api.GetReviews(rv.GetReviewsRequest(
                        round_id=ROUND, nomination_id=nid), metadata=as_reviewer(rid))
                    assert list(blind.reviews) == [] and blind.withheld >= 1
                await review_api.SubmitReview(rv.SubmitReviewRequest(
                    round_id=ROUND, nomination_id=nid,
                    scores=dict.fromkeys(CRITERIA, str(value))),
                    metadata=as_reviewer(rid))
        still_blind = await review_api.GetReviews(rv.GetReviewsRequest(
            round_id=ROUND, nomination_id="post-2"), metadata=as_reviewer(first))
        assert [f.reviewer_id for f in still_blind.reviews] == [first]

        # -- closing the round: scoring ranks what review recorded -------------------------
        closed = await review_api.CloseRound(rv.CloseRoundRequest(round_id=ROUND),
                                             metadata=org)
        assert closed.closed and list(closed.outstanding) == []
        asked = sc.GetRankingRequest(campaign_id=CAMPAIGN, category=CATEGORY,
                                     round_id=ROUND)
        ranking = await until(lambda: score_api.GetRanking(asked, metadata=org),
                              "scoring's ranking after the round closed")
        ranked = [e.nomination_id for e in ranking.entries]
        assert ranked[:2] == ["post-1", "post-2"] and set(ranked[2:]) == {"post-3",
                                                                        "post-4"}
        assert [e.tier for e in ranking.entries] == ["awarded"] * 4
        tie = ranking.entries[3]  # equal scores: the chain after the score decides
        assert tie.score == ranking.entries[2].score
        assert tie.decided_by in list(ranking.tie_break)[1:] and tie.explanation
        if tie.decided_by == "submitted_at":
            assert ranked[2:] == ["post-4", "post-3"]
        [excluded] = ranking.ineligible
        assert excluded.nomination_id == "post-5" and "c-7" in excluded.reason
        breakdown = await score_api.GetScoreBreakdown(sc.GetScoreBreakdownRequest(
            nomination_id="post-1", round_id=ROUND), metadata=org)
        assert len(breakdown.inputs) == 5 and len(breakdown.dropped) == 2
        assert {d.reason.split()[0] for d in breakdown.dropped} == {"highest",
                                                                     "lowest"}

        # -- decisions on the result review heard of, and publication -----------------------
        async def result_noted() -> rv.GetRoundResponse | None:
            got = await review_api.GetRound(rv.GetRoundRequest(round_id=ROUND),
                                            metadata=org)
            return got if got.latest_result_version == ranking.version else None

        round_ = await until(result_noted, "review noting scoring's result")
        assert "post-5" in round_.ineligible_nomination_ids
        for entry in ranking.entries:
            await review_api.RecordDecision(rv.RecordDecisionRequest(
                round_id=ROUND, nomination_id=entry.nomination_id, outcome="tier",
                tier="awarded", reason=f"rank {entry.rank}"), metadata=org)
        await review_api.RecordDecision(rv.RecordDecisionRequest(
            round_id=ROUND, nomination_id="post-5", outcome="not_awarded",
            reason="ineligible: complaint c-7"), metadata=org)
        # -- the forums and awards (2022-01): results are published ------------------
        set_campaign_clock(record.store, env["LAUREL_TOPIC_INTAKE"],  # type: ignore[attr-defined]
                           FORUMS)
        assert await asyncio.to_thread(relay.publish_pending) == 1
        published = await in_stage(lambda: review_api.PublishResults(
            rv.PublishResultsRequest(round_id=ROUND), metadata=org),
            "review keeping to the forums' clock")
        assert (published.result_version, published.decisions) == (ranking.version, 5)
        await until(lambda: asyncio.to_thread(
            lambda: review.store.pending_outbox_count() == 0),
            "review's events on the broker")
    finally:
        relay.close()
        record.store.close()  # type: ignore[attr-defined]
        for channel in channels:
            await channel.close()
        await review.stop()
        await scoring.stop()


# -- a rejected benchmark (issue 13): its hospital's leader leaves the ranking ----------

LEADER_CATEGORY, LEADER_ROUND = "quality_service_leader", "henan-2021-leader-r1"
LEADER_CRITERIA = ("leading_role", "achievements", "honors")
# hospital -> (jurisdiction, the leader's score from every reviewer)
HOSPITALS = {"anyang-peoples": ("anyang", 95), "kaifeng-peoples": ("kaifeng", 85)}


async def test_a_benchmark_rejected_by_the_center_takes_its_leader_out_of_the_ranking(
    service_env: dict[str, str], tmp_path,  # noqa: ANN001
) -> None:
    """Both hospitals' benchmarks and leaders are received and the leaders
    scored; the center then rejects anyang's benchmark (intake's
    NominationRejected, built by intake's own builder). Scoring hears it over
    the broker: anyang's leader becomes ineligible, and the ranking computed
    when the round closes holds kaifeng's leader only, anyang's among the
    ineligible although it scored higher."""
    env = {**service_env, "LAUREL_REVIEW_REMINDER_POLL_S": "0"}
    kafka = KafkaSettings(bootstrap=env["LAUREL_KAFKA_BOOTSTRAP"])
    scoring = await build_scoring(load_settings("scoring", env))
    review = await build_review(load_settings("review", env))
    await asyncio.gather(scoring.start(), review.start())
    channels = [client_channel(f"127.0.0.1:{s.grpc.port}") for s in (scoring, review)]
    score_api = scoring_pb2_grpc.ScoringServiceStub(channels[0])
    review_api = review_pb2_grpc.ReviewServiceStub(channels[1])
    org = call_metadata(ORGANIZER)
    topic = env["LAUREL_TOPIC_INTAKE"]
    record = intake_log(f"sqlite:///{tmp_path / 'intake.sqlite'}", topic)
    relay = OutboxRelay(record.store, kafka)  # type: ignore[attr-defined]
    try:
        set_campaign_clock(record.store, topic, EVALUATION)  # type: ignore[attr-defined]
        for hospital, (jurisdiction, _) in HOSPITALS.items():
            for nid, category, nominee in (
                    (f"bench-{hospital}", "ten_measures_benchmark",
                     {"kind": "hospital", "name": hospital, "organization_id": hospital}),
                    (f"leader-{hospital}", LEADER_CATEGORY,
                     {"kind": "manager", "name": "院长", "organization_id": hospital})):
                payload = {
                    "nomination_id": nid, "campaign_id": CAMPAIGN, "category": category,
                    "nominee": nominee, "hospital_id": hospital,
                    "jurisdiction_id": jurisdiction,
                    "route": {"to": "commission", "organization_id": jurisdiction},
                    "fields": {"hospital_name": hospital}}
                if category == "ten_measures_benchmark":
                    payload["self_assessment_total"] = 950
                record("NominationSubmitted", nid, payload)
                record("NominationReceived", nid, {"nomination_id": nid,
                                                   "center_id": "henan-center"})
        leaders = [f"leader-{h}" for h in HOSPITALS]
        assert await asyncio.to_thread(relay.publish_pending) == 1 + 4 * len(HOSPITALS)

        async def eligible(nid: str) -> bool:
            found = await score_api.GetEligibility(
                sc.GetEligibilityRequest(nomination_id=nid), metadata=org)
            return found.evaluated and found.eligible

        for nid in leaders:
            await until(lambda nid=nid: eligible(nid), f"scoring's verdicts on {nid}")

        # -- the leaders' round: a panel, assignments, every form scored -----------------
        for rid, organization, jurisdiction, group in REVIEWERS:
            await review_api.RegisterReviewer(rv.RegisterReviewerRequest(
                reviewer_id=rid, name=rid, organization_id=organization,
                jurisdiction_id=jurisdiction, group=group), metadata=org)
        await in_stage(lambda: review_api.FormPanel(rv.FormPanelRequest(
            campaign_id=CAMPAIGN, category=LEADER_CATEGORY, round_id=LEADER_ROUND,
            members=[r[0] for r in REVIEWERS], seed=LEADER_ROUND), metadata=org),
            "review keeping to the evaluation's clock")

        async def assigned() -> list:
            try:
                made = await review_api.AssignReviewers(rv.AssignReviewersRequest(
                    round_id=LEADER_ROUND, nomination_ids=leaders), metadata=org)
            except grpc.aio.AioRpcError as error:  # intake's events still in flight
                if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    return []
                raise
            return list(made.assignments)

        made = await until(assigned, "review knowing the received leaders")
        deadline = Timestamp()
        deadline.FromDatetime(datetime.now(UTC) + timedelta(days=7))
        await review_api.OpenRound(rv.OpenRoundRequest(round_id=LEADER_ROUND,
                                                       deadline=deadline), metadata=org)
        for a in made:
            score = HOSPITALS[a.nomination_id.removeprefix("leader-")][1]
            await review_api.SubmitReview(rv.SubmitReviewRequest(
                round_id=LEADER_ROUND, nomination_id=a.nomination_id,
                scores=dict.fromkeys(LEADER_CRITERIA, str(score))),
                metadata=as_reviewer(a.reviewer_id))

        # -- the center rejects anyang's benchmark ------------------------------------------
        rejection = intake_events.rejected(
            "bench-anyang-peoples", "henan-center", ["不符合申报条件"],
            "ten_measures_benchmark", "anyang-peoples")
        record(rejection.type, "bench-anyang-peoples", rejection.payload)
        assert await asyncio.to_thread(relay.publish_pending) == 1

        async def leader_out() -> list:
            found = await score_api.GetEligibility(sc.GetEligibilityRequest(
                nomination_id="leader-anyang-peoples"), metadata=org)
            return [v for v in found.verdicts if v.decision == "ineligible"]

        [verdict] = await until(leader_out, "scoring hearing of the rejection")
        assert verdict.rule == "requires_live_nomination"
        assert "anyang-peoples" in verdict.reason
        assert await eligible("leader-kaifeng-peoples")

        # -- closing the round: the ranking never places the ineligible leader ----------
        await review_api.CloseRound(rv.CloseRoundRequest(round_id=LEADER_ROUND),
                                    metadata=org)
        asked = sc.GetRankingRequest(campaign_id=CAMPAIGN, category=LEADER_CATEGORY,
                                     round_id=LEADER_ROUND)
        ranking = await until(lambda: score_api.GetRanking(asked, metadata=org),
                              "scoring's ranking after the round closed")
        assert [e.nomination_id for e in ranking.entries] == ["leader-kaifeng-peoples"]
        assert [e.tier for e in ranking.entries] == ["awarded"]
        [excluded] = ranking.ineligible
        assert excluded.nomination_id == "leader-anyang-peoples"
    finally:
        relay.close()
        record.store.close()  # type: ignore[attr-defined]
        for channel in channels:
            await channel.close()
        await review.stop()
        await scoring.stop()
