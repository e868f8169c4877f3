"""Scoring over real gRPC sockets on a real store (a SQLite file, PostgreSQL).

The service is built by its own bootstrap and served on a loopback port; the
events other services would send over Kafka are handed to its reactions (the
broker path is the e2e test's). What is checked is what a caller sees: the
compliance registry, verdicts that name rule, parameters and entries, a
complaint that flips a verdict, the trimmed ranking and its breakdown, a late
amendment minting a new result version, and refusals that store nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from laurel.auth import call_metadata
from laurel.config import load_settings
from laurel.envelope import Actor, RecordedEvent
from laurel.grpcutil import client_channel, violations_of
from laurel.runtime import ServiceRuntime
from laurel.scoring.bootstrap import build
from laurel.scoring.reactions import ScoringReactions
from laurel.scoring.v1 import scoring_pb2 as pb
from laurel.scoring.v1 import scoring_pb2_grpc

ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")
HOTLINE = Actor("hotline-12320", "service", "health-hotline")
NOMINATOR = Actor("nominator-1", "nominator", "hospital-9")
ROUND = "henan-2021-warm-r1"
CATEGORY = "warm_service_post"
CRITERIA = ("warm_service", "supporting_cases", "achievements")
PANEL = {"mgr-1": "hospital_manager", "mgr-2": "hospital_manager",
         "exp-1": "industry_expert", "exp-2": "industry_expert", "media-1": "media"}


@dataclass
class Served:
    runtime: ServiceRuntime
    reactions: ScoringReactions
    stub: scoring_pb2_grpc.ScoringServiceStub
    versions: dict[str, int]

    def deliver(self, type_: str, payload: dict[str, Any], source: str) -> None:
        """Another service's event as the Kafka subscriber would hand it over."""
        stream = f"{source}-{payload.get('round_id') or payload['nomination_id']}"
        self.versions[stream] = self.versions.get(stream, 0) + 1
        event = RecordedEvent(
            position=1, event_id=str(uuid.uuid4()), stream_id=stream,
            version=self.versions[stream], type=type_, schema_version=1,
            payload=payload, metadata={"actor": ORGANIZER.to_dict(),
                                       "correlation_id": "c-1"},
            recorded_at="2021-11-20T08:00:00.000000Z", prev_hash="0" * 64,
            hash="f" * 64)
        if source == "intake":
            self.reactions.on_intake_event(event)
        else:
            self.reactions.on_review_event(event)

    def post(self, nid: str, hospital: str) -> None:
        """A warm-service post, submitted with a case and received by the center."""
        self.deliver("NominationSubmitted", {
            "nomination_id": nid, "campaign_id": "henan-2021", "category": CATEGORY,
            "nominee": {"kind": "department", "name": f"{nid} ward",
                        "organization_id": f"{hospital}-ward"},
            "hospital_id": hospital, "jurisdiction_id": "zhengzhou",
            "route": {"to": "center", "organization_id": ""}, "fields": {}}, "intake")
        self.deliver("EvidenceAttached", {"nomination_id": nid, "kind": "case",
                                          "sha256": "ab" * 32}, "intake")
        self.deliver("NominationReceived", {"nomination_id": nid,
                                            "center_id": "henan-center"}, "intake")

    def score(self, nid: str, reviewer: str, value: int, version: int = 1) -> None:
        self.deliver("ReviewScoreRecorded", {
            "round_id": ROUND, "round_number": 1, "campaign_id": "henan-2021",
            "category": CATEGORY, "nomination_id": nid, "reviewer_id": reviewer,
            "group": PANEL[reviewer], "scores": dict.fromkeys(CRITERIA, str(value)),
            "comment": "", "form_version": version}, "review")


@pytest.fixture
async def scoring(database_url: str, tmp_path) -> AsyncIterator[Served]:  # noqa: ANN001
    env = {"LAUREL_ENV": "development", "LAUREL_GRPC_HOST": "127.0.0.1",
           "LAUREL_GRPC_PORT": "0", "LAUREL_DATA_DIR": str(tmp_path),
           "LAUREL_DATABASE_URL": database_url,
           "LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9"}  # never dialled: no Kafka here
    runtime = await build(load_settings("scoring", env), with_kafka=False)
    await runtime.start()
    channel = client_channel(f"127.0.0.1:{runtime.grpc.port}")
    try:
        yield Served(runtime, runtime.app.reactions,
                     scoring_pb2_grpc.ScoringServiceStub(channel), {})
    finally:
        await channel.close()
        await runtime.stop()


def complaint(entry_id: str, subject: str, on: str = "2021-06-05",
              message: Any = pb.RecordComplaintRequest) -> Any:
    return message(entry_id=entry_id, subject_kind="department",
                   subject_id=subject, occurred_on=on,
                   source="12320 hotline", summary="rude to a family")


async def test_a_complaint_flips_a_post_with_the_entry_named(scoring: Served) -> None:
    scoring.post("post-1", "hospital-1")
    scoring.post("post-2", "hospital-2")
    md = call_metadata(ORGANIZER)
    before = await scoring.stub.GetEligibility(
        pb.GetEligibilityRequest(nomination_id="post-1"), metadata=md)
    assert before.evaluated and before.eligible
    rules = {v.rule: v for v in before.verdicts}
    assert set(rules) == {"requires_evidence", "no_complaint_within_years"}
    assert json.loads(rules["no_complaint_within_years"].parameters_json)["years"] == 3

    ack = await scoring.stub.RecordComplaint(complaint("c-7", "hospital-1-ward"),
                                             metadata=call_metadata(HOTLINE))
    assert ack.recorded and list(ack.reevaluated_nomination_ids) == ["post-1"]
    again = await scoring.stub.RecordComplaint(complaint("c-7", "hospital-1-ward"),
                                               metadata=call_metadata(HOTLINE))
    assert not again.recorded  # the same report twice is recorded once

    after = await scoring.stub.GetEligibility(
        pb.GetEligibilityRequest(nomination_id="post-1"), metadata=md)
    flipped = {v.rule: v for v in after.verdicts}["no_complaint_within_years"]
    assert not after.eligible and flipped.decision == "ineligible"
    assert list(flipped.entries_seen) == ["c-7"] and "c-7" in flipped.reason
    assert flipped.cause == "complaint:c-7" and len(after.history) == 3
    other = await scoring.stub.GetEligibility(
        pb.GetEligibilityRequest(nomination_id="post-2"), metadata=md)
    assert other.eligible and len(other.history) == 2

    listed = await scoring.stub.ListComplianceEntries(
        pb.ListComplianceEntriesRequest(subject_id="hospital-1-ward"), metadata=md)
    assert [(e.entry_id, e.kind) for e in listed.entries] == [("c-7", "complaint")]

    withdrawn = await scoring.stub.WithdrawComplianceEntry(
        pb.WithdrawComplianceEntryRequest(entry_id="c-7", reason="unfounded"),
        metadata=md)
    assert list(withdrawn.reevaluated_nomination_ids) == ["post-1"]
    restored = await scoring.stub.GetEligibility(
        pb.GetEligibilityRequest(nomination_id="post-1"), metadata=md)
    assert restored.eligible


async def test_only_nominations_whose_verdict_changed_are_listed_as_reevaluated(
    scoring: Served,
) -> None:
    """Issue 16, item 9: a complaint too old to count is seen (the verdict
    records it) but changes no decision, so nothing is listed."""
    scoring.post("post-1", "hospital-1")
    md = call_metadata(ORGANIZER)
    old = await scoring.stub.RecordComplaint(complaint("c-old", "hospital-1-ward",
                                                       on="2015-06-05"),
                                             metadata=call_metadata(HOTLINE))
    assert old.recorded and list(old.reevaluated_nomination_ids) == []
    seen = await scoring.stub.GetEligibility(
        pb.GetEligibilityRequest(nomination_id="post-1"), metadata=md)
    verdict = {v.rule: v for v in seen.verdicts}["no_complaint_within_years"]
    assert seen.eligible and list(verdict.entries_seen) == ["c-old"]
    assert list(verdict.entries_counted) == [] and verdict.cause == "complaint:c-old"
    recent = await scoring.stub.RecordComplaint(complaint("c-new", "hospital-1-ward"),
                                                metadata=call_metadata(HOTLINE))
    assert list(recent.reevaluated_nomination_ids) == ["post-1"]
    another = await scoring.stub.RecordComplaint(complaint("c-new2", "hospital-1-ward"),
                                                 metadata=call_metadata(HOTLINE))
    assert another.recorded and list(another.reevaluated_nomination_ids) == []


async def test_refusals_return_their_status_and_store_nothing(scoring: Served) -> None:
    scoring.post("post-1", "hospital-1")
    store = scoring.runtime.store
    before = store.last_position()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scoring.stub.RecordComplaint(complaint("c-1", "x", on="2021-13-01"),
                                           metadata=call_metadata(HOTLINE))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in violations_of(raised.value)] == ["occurred_on"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scoring.stub.RecordPenalty(complaint("p-1", "hospital-1-ward",
                                                   message=pb.RecordPenaltyRequest),
                                         metadata=call_metadata(NOMINATOR))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scoring.stub.GetEligibility(
            pb.GetEligibilityRequest(nomination_id="post-1"),
            metadata=call_metadata(NOMINATOR))  # another hospital's nomination
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as raised:  # another city's commission
        await scoring.stub.GetEligibility(
            pb.GetEligibilityRequest(nomination_id="post-1"),
            metadata=call_metadata(Actor("endorser-kf", "endorser", "kaifeng")))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    own = await scoring.stub.GetEligibility(
        pb.GetEligibilityRequest(nomination_id="post-1"),
        metadata=call_metadata(Actor("endorser-zz", "endorser", "zhengzhou")))
    assert own.nomination_id == "post-1"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scoring.stub.GetRanking(pb.GetRankingRequest(
            campaign_id="henan-2021", category=CATEGORY, round_id=ROUND),
            metadata=call_metadata(ORGANIZER))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert store.last_position() == before


async def test_closing_a_round_ranks_trims_and_versions(scoring: Served) -> None:
    ids = ["post-1", "post-2", "post-3"]
    for n, nid in enumerate(ids, start=1):
        scoring.post(nid, f"hospital-{n}")
    scoring.deliver("ReviewRoundOpened", {
        "round_id": ROUND, "campaign_id": "henan-2021", "category": CATEGORY,
        "number": 1, "deadline": "2021-12-31T16:00:00.000000Z",
        "criteria": dict.fromkeys(CRITERIA, "100"), "nomination_ids": ids,
        "previous_round_id": ""}, "review")
    table = {"post-1": [90, 85, 88, 70, 99], "post-2": [80, 82, 84, 86, 60],
             "post-3": [75, 75, 75, 75, 75]}
    for nid, values in table.items():
        for reviewer, value in zip(PANEL, values, strict=True):
            scoring.score(nid, reviewer, value)
    scoring.deliver("ReviewRoundClosed", {"round_id": ROUND, "outstanding": [],
                                          "closed_at": "", "early": False,
                                          "reason": ""}, "review")
    md = call_metadata(ORGANIZER)
    asked = pb.GetRankingRequest(campaign_id="henan-2021", category=CATEGORY,
                                 round_id=ROUND)
    first = await scoring.stub.GetRanking(asked, metadata=md)
    assert first.version == first.latest_version == 1
    assert [e.nomination_id for e in first.entries] == ids
    assert [e.tier for e in first.entries] == ["awarded", "awarded", ""]
    assert list(first.tie_break)

    breakdown = await scoring.stub.GetScoreBreakdown(
        pb.GetScoreBreakdownRequest(nomination_id="post-1", round_id=ROUND),
        metadata=md)
    assert breakdown.scored and breakdown.rank == 1 and breakdown.tier == "awarded"
    assert len(breakdown.inputs) == 5
    assert sorted((d.reviewer_id, d.reason.split()[0]) for d in breakdown.dropped) \
        == [("exp-2", "lowest"), ("media-1", "highest")]
    assert {i.reviewer_id for i in breakdown.inputs if not i.kept} == {"exp-2",
                                                                       "media-1"}
    assert breakdown.steps and any("dropped" in s for s in breakdown.steps)

    scoring.score("post-3", "mgr-1", 100, version=2)  # a late amendment
    second = await scoring.stub.GetRanking(asked, metadata=md)
    assert second.version == 2 and second.cause.startswith("ReviewScoreRecorded")
    old = await scoring.stub.GetRanking(
        pb.GetRankingRequest(campaign_id="henan-2021", category=CATEGORY,
                             round_id=ROUND, version=1), metadata=md)
    assert old.version == 1 and old.latest_version == 2
    assert [e.score for e in old.entries] == [e.score for e in first.entries]
