"""Intake's use cases through its handlers, on a real store, without a broker.

Each group of commands (organizations, the lifecycle, drafts and amendments,
the campaign's rules, evidence, the campaign clock and definitions, queries)
is exercised as the gRPC adapter calls it, with every refusal checked to
name what is wrong and to store nothing. Which role may call what is the
policy table's (tests/security); what is left here is who may act on which
nomination.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from laurel.campaigns.specimen import specimen_fields
from laurel.cli import main as laurel_cli
from laurel.demo import DEMO_NOW, ORGANIZER
from laurel.envelope import Actor, parse_time
from laurel.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    FailedPrecondition,
    Hidden,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from laurel.intake import evidence_store
from laurel.intake.bootstrap import open_intake_store
from laurel.intake.domain import commands
from laurel.intake.domain.campaigns import CampaignCatalog
from laurel.intake.domain.commands import (
    AmendNomination,
    AttachEvidence,
    DraftNomination,
    EndorseNomination,
    ForwardNomination,
    GetEvidence,
    GetNomination,
    GetNominationHistory,
    GetOrganization,
    ListNominations,
    Nominee,
    ReceiveNomination,
    RegisterOrganization,
    RejectNomination,
    ResubmitNomination,
    ReturnNomination,
    SaveDraft,
    SetCampaignClock,
    SubmitDraft,
    SubmitNomination,
    WithdrawNomination,
)
from laurel.intake.domain.evidence import DataLoss
from laurel.intake.domain.organizations import Organization
from laurel.intake.handlers import HANDLERS

COUNTY, PROVINCIAL, OTHER = "zhengzhou-peoples", "henan-provincial-peoples", "kaifeng-peoples"
CENTER = ORGANIZER
HUBEI = Actor("organizer-hubei", "organizer", "hubei-center")
PDF = b"%PDF-1.4\n% a case study\n" + b"0" * 1000


def refused(error: type[Exception], intake: Any, message: Any) -> Any:
    """`message` is refused with `error`, and nothing is stored."""
    before = intake.events()
    with pytest.raises(error) as raised:
        intake.handle(message)
    assert intake.events() == before
    return raised.value


def stream(intake: Any, nomination_id: str) -> list[Any]:
    return intake.store.read_stream(f"nomination-{nomination_id}")


def test_every_command_and_query_has_a_handler() -> None:
    messages = {cls for _, cls in inspect.getmembers(commands, dataclasses.is_dataclass)
                if "caller" in {f.name for f in dataclasses.fields(cls)}}
    assert messages == set(HANDLERS)


# -- organizations ---------------------------------------------------------------------


async def test_organizations_are_registered_parents_first_and_read_back(
    build_intake: Any,
) -> None:
    intake = await build_intake()
    as_center = intake.caller(CENTER)
    hospital = Organization("luoyang-peoples", "hospital", "洛阳市人民医院", "", "luoyang")
    error = refused(InvalidArgument, intake, RegisterOrganization(as_center, hospital))
    assert [v.field for v in error.violations] == ["jurisdiction_id"]

    commission = Organization("luoyang", "commission", "洛阳市卫生健康委员会")
    assert intake.handle(RegisterOrganization(as_center, commission)) == 1
    assert intake.handle(RegisterOrganization(as_center, hospital)) == 1
    refused(AlreadyExists, intake, RegisterOrganization(as_center, commission))

    found = intake.handle(GetOrganization(intake.caller(intake.nominator("x")),
                                          "luoyang-peoples"))
    assert (found.name, found.jurisdiction_id, found.version) == ("洛阳市人民医院",
                                                                  "luoyang", 1)
    with pytest.raises(NotFound):
        intake.handle(GetOrganization(as_center, "nowhere"))


# -- the lifecycle -----------------------------------------------------------------------


def test_a_county_nomination_goes_through_its_commission_to_the_center(intake: Any) -> None:
    nid = intake.submit(COUNTY, "ten_measures_benchmark")
    zhengzhou, kaifeng = intake.caller(intake.endorser("zhengzhou")), intake.caller(
        intake.endorser("kaifeng"))
    # Kaifeng's commission may not see it: it does not exist for them.
    assert isinstance(refused(NotFound, intake, EndorseNomination(kaifeng, nid, "同意")),
                      Hidden)
    refused(FailedPrecondition, intake, ReceiveNomination(intake.caller(CENTER), nid))

    assert intake.handle(ReturnNomination(zhengzhou, nid, ("联系人手机号码有误",))) == 2
    as_hospital = intake.caller(intake.nominator(COUNTY))
    assert intake.handle(ResubmitNomination(as_hospital, nid,
                                            {"contact.mobile": "13912345678"})) == 3
    assert intake.handle(EndorseNomination(zhengzhou, nid, " 同意推荐 ")) == 4
    assert intake.handle(ForwardNomination(zhengzhou, nid)) == 5
    assert intake.handle(ReceiveNomination(intake.caller(CENTER), nid)) == 6

    received = intake.get(nid)
    assert (received.status, received.fields["contact.mobile"]) == ("received",
                                                                     "13912345678")
    history = stream(intake, nid)
    assert [e.type for e in history] == [
        "NominationSubmitted", "NominationReturned", "NominationResubmitted",
        "NominationEndorsed", "NominationForwarded", "NominationReceived"]
    returned, endorsed = history[1], history[3]
    assert returned.payload["commission_name"] == "郑州市卫生健康委"
    assert endorsed.payload["opinion"] == "同意推荐"
    assert returned.metadata["actor"]["id"] == "endorser-zhengzhou"
    assert returned.metadata["correlation_id"] == zhengzhou.correlation_id
    assert {e.topic for e in intake.store.unpublished(100)} == {"laurel.intake.events"}


def test_a_provincial_hospital_goes_straight_to_the_center(intake: Any) -> None:
    nid = intake.submit(PROVINCIAL, "ten_measures_benchmark")
    submitted = intake.get(nid)
    assert (submitted.route.to, submitted.route.organization_id) == ("center",
                                                                     "henan-center")
    # No commission is on its route: none sees it.
    refused(NotFound, intake, EndorseNomination(
        intake.caller(intake.endorser("zhengzhou")), nid, "同意"))
    assert intake.handle(ReceiveNomination(intake.caller(CENTER), nid)) == 2


def test_a_draft_is_saved_partially_then_submitted_and_amended(intake: Any) -> None:
    as_hospital = intake.caller(intake.nominator(COUNTY))
    full = intake.form(COUNTY, "single_measure_benchmark", "诊间结算")
    partial = dataclasses.replace(full, fields=dict(list(full.fields.items())[:3]))
    assert intake.handle(DraftNomination(as_hospital, partial)) == 1
    nid = full.nomination_id

    error = refused(InvalidArgument, intake, SubmitDraft(as_hospital, nid))
    assert error.violations
    assert intake.handle(SaveDraft(as_hospital, nid, dict(partial.fields))) == 1  # no change
    assert intake.handle(SaveDraft(as_hospital, nid, dict(full.fields))) == 2
    assert intake.handle(SubmitDraft(as_hospital, nid)) == 3
    assert intake.handle(AmendNomination(
        as_hospital, nid, {"measures": "diverse_payment,one_stop_services"}, " 补充举措 ")) == 4
    [amended] = stream(intake, nid)[-1:]
    assert amended.payload["changes"] == {"measures": {
        "before": full.fields["measures"], "after": "diverse_payment,one_stop_services"}}
    assert amended.payload["reason"] == "补充举措"
    refused(InvalidArgument, intake, AmendNomination(
        as_hospital, nid, {"measures": "diverse_payment,one_stop_services"}, "again"))


def test_withdrawn_and_rejected_nominations_accept_nothing_more(intake: Any) -> None:
    as_hospital = intake.caller(intake.nominator(COUNTY))
    withdrawn = intake.submit(COUNTY, "warm_service_post", "急诊科")
    intake.handle(WithdrawNomination(as_hospital, withdrawn, "改报其他科室"))
    rejected = intake.submit(COUNTY, "ten_measures_benchmark")
    zhengzhou = intake.caller(intake.endorser("zhengzhou"))
    refused(InvalidArgument, intake, RejectNomination(zhengzhou, rejected, (" ",)))
    intake.handle(RejectNomination(zhengzhou, rejected, ("不同意推荐",)))

    assert intake.get(rejected).return_reasons == ("不同意推荐",)
    for message in (WithdrawNomination(as_hospital, withdrawn, "again"),
                    ResubmitNomination(as_hospital, rejected, {"hospital_profile": "补充"}),
                    RejectNomination(intake.caller(CENTER), rejected, ("再次",))):
        assert refused(FailedPrecondition, intake, message).rule == "nomination_status"


# -- the campaign's rules ----------------------------------------------------------------


def test_a_third_live_warm_service_post_is_refused_until_one_is_withdrawn(
    intake: Any,
) -> None:
    first = intake.submit(COUNTY, "warm_service_post", "急诊科")
    intake.submit(COUNTY, "warm_service_post", "儿科门诊")
    third = intake.form(COUNTY, "warm_service_post", "产科病区")
    as_hospital = intake.caller(intake.nominator(COUNTY))
    error = refused(FailedPrecondition, intake, SubmitNomination(as_hospital, third))
    assert error.rule == "per_hospital_alive" and "at most 2" in str(error)

    intake.handle(WithdrawNomination(as_hospital, first, "改报其他科室"))
    assert intake.handle(SubmitNomination(as_hospital, third)) == 1
    assert intake.submit(OTHER, "warm_service_post", "急诊科")  # its own quota


@pytest.mark.parametrize("ending", ["withdrawn", "rejected"])
def test_a_leader_needs_a_live_benchmark_and_loses_eligibility_with_it(
    intake: Any, ending: str,
) -> None:
    as_hospital = intake.caller(intake.nominator(COUNTY))
    error = refused(FailedPrecondition, intake, SubmitNomination(
        as_hospital, intake.form(COUNTY, "quality_service_leader", "王明")))
    assert error.rule == "requires_live_nomination"
    benchmark = intake.submit(COUNTY, "ten_measures_benchmark")
    leader = intake.submit(COUNTY, "quality_service_leader", "王明")

    if ending == "withdrawn":
        intake.handle(WithdrawNomination(as_hospital, benchmark, "材料不全"))
    else:
        intake.handle(RejectNomination(intake.caller(intake.endorser("zhengzhou")),
                                       benchmark, ("不同意推荐",)))
    cause = stream(intake, benchmark)[-1]
    [marked] = stream(intake, leader)[-1:]
    assert marked.type == "NominationMarkedIneligible"
    assert (marked.payload["rule"], marked.payload["caused_by"]) == (
        "requires_live_nomination", cause.event_id)
    assert marked.metadata["causation_id"] == cause.event_id
    assert marked.position == cause.position + 1  # in the same transaction
    after = intake.get(leader)
    assert not after.eligible and benchmark in after.ineligible_reason
    assert ending in after.ineligible_reason


def test_a_self_assessment_of_899_is_refused_and_900_accepted(intake: Any) -> None:
    category = intake.campaign.category("ten_measures_benchmark")
    as_hospital = intake.caller(intake.nominator(COUNTY))
    low = intake.form(COUNTY, "ten_measures_benchmark",
                      **specimen_fields(category, self_assessment_total=899))
    error = refused(FailedPrecondition, intake, SubmitNomination(as_hospital, low))
    assert error.rule == "self_assessment_threshold" and "899" in str(error)
    enough = intake.form(COUNTY, "ten_measures_benchmark",
                         **specimen_fields(category, self_assessment_total=900))
    intake.handle(SubmitNomination(as_hospital, enough))
    assert stream(intake, enough.nomination_id)[0].payload["self_assessment_total"] == 900


def test_malformed_forms_are_refused_field_by_field(intake: Any) -> None:
    as_hospital = intake.caller(intake.nominator(COUNTY))
    bad = intake.form(COUNTY, "ten_measures_benchmark", **{
        "president.mobile": "1380000", "contact.email": "not-an-address"})
    error = refused(InvalidArgument, intake, SubmitNomination(as_hospital, bad))
    assert {"fields[president.mobile]", "fields[contact.email]"} <= {
        v.field for v in error.violations}
    unknown = dataclasses.replace(bad, category="no_such_category")
    assert [v.field for v in refused(InvalidArgument, intake, SubmitNomination(
        as_hospital, unknown)).violations] == ["category"]


# -- who may act on which nomination ---------------------------------------------------


def test_a_nominator_acts_only_for_their_own_hospital_or_its_department(
    intake: Any,
) -> None:
    ward = Organization("zhengzhou-peoples-er", "ward", "急诊病区", COUNTY)
    intake.handle(RegisterOrganization(intake.caller(CENTER), ward))
    for_other = intake.form(COUNTY, "ten_measures_benchmark")
    refused(PermissionDenied, intake, SubmitNomination(
        intake.caller(intake.nominator(OTHER)), for_other))
    # In henan-2021 hospitals nominate, for their wards too; a ward does not.
    as_ward = dataclasses.replace(intake.form(ward.organization_id, "warm_service_post",
                                              "急诊病区"), nominee=Nominee(
        "ward", "急诊病区", ward.organization_id))
    error = refused(PermissionDenied, intake, SubmitNomination(
        intake.caller(intake.nominator(ward.organization_id)), as_ward))
    assert "hospitals nominate" in str(error)
    # A ward is nominated as what it is, not as a department.
    as_department = dataclasses.replace(as_ward, nominee=Nominee(
        "department", "急诊病区", ward.organization_id))
    error = refused(InvalidArgument, intake, SubmitNomination(
        intake.caller(intake.nominator(COUNTY)), as_department))
    assert [v.field for v in error.violations] == ["nominee.kind"]
    intake.handle(SubmitNomination(intake.caller(intake.nominator(COUNTY)), as_ward))
    found = intake.get(as_ward.nomination_id)
    assert (found.hospital_id, found.nominee.kind) == (COUNTY, "ward")

    nid = intake.submit(COUNTY, "ten_measures_benchmark")
    stranger = intake.caller(intake.nominator(OTHER))
    for message in (GetNomination(stranger, nid), GetNominationHistory(stranger, nid),
                    WithdrawNomination(stranger, nid, "x"),
                    AmendNomination(stranger, nid, {"hospital_profile": "x"}, "x"),
                    AttachEvidence(stranger, nid, PDF, "a.pdf", "application/pdf", "case")):
        refused(NotFound, intake, message)
    assert evidence_rows(intake) == []


def test_only_the_center_receives_and_only_its_campaigns_organizers(intake: Any) -> None:
    nid = intake.submit(PROVINCIAL, "ten_measures_benchmark")
    hubei = intake.caller(HUBEI)
    # Another campaign's organizer may not see it: NOT_FOUND, for any act.
    for message in (ReceiveNomination(hubei, nid), RejectNomination(hubei, nid, ("不同意",)),
                    GetNomination(hubei, nid)):
        assert isinstance(refused(NotFound, intake, message), Hidden)
    error = refused(PermissionDenied, intake, SetCampaignClock(hubei, "henan-2021", DEMO_NOW))
    assert "does not organize henan-2021" in str(error)
    refused(NotFound, intake, SetCampaignClock(intake.caller(CENTER), "no-such", DEMO_NOW))
    # The co-organizing newspaper sees it, but the center receives it.
    newspaper = intake.caller(Actor("editor-1", "organizer", "medicine-health-news"))
    assert intake.handle(GetNomination(newspaper, nid)).status == "submitted"
    error = refused(PermissionDenied, intake, ReceiveNomination(newspaper, nid))
    assert "henan-center" in str(error)


def test_the_receiver_is_the_campaigns_routing(intake: Any) -> None:
    nid = intake.submit(PROVINCIAL, "ten_measures_benchmark")
    found = intake.get(nid)
    assert (found.route.to, found.route.receiver_id) == ("center", "henan-center")
    county = intake.get(intake.submit(COUNTY, "ten_measures_benchmark"))
    assert (county.route.to, county.route.organization_id, county.route.receiver_id) == (
        "commission", "zhengzhou", "henan-center")


def test_listings_show_each_caller_their_own_nominations_page_by_page(intake: Any) -> None:
    ids = {intake.submit(COUNTY, "ten_measures_benchmark"),
           intake.submit(PROVINCIAL, "ten_measures_benchmark"),
           intake.submit(COUNTY, "warm_service_post", "急诊科")}
    other = intake.submit(OTHER, "warm_service_post", "儿科")

    def listed(actor: Actor, **filters: Any) -> tuple[list[str], str]:
        rows, token = intake.handle(ListNominations(intake.caller(actor), **filters))
        return [r["nomination_id"] for r in rows], token

    assert set(listed(intake.nominator(OTHER))[0]) == {other}
    assert len(listed(intake.endorser("zhengzhou"))[0]) == 2
    refused(PermissionDenied, intake, ListNominations(
        intake.caller(intake.endorser("zhengzhou")), jurisdiction_id="kaifeng"))
    refused(PermissionDenied, intake, ListNominations(
        intake.caller(Actor("r-1", "reviewer", "panel"))))
    page, token = listed(CENTER, campaign_id="henan-2021", page_size=3)
    rest, end = listed(CENTER, campaign_id="henan-2021", page_size=3, page_token=token)
    assert len(page) == 3 and token and end == ""
    assert set(page) | set(rest) == ids | {other}


# -- a caller's expected version ---------------------------------------------------------


def test_a_command_on_a_version_the_nomination_has_left_is_refused(intake: Any) -> None:
    nid = intake.submit(COUNTY, "ten_measures_benchmark")
    zhengzhou = intake.caller(intake.endorser("zhengzhou"))
    intake.handle(ReturnNomination(zhengzhou, nid, ("请补充",), expected_version=1))
    error = refused(ConcurrencyConflict, intake, ResubmitNomination(
        intake.caller(intake.nominator(COUNTY)), nid, {"hospital_profile": "补充"},
        expected_version=1))
    assert error.code == "ABORTED"
    assert intake.handle(ResubmitNomination(
        intake.caller(intake.nominator(COUNTY)), nid, {"hospital_profile": "补充"},
        expected_version=2)) == 3


# -- evidence ----------------------------------------------------------------------------


def evidence_rows(intake: Any) -> list[str]:
    with intake.store.engine.connect() as conn:
        return list(conn.execute(evidence_store.EVIDENCE.select()).scalars())


def test_evidence_is_kept_with_its_event_and_checked_when_read(intake: Any) -> None:
    nid = intake.submit(COUNTY, "warm_service_post", "急诊科")
    as_hospital = intake.caller(intake.nominator(COUNTY))
    error = refused(InvalidArgument, intake, AttachEvidence(
        as_hospital, nid, b"MZ\x90\x00 not a pdf", "x.pdf", "application/pdf", "case"))
    assert [v.field for v in error.violations] == ["content"]
    assert evidence_rows(intake) == []

    assert intake.handle(AttachEvidence(as_hospital, nid, PDF, " 典型案例.pdf ",
                                        "application/pdf", "case")) == 2
    digest = hashlib.sha256(PDF).hexdigest()
    assert evidence_rows(intake) == [digest]
    assert "0000000000" not in str(stream(intake, nid)[-1].payload)
    refused(AlreadyExists, intake, AttachEvidence(as_hospital, nid, PDF, "again.pdf",
                                                  "application/pdf", "case"))

    attachment, content = intake.handle(GetEvidence(
        intake.caller(intake.endorser("zhengzhou")), nid, digest))
    assert (content, attachment.filename, attachment.size) == (PDF, "典型案例.pdf", len(PDF))
    with pytest.raises(NotFound):
        intake.handle(GetEvidence(intake.caller(intake.endorser("kaifeng")), nid, digest))
    with pytest.raises(NotFound):
        intake.handle(GetEvidence(intake.caller(CENTER), nid, "ab" * 32))

    with intake.store.engine.begin() as conn:
        conn.execute(evidence_store.EVIDENCE.update().values(content=b"%PDF-1.4 forged"))
    with pytest.raises(DataLoss):
        intake.handle(GetEvidence(intake.caller(CENTER), nid, digest))


# -- the campaign clock and definitions -------------------------------------------------


def test_the_campaign_clock_moves_the_stage_window(intake: Any) -> None:
    nid = intake.submit(COUNTY, "ten_measures_benchmark")
    as_hospital = intake.caller(intake.nominator(COUNTY))
    intake.handle(SetCampaignClock(intake.caller(CENTER), "henan-2021",
                                   datetime(2022, 1, 5, tzinfo=UTC)))
    error = refused(FailedPrecondition, intake, SubmitNomination(
        as_hospital, intake.form(COUNTY, "warm_service_post", "急诊科")))
    assert error.rule == "stage_window" and "2021-11-01 to 2021-12-31" in str(error)
    error = refused(FailedPrecondition, intake, AmendNomination(
        as_hospital, nid, {"hospital_profile": "补充"}, "补充"))
    assert error.rule == "stage_window"


async def test_outside_development_the_campaign_clock_cannot_be_set(
    build_intake: Any, tmp_path: Any, database_url: str,
) -> None:
    # Outside development a service does not migrate its store: the chart's hook does.
    assert laurel_cli(["migrate", "--service", "intake", "--database", database_url]) == 0
    key = tmp_path / "issuer.pem"
    key.write_bytes(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    intake = await build_intake({"LAUREL_ENV": "production",
                                 "LAUREL_JWT_PUBLIC_KEY_FILE": str(key),
                                 "LAUREL_JWT_ISSUER": "i", "LAUREL_JWT_AUDIENCE": "a"})
    error = refused(PermissionDenied, intake, SetCampaignClock(
        intake.caller(CENTER), "henan-2021", DEMO_NOW))
    assert "only in development" in str(error)


async def test_each_definition_is_recorded_once_and_again_when_its_file_changes(
    build_intake: Any,
) -> None:
    first = await build_intake()
    assert [e.type for e in first.store.read_stream("campaign-henan-2021")] == [
        "CampaignDefined"]
    again = await build_intake()
    assert again.store.last_position() == first.store.last_position()

    shipped = {c.campaign_id: c.definition for c in first.app.deps.catalog.all()}
    edited = shipped["henan-2021"].model_copy(update={"name_en": "Henan, amended"})
    amended = await build_intake(catalog=CampaignCatalog({**shipped, "henan-2021": edited}))
    recorded = amended.store.read_stream("campaign-henan-2021")
    assert [e.type for e in recorded] == ["CampaignDefined", "CampaignAmended"]
    assert recorded[-1].payload["definition"]["name_en"] == "Henan, amended"
    assert recorded[-1].metadata["actor"]["role"] == "system"


# -- queries -----------------------------------------------------------------------------


async def test_a_nomination_as_of_a_past_time_and_its_history(
    build_intake: Any, database_url: str,
) -> None:
    moments = iter(DEMO_NOW + timedelta(hours=h) for h in range(1000))
    store = open_intake_store(database_url, clock=lambda: next(moments))
    intake = await build_intake(store=store)
    intake.register({"henan-center", "zhengzhou", COUNTY})
    nid = intake.submit(COUNTY, "ten_measures_benchmark")
    zhengzhou = intake.caller(intake.endorser("zhengzhou"))
    intake.handle(ReturnNomination(zhengzhou, nid, ("请补充医院简介",)))
    intake.handle(ResubmitNomination(intake.caller(intake.nominator(COUNTY)), nid,
                                     {"hospital_profile": "三级甲等综合医院。"}))
    submitted_at, returned_at, _ = (parse_time(e.recorded_at) for e in stream(intake, nid))

    def status_as_of(moment: datetime) -> str:
        found = intake.handle(GetNomination(intake.caller(CENTER), nid,
                                            recorded_as_of=moment))
        return str(found.status)

    assert status_as_of(submitted_at) == "submitted"
    assert status_as_of(returned_at + timedelta(minutes=1)) == "returned"
    assert intake.get(nid).status == "submitted"
    with pytest.raises(NotFound, match="as recorded by"):
        status_as_of(submitted_at - timedelta(minutes=1))

    # On the campaign's clock (here the wall clock intake was given, DEMO_NOW,
    # while the store recorded an hour apart) every event counts at DEMO_NOW.
    def campaign_status(moment: datetime) -> str:
        return str(intake.handle(GetNomination(intake.caller(CENTER), nid, moment)).status)

    assert campaign_status(DEMO_NOW) == "submitted"
    assert [e.campaign_time for e in stream(intake, nid)] == [DEMO_NOW] * 3
    with pytest.raises(NotFound, match="as of campaign time"):
        campaign_status(DEMO_NOW - timedelta(seconds=1))

    history = intake.handle(GetNominationHistory(intake.caller(CENTER), nid))
    assert [(e.type, e.actor.id) for e in history] == [
        ("NominationSubmitted", f"nominator-{COUNTY}"),
        ("NominationReturned", "endorser-zhengzhou"),
        ("NominationResubmitted", f"nominator-{COUNTY}")]
