"""henan-2021 through intake as the seed describes it, over real gRPC sockets.

Intake runs with its real SQLite store and its outbox relay publishing to the
real Tansu broker; every call goes through the public API with each actor's
own token, so routing, roles and rules are exercised as a portal would.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from kafka import KafkaConsumer

from laurel.auth import call_metadata
from laurel.campaigns import SHIPPED_DIR, load_catalog
from laurel.campaigns.specimen import specimen_fields
from laurel.config import load_settings
from laurel.demo import ORGANIZER, campaign_clock_request, demo_organizations
from laurel.envelope import Actor
from laurel.eventstore import EventStore
from laurel.grpcutil import client_channel, violations_of
from laurel.intake.bootstrap import build
from laurel.intake.read_models import IntakeProjection
from laurel.intake.v1 import intake_pb2 as pb
from laurel.intake.v1 import intake_pb2_grpc
from laurel.runtime import ServiceRuntime

HENAN = load_catalog(SHIPPED_DIR)["henan-2021"]
COUNTY = "zhengzhou-peoples"  # a city hospital under the Zhengzhou commission
PROVINCIAL = "henan-provincial-peoples"
NOMINEE_KIND = {c.key: c.nominee_kind for c in HENAN.categories}
CENTER = ORGANIZER


def nominator(hospital: str) -> Actor:
    return Actor(f"nominator-{hospital}", "nominator", hospital)


def endorser(commission: str) -> Actor:
    return Actor(f"endorser-{commission}", "endorser", commission)


@dataclass
class Intake:
    runtime: ServiceRuntime
    stub: intake_pb2_grpc.IntakeServiceStub
    channel: grpc.aio.Channel
    topic: str
    bootstrap: str
    submitted: list[str] = field(default_factory=list)

    async def call(self, method: str, request, actor: Actor):  # noqa: ANN001, ANN201
        return await getattr(self.stub, method)(request, metadata=call_metadata(actor))

    async def submit(self, hospital: str, category: str, name: str = "",
                     **field_overrides: str) -> str:
        fields = specimen_fields(HENAN.category(category))
        fields.update(field_overrides)
        reply = await self.call("SubmitNomination", pb.SubmitNominationRequest(
            campaign_id="henan-2021", category=category,
            nominee=pb.Nominee(kind=NOMINEE_KIND[category], name=name or f"{hospital} 被推荐",
                               organization_id=hospital),
            fields=fields), nominator(hospital))
        return reply.nomination_id

    async def get(self, nomination_id: str, actor: Actor = CENTER,
                  recorded_as_of: datetime | None = None) -> pb.GetNominationResponse:
        request = pb.GetNominationRequest(nomination_id=nomination_id)
        if recorded_as_of is not None:
            request.recorded_as_of.FromDatetime(recorded_as_of)
        return await self.call("GetNomination", request, actor)

    def event_count(self) -> int:
        return self.runtime.store.last_position()


@pytest.fixture
async def intake(service_env: dict[str, str]) -> AsyncIterator[Intake]:
    settings = load_settings("intake", service_env)
    runtime = await build(settings)
    await runtime.start()
    channel = client_channel(f"127.0.0.1:{runtime.grpc.port}")
    stub = intake_pb2_grpc.IntakeServiceStub(channel)
    for org in demo_organizations():
        if org["organization_id"] in {"henan-center", "zhengzhou", "kaifeng", COUNTY,
                                      "kaifeng-peoples", PROVINCIAL}:
            await stub.RegisterOrganization(pb.RegisterOrganizationRequest(**org),
                                            metadata=call_metadata(ORGANIZER))
    await stub.SetCampaignClock(campaign_clock_request(), metadata=call_metadata(ORGANIZER))
    yield Intake(runtime, stub, channel, settings.topics.intake, settings.kafka.bootstrap)
    await channel.close()
    await runtime.stop()


async def refused(call) -> grpc.aio.AioRpcError:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def keys_on_topic(bootstrap: str, topic: str) -> list[str]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000)
    try:
        return [record.key.decode() for record in consumer]
    finally:
        consumer.close()


def stored_evidence(intake: Intake) -> set[str]:
    """The hashes whose bytes intake keeps (in its own database)."""
    with intake.runtime.store.engine.connect() as conn:
        return set(conn.exec_driver_sql("SELECT sha256 FROM intake_evidence").scalars())


async def wait_published(intake: Intake) -> None:
    deadline = time.monotonic() + 15
    while intake.runtime.store.pending_outbox_count() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert intake.runtime.store.pending_outbox_count() == 0


async def test_county_nomination_is_returned_corrected_endorsed_forwarded_received(
    intake: Intake,
) -> None:
    nomination_id = await intake.submit(COUNTY, "ten_measures_benchmark")
    submitted = await intake.get(nomination_id)
    assert (submitted.status, submitted.route_to, submitted.route_organization_id) == (
        "submitted", "commission", "zhengzhou")

    # Another city's commission does not see it, whatever it tries...
    error = await refused(intake.call("EndorseNomination", pb.EndorseNominationRequest(
        nomination_id=nomination_id, opinion="同意"), endorser("kaifeng")))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    # ...nor can the center receive it before the commission forwards it.
    error = await refused(intake.call("ReceiveNomination", pb.ReceiveNominationRequest(
        nomination_id=nomination_id), CENTER))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION

    await intake.call("ReturnNomination", pb.ReturnNominationRequest(
        nomination_id=nomination_id, reasons=["联系人手机号码有误，请更正"]),
        endorser("zhengzhou"))
    returned = await intake.get(nomination_id, nominator(COUNTY))
    assert returned.status == "returned"
    assert list(returned.return_reasons) == ["联系人手机号码有误，请更正"]

    await intake.call("ResubmitNomination", pb.ResubmitNominationRequest(
        nomination_id=nomination_id, fields={"contact.mobile": "13912345678"}),
        nominator(COUNTY))
    await intake.call("EndorseNomination", pb.EndorseNominationRequest(
        nomination_id=nomination_id, opinion="经审核，同意推荐。"), endorser("zhengzhou"))
    await intake.call("ForwardNomination", pb.ForwardNominationRequest(nomination_id=nomination_id),
                      endorser("zhengzhou"))
    await intake.call("ReceiveNomination", pb.ReceiveNominationRequest(nomination_id=nomination_id),
                      CENTER)

    received = await intake.get(nomination_id)
    assert received.status == "received"
    assert received.fields["contact.mobile"] == "13912345678"
    history = await intake.call("GetNominationHistory", pb.GetNominationHistoryRequest(
        nomination_id=nomination_id), CENTER)
    assert [e.event_type for e in history.entries] == [
        "NominationSubmitted", "NominationReturned", "NominationResubmitted",
        "NominationEndorsed", "NominationForwarded", "NominationReceived"]
    [change] = history.entries[2].changes
    assert (change.field, change.before, change.after) == (
        "contact.mobile", "13800000000", "13912345678")
    assert history.entries[3].actor_organization_id == "zhengzhou"
    assert "郑州市卫生健康委" in history.entries[1].details_json  # for the notification

    await wait_published(intake)
    keys = keys_on_topic(intake.bootstrap, intake.topic)
    assert keys.count(nomination_id) == len(history.entries)


async def test_provincial_hospital_goes_straight_to_the_center(intake: Intake) -> None:
    nomination_id = await intake.submit(PROVINCIAL, "ten_measures_benchmark")
    nomination = await intake.get(nomination_id)
    assert (nomination.route_to, nomination.route_organization_id) == ("center",
                                                                       "henan-center")
    error = await refused(intake.call("EndorseNomination", pb.EndorseNominationRequest(
        nomination_id=nomination_id, opinion="同意"), endorser("zhengzhou")))
    assert error.code() == grpc.StatusCode.NOT_FOUND  # no commission is on its route
    await intake.call("ReceiveNomination", pb.ReceiveNominationRequest(nomination_id=nomination_id),
                      CENTER)
    assert (await intake.get(nomination_id)).status == "received"


async def test_a_third_live_warm_service_post_is_refused_until_one_is_withdrawn(
    intake: Intake,
) -> None:
    first = await intake.submit(COUNTY, "warm_service_post", "急诊科")
    await intake.submit(COUNTY, "warm_service_post", "儿科门诊")
    before = intake.event_count()

    error = await refused(intake.submit(COUNTY, "warm_service_post", "产科病区"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert [rule for rule, _ in violations_of(error)] == ["per_hospital_alive"]
    assert "at most 2" in error.details()
    assert intake.event_count() == before

    await intake.call("WithdrawNomination", pb.WithdrawNominationRequest(
        nomination_id=first, reason="改报其他科室"), nominator(COUNTY))
    assert await intake.submit(COUNTY, "warm_service_post", "产科病区")
    # Another hospital's quota is its own.
    assert await intake.submit("kaifeng-peoples", "warm_service_post", "急诊科")


async def test_a_leader_needs_a_live_benchmark_and_loses_eligibility_with_it(
    intake: Intake,
) -> None:
    error = await refused(intake.submit(COUNTY, "quality_service_leader", "王明"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert [rule for rule, _ in violations_of(error)] == ["requires_live_nomination"]

    benchmark = await intake.submit(COUNTY, "single_measure_benchmark", "分时段预约")
    leader = await intake.submit(COUNTY, "quality_service_leader", "王明")
    assert (await intake.get(leader)).eligible

    await intake.call("WithdrawNomination", pb.WithdrawNominationRequest(
        nomination_id=benchmark, reason="材料不全"), nominator(COUNTY))
    after = await intake.get(leader)
    assert not after.eligible
    assert benchmark in after.ineligible_reason
    history = await intake.call("GetNominationHistory", pb.GetNominationHistoryRequest(
        nomination_id=leader), CENTER)
    assert history.entries[-1].event_type == "NominationMarkedIneligible"
    assert "requires_live_nomination" in history.entries[-1].details_json


async def test_a_rejected_benchmark_also_leaves_the_leader_ineligible(
    intake: Intake,
) -> None:
    benchmark = await intake.submit(COUNTY, "ten_measures_benchmark")
    leader = await intake.submit(COUNTY, "quality_service_leader", "王明")
    error = await refused(intake.call("RejectNomination", pb.RejectNominationRequest(
        nomination_id=benchmark, reasons=["不同意推荐"]), endorser("kaifeng")))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = await refused(intake.call("RejectNomination", pb.RejectNominationRequest(
        nomination_id=benchmark, reasons=[" "]), endorser("zhengzhou")))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT

    await intake.call("RejectNomination", pb.RejectNominationRequest(
        nomination_id=benchmark, reasons=["自评材料与实际不符，不同意推荐"]),
        endorser("zhengzhou"))
    rejected = await intake.get(benchmark)
    assert (rejected.status, list(rejected.return_reasons)) == (
        "rejected", ["自评材料与实际不符，不同意推荐"])
    after = await intake.get(leader)
    assert not after.eligible and "rejected" in after.ineligible_reason
    # Rejection is final: the hospital cannot resubmit it...
    error = await refused(intake.call("ResubmitNomination", pb.ResubmitNominationRequest(
        nomination_id=benchmark, fields={"hospital_profile": "补充"}), nominator(COUNTY)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    # ...but its quota is free again for a new nomination.
    assert await intake.submit(COUNTY, "ten_measures_benchmark")


@pytest.mark.parametrize(("overrides", "code", "field"), [
    ({"president.mobile": "1380000"}, grpc.StatusCode.INVALID_ARGUMENT,
     "fields[president.mobile]"),
    ({"contact.email": "not-an-address"}, grpc.StatusCode.INVALID_ARGUMENT,
     "fields[contact.email]"),
    ({"hospital_profile": ""}, grpc.StatusCode.INVALID_ARGUMENT,
     "fields[hospital_profile]"),
])
async def test_a_malformed_form_is_refused_with_the_field_and_nothing_is_stored(
    intake: Intake, overrides: dict[str, str], code: grpc.StatusCode, field: str,
) -> None:
    before = intake.event_count()
    error = await refused(intake.submit(COUNTY, "ten_measures_benchmark", **overrides))
    assert error.code() == code
    assert field in [f for f, _ in violations_of(error)]
    assert intake.event_count() == before
    listed = await intake.call("ListNominations", pb.ListNominationsRequest(
        campaign_id="henan-2021"), CENTER)
    assert not listed.nominations


async def test_a_self_assessment_of_899_is_refused_and_900_accepted(intake: Intake) -> None:
    category = HENAN.category("ten_measures_benchmark")
    before = intake.event_count()
    error = await refused(intake.submit(COUNTY, "ten_measures_benchmark", **specimen_fields(
        category, self_assessment_total=899)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert [rule for rule, _ in violations_of(error)] == ["self_assessment_threshold"]
    assert "899" in error.details() and "900" in error.details()
    assert intake.event_count() == before
    assert await intake.submit(COUNTY, "ten_measures_benchmark", **specimen_fields(
        category, self_assessment_total=900))


async def test_only_the_campaigns_organizer_moves_its_clock_or_receives(
    intake: Intake,
) -> None:
    other = Actor("organizer-hubei", "organizer", "hubei-center")
    error = await refused(intake.call("SetCampaignClock", campaign_clock_request(), other))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "does not organize henan-2021" in error.details()
    nomination_id = await intake.submit(PROVINCIAL, "ten_measures_benchmark")
    error = await refused(intake.call("ReceiveNomination", pb.ReceiveNominationRequest(
        nomination_id=nomination_id), other))
    assert error.code() == grpc.StatusCode.NOT_FOUND  # not theirs to see


async def test_submissions_outside_the_nomination_stage_are_refused(intake: Intake) -> None:
    await intake.call("SetCampaignClock", campaign_clock_request(
        now=datetime(2022, 1, 5, tzinfo=UTC)), ORGANIZER)
    error = await refused(intake.submit(COUNTY, "ten_measures_benchmark"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert [rule for rule, _ in violations_of(error)] == ["stage_window"]
    assert "2021-11-01 to 2021-12-31" in error.details()


async def test_a_nominator_acts_only_for_their_own_hospital(intake: Intake) -> None:
    fields = specimen_fields(HENAN.category("ten_measures_benchmark"))
    error = await refused(intake.call("SubmitNomination", pb.SubmitNominationRequest(
        campaign_id="henan-2021", category="ten_measures_benchmark",
        nominee=pb.Nominee(kind="hospital", name="郑州市人民医院", organization_id=COUNTY),
        fields=fields), nominator("kaifeng-peoples")))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    nomination_id = await intake.submit(COUNTY, "ten_measures_benchmark")
    error = await refused(intake.get(nomination_id, nominator("kaifeng-peoples")))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    await intake.submit("kaifeng-peoples", "ten_measures_benchmark")
    for actor, expected in ((nominator("kaifeng-peoples"), "kaifeng-peoples"),
                            (endorser("zhengzhou"), COUNTY)):
        listed = await intake.call("ListNominations", pb.ListNominationsRequest(
            campaign_id="henan-2021"), actor)
        assert [n.hospital_id for n in listed.nominations] == [expected]
    error = await refused(intake.call("ListNominations", pb.ListNominationsRequest(
        jurisdiction_id="kaifeng"), endorser("zhengzhou")))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_draft_is_saved_partially_then_submitted_and_amended_with_history(
    intake: Intake,
) -> None:
    category = HENAN.category("single_measure_benchmark")
    full = specimen_fields(category)
    partial = {k: v for k, v in list(full.items())[:3]}
    draft = await intake.call("DraftNomination", pb.DraftNominationRequest(
        campaign_id="henan-2021", category="single_measure_benchmark",
        nominee=pb.Nominee(kind="measure", name="诊间结算", organization_id=COUNTY),
        fields=partial), nominator(COUNTY))
    assert (await intake.get(draft.id, nominator(COUNTY))).status == "draft"

    # A draft may be incomplete, but a submission may not.
    error = await refused(intake.call("SubmitDraft", pb.SubmitDraftRequest(
        nomination_id=draft.id), nominator(COUNTY)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    await intake.call("SaveDraft", pb.SaveDraftRequest(nomination_id=draft.id, fields=full),
                      nominator(COUNTY))
    await intake.call("SubmitDraft", pb.SubmitDraftRequest(nomination_id=draft.id),
                      nominator(COUNTY))
    await intake.call("AmendNomination", pb.AmendNominationRequest(
        nomination_id=draft.id, fields={"measures": "diverse_payment,one_stop_services"},
        reason="补充举措"), nominator(COUNTY))

    history = await intake.call("GetNominationHistory", pb.GetNominationHistoryRequest(
        nomination_id=draft.id), CENTER)
    amended = history.entries[-1]
    assert amended.event_type == "NominationAmended"
    [change] = amended.changes
    assert (change.field, change.before, change.after) == (
        "measures", full["measures"], "diverse_payment,one_stop_services")
    assert "补充举措" in amended.details_json


async def test_evidence_is_stored_by_its_hash_and_events_carry_only_the_hash(
    intake: Intake,
) -> None:
    nomination_id = await intake.submit(COUNTY, "warm_service_post", "急诊科")
    pdf = b"%PDF-1.4\n% a case study\n" + b"0" * 1000
    reply = await intake.call("AttachEvidence", pb.AttachEvidenceRequest(
        nomination_id=nomination_id, filename="典型案例.pdf", media_type="application/pdf",
        kind="case", content=pdf), nominator(COUNTY))
    assert reply.sha256 == hashlib.sha256(pdf).hexdigest()
    [attachment] = (await intake.get(nomination_id)).attachments
    assert (attachment.sha256, attachment.size, attachment.kind) == (reply.sha256,
                                                                     len(pdf), "case")
    [event] = [e for e in intake.runtime.store.read_stream(f"nomination-{nomination_id}")
               if e.type == "EvidenceAttached"]
    assert "0000000000" not in str(event.payload)
    fetched = await intake.call("GetEvidence", pb.GetEvidenceRequest(
        nomination_id=nomination_id, sha256=reply.sha256), endorser("zhengzhou"))
    assert fetched.content == pdf and fetched.attachment.filename == "典型案例.pdf"
    error = await refused(intake.call("GetEvidence", pb.GetEvidenceRequest(
        nomination_id=nomination_id, sha256=reply.sha256), endorser("kaifeng")))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    stored = stored_evidence(intake)
    assert stored == {reply.sha256}

    # A well-formed file for a nomination the caller may not touch is not kept.
    other = b"%PDF-1.4 another file"
    error = await refused(intake.call("AttachEvidence", pb.AttachEvidenceRequest(
        nomination_id=nomination_id, filename="y.pdf", media_type="application/pdf",
        kind="case", content=other), nominator("kaifeng-peoples")))
    assert error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
    assert stored_evidence(intake) == stored

    # Bytes changed behind intake's back no longer match the event's hash.
    with intake.runtime.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE intake_evidence SET content = ? WHERE sha256 = ?",
                             (b"%PDF-1.4 forged", reply.sha256))
    error = await refused(intake.call("GetEvidence", pb.GetEvidenceRequest(
        nomination_id=nomination_id, sha256=reply.sha256), endorser("zhengzhou")))
    assert error.code() == grpc.StatusCode.DATA_LOSS

    before = intake.event_count()
    error = await refused(intake.call("AttachEvidence", pb.AttachEvidenceRequest(
        nomination_id=nomination_id, filename="x.pdf", media_type="application/pdf",
        kind="case", content=b"MZ\x90\x00 not a pdf"), nominator(COUNTY)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert intake.event_count() == before


async def test_state_as_of_a_past_time_equals_what_get_nomination_returned_then(
    intake: Intake,
) -> None:
    nomination_id = await intake.submit(COUNTY, "ten_measures_benchmark")
    seen: list[tuple[datetime, pb.GetNominationResponse]] = []

    async def observe() -> None:
        await asyncio.sleep(0.01)
        seen.append((datetime.now(UTC), await intake.get(nomination_id)))
        await asyncio.sleep(0.01)

    await observe()
    await intake.call("ReturnNomination", pb.ReturnNominationRequest(
        nomination_id=nomination_id, reasons=["请补充医院简介"]), endorser("zhengzhou"))
    await observe()
    await intake.call("ResubmitNomination", pb.ResubmitNominationRequest(
        nomination_id=nomination_id, fields={"hospital_profile": "三级甲等综合医院。"}),
        nominator(COUNTY))
    await observe()
    await intake.call("EndorseNomination", pb.EndorseNominationRequest(
        nomination_id=nomination_id, opinion="同意"), endorser("zhengzhou"))
    await observe()

    for moment, then in seen:
        assert await intake.get(nomination_id, recorded_as_of=moment) == then
    assert [then.status for _, then in seen] == ["submitted", "returned", "submitted",
                                                 "endorsed"]
    early = Timestamp()
    early.FromDatetime(datetime(2020, 1, 1, tzinfo=UTC))
    error = await refused(intake.call("GetNomination", pb.GetNominationRequest(
        nomination_id=nomination_id, recorded_as_of=early), CENTER))
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_the_projection_rebuilt_from_the_log_answers_the_same_lists(
    intake: Intake, tmp_path,
) -> None:
    first = await intake.submit(COUNTY, "ten_measures_benchmark")
    await intake.submit(PROVINCIAL, "ten_measures_benchmark")
    await intake.submit(COUNTY, "warm_service_post", "急诊科")
    await intake.submit("kaifeng-peoples", "warm_service_post", "儿科")
    await intake.call("ReturnNomination", pb.ReturnNominationRequest(
        nomination_id=first, reasons=["请补充"]), endorser("zhengzhou"))

    queries = [
        pb.ListNominationsRequest(campaign_id="henan-2021"),
        pb.ListNominationsRequest(campaign_id="henan-2021", category="warm_service_post"),
        pb.ListNominationsRequest(jurisdiction_id="zhengzhou"),
        pb.ListNominationsRequest(status="returned"),
        pb.ListNominationsRequest(campaign_id="henan-2021", page_size=2),
    ]

    async def answers() -> list[list[tuple[str, str, int]]]:
        out = []
        for query in queries:
            reply = await intake.call("ListNominations", query, CENTER)
            out.append([(n.nomination_id, n.status, n.version) for n in reply.nominations])
        return out

    live = await answers()
    assert [len(a) for a in live] == [4, 2, 2, 1, 2]
    page = await intake.call("ListNominations", queries[-1], CENTER)
    rest = await intake.call("ListNominations", pb.ListNominationsRequest(
        campaign_id="henan-2021", page_size=2, page_token=page.next_page_token), CENTER)
    assert {n.nomination_id for n in page.nominations} | {
        n.nomination_id for n in rest.nominations} == {r[0] for r in live[0]}

    fresh = EventStore(f"sqlite:///{tmp_path / 'rebuilt.sqlite'}")
    store = intake.runtime.store
    assert store.rebuild_projection(IntakeProjection(), fresh) == store.last_position()
    # Swap the rebuilt tables in: drop the live ones and rebuild in place.
    store.rebuild_projection(IntakeProjection())
    assert await answers() == live
    fresh.close()
