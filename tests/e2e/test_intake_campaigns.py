"""Campaigns as the documents say, through intake's public API (issue 16).

Over real gRPC to intake with its real SQLite store: every stage boundary of
henan-2021 and innovation-year at which intake acts, tested on both sides on
the campaign clock; innovation-year from its departments' and wards'
applications through its own office's receipt, with its own organizers only;
and a caller who may not see a nomination getting NOT_FOUND for reads and
writes alike, while the security log keeps the real reason.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import grpc
import pytest

from laurel.campaigns import SHIPPED_DIR, load_catalog
from laurel.campaigns.specimen import specimen_fields
from laurel.demo import DEMO_NOW, ORGANIZER, campaign_clock_request
from laurel.envelope import Actor
from laurel.grpcutil import violations_of
from laurel.intake.v1 import intake_pb2 as pb

CATALOG = load_catalog(SHIPPED_DIR)
HENAN, INNOVATION = CATALOG["henan-2021"], CATALOG["innovation-year"]
CST = timezone(timedelta(hours=8))
COUNTY, PROVINCIAL = "zhengzhou-peoples", "henan-provincial-peoples"


def at(day: str, end_of_day: bool = False) -> datetime:
    """The first (or last) second of a day in the campaigns' zone."""
    moment = datetime.fromisoformat(day).replace(tzinfo=CST)
    return moment + timedelta(hours=23, minutes=59, seconds=59) if end_of_day else moment


def nominator(organization: str) -> Actor:
    return Actor(f"nominator-{organization}", "nominator", organization)


ZHENGZHOU = Actor("endorser-zhengzhou", "endorser", "zhengzhou")


async def henan_nomination(api, hospital: str,  # noqa: ANN001
                           category: str = "single_measure_benchmark") -> str:
    """A nomination of a category without a quota, so that a test makes many."""
    reply = await api.call("SubmitNomination", pb.SubmitNominationRequest(
        nomination_id=str(uuid.uuid4()), campaign_id="henan-2021", category=category,
        nominee=pb.Nominee(kind="hospital", name=f"{hospital} 被推荐",
                           organization_id=hospital),
        fields=specimen_fields(HENAN.category(category))), nominator(hospital))
    return str(reply.nomination_id)


# -- henan-2021: the nomination stage, 2021-11-01 to 2021-12-31 -----------------------

HENAN_ACTS = {
    # act: (the hospital whose nomination it acts on, the call)
    "submit": (COUNTY, None),
    "amend": (COUNTY, lambda n: ("AmendNomination", pb.AmendNominationRequest(
        nomination_id=n, fields={"description": "补充说明。"}, reason="补充"),
        nominator(COUNTY))),
    "withdraw": (COUNTY, lambda n: ("WithdrawNomination", pb.WithdrawNominationRequest(
        nomination_id=n, reason="撤回"), nominator(COUNTY))),
    "endorse": (COUNTY, lambda n: ("EndorseNomination", pb.EndorseNominationRequest(
        nomination_id=n, opinion="同意推荐"), ZHENGZHOU)),
    "return": (COUNTY, lambda n: ("ReturnNomination", pb.ReturnNominationRequest(
        nomination_id=n, reasons=["请补充"]), ZHENGZHOU)),
    "receive": (PROVINCIAL, lambda n: ("ReceiveNomination", pb.ReceiveNominationRequest(
        nomination_id=n), ORGANIZER)),
}
HENAN_BOUNDARIES = [(at("2021-10-31", True), False), (at("2021-11-01"), True),
                    (at("2021-12-31", True), True), (at("2022-01-01"), False)]


@pytest.mark.parametrize("act", sorted(HENAN_ACTS))
async def test_henan_intake_acts_only_inside_the_nomination_stage(intake_api, act: str  # noqa: ANN001
                                                                   ) -> None:
    await intake_api.register_demo("henan-center", "zhengzhou", COUNTY, PROVINCIAL)
    hospital, call = HENAN_ACTS[act]
    for moment, allowed in HENAN_BOUNDARIES:
        await intake_api.set_clock("henan-2021", DEMO_NOW)
        nomination_id = None if call is None else await henan_nomination(intake_api, hospital)
        await intake_api.set_clock("henan-2021", moment)
        before = intake_api.last_position()
        if call is None:
            attempt = henan_nomination(intake_api, hospital)
        else:
            method, request, actor = call(nomination_id)
            attempt = intake_api.call(method, request, actor)
        if allowed:
            await attempt
            assert intake_api.last_position() > before
            continue
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await attempt
        error = refused.value
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, (act, moment)
        assert [rule for rule, _ in violations_of(error)] == ["stage_window"]
        assert "推荐上报阶段" in error.details() and "2021-11-01 to 2021-12-31" in error.details()
        assert intake_api.last_position() == before


async def test_submitted_at_and_as_of_run_on_the_campaign_clock(intake_api) -> None:  # noqa: ANN001
    """The README's `show --as-of 2021-11-26T10:00:00+08:00` finds a
    nomination submitted on the campaign's 2021-11-25, whenever it was recorded."""
    await intake_api.register_demo("henan-center", "zhengzhou", COUNTY)
    await intake_api.set_clock("henan-2021", DEMO_NOW)
    nomination_id = await henan_nomination(intake_api, COUNTY)
    await intake_api.set_clock("henan-2021", at("2021-11-30"))
    await intake_api.call("ReturnNomination", pb.ReturnNominationRequest(
        nomination_id=nomination_id, reasons=["请补充"]), ZHENGZHOU)

    def asked(moment: datetime, field: str = "as_of") -> pb.GetNominationRequest:
        request = pb.GetNominationRequest(nomination_id=nomination_id)
        getattr(request, field).FromDatetime(moment)
        return request

    then = await intake_api.call("GetNomination", asked(at("2021-11-26") + timedelta(
        hours=10)), ORGANIZER)
    assert then.status == "submitted"
    assert then.submitted_at.ToDatetime(tzinfo=CST) == DEMO_NOW
    now = await intake_api.call("GetNomination", asked(at("2021-12-01")), ORGANIZER)
    assert now.status == "returned"
    error = await intake_api.refused("GetNomination", asked(at("2021-11-24")), ORGANIZER)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    # The wall clock (recorded_at) is another question: 2021 had none of it.
    error = await intake_api.refused("GetNomination", asked(
        at("2021-11-26"), "recorded_as_of"), ORGANIZER)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    history = await intake_api.call("GetNominationHistory", pb.GetNominationHistoryRequest(
        nomination_id=nomination_id), ORGANIZER)
    assert [e.campaign_time.ToDatetime(tzinfo=CST) for e in history.entries] == [
        DEMO_NOW, at("2021-11-30")]
    assert all(e.recorded_at.ToDatetime().year > 2021 for e in history.entries)


# -- innovation-year: one hospital's own campaign -------------------------------------

HOSPITAL, COMMISSION = "xingan-peoples", "xingan"
SURGERY, WARD = "xingan-peoples-surgery", "xingan-peoples-ward-3"
OFFICE = Actor("office-1", "organizer", "xingan-peoples-innovation-office")
LEADING_GROUP = Actor("leader-1", "organizer", "xingan-peoples")
INNOVATION_NOW = at("2012-06-01")


async def xingan(api) -> None:  # noqa: ANN001
    """新干县人民医院 as what it is: a county hospital under its commission,
    with a department and a ward (nothing registered under a false kind)."""
    await api.register(
        {"organization_id": COMMISSION, "kind": "commission", "name": "新干县卫生健康委员会"},
        {"organization_id": HOSPITAL, "kind": "hospital", "name": "新干县人民医院",
         "jurisdiction_id": COMMISSION},
        {"organization_id": SURGERY, "kind": "department", "name": "外科",
         "parent_id": HOSPITAL},
        {"organization_id": WARD, "kind": "ward", "name": "三病区", "parent_id": HOSPITAL},
        {"organization_id": "other-hospital", "kind": "hospital", "name": "别的医院",
         "jurisdiction_id": COMMISSION},
        {"organization_id": "other-hospital-er", "kind": "department", "name": "急诊科",
         "parent_id": "other-hospital"})
    await api.set_clock("innovation-year", INNOVATION_NOW, LEADING_GROUP)


def application(organization: str, category: str = "management_innovation",
                title: str = "门诊一站式服务") -> pb.SubmitNominationRequest:
    fields = specimen_fields(INNOVATION.category(category))
    fields.update(title=title, department=organization)
    return pb.SubmitNominationRequest(
        nomination_id=str(uuid.uuid4()), campaign_id="innovation-year", category=category,
        nominee=pb.Nominee(kind="innovation_project", name=title,
                           organization_id=organization), fields=fields)


async def test_innovation_year_runs_from_department_and_ward_to_its_office(
    intake_api,  # noqa: ANN001
) -> None:
    await xingan(intake_api)
    surgery = await intake_api.call("SubmitNomination", application(SURGERY),
                                    nominator(SURGERY))
    ward = await intake_api.call("SubmitNomination", application(
        WARD, "service_innovation", "病区温馨服务"), nominator(WARD))
    for reply in (surgery, ward):
        found = await intake_api.call("GetNomination", pb.GetNominationRequest(
            nomination_id=reply.nomination_id), OFFICE)
        assert (found.status, found.route_to, found.receiver_id, found.hospital_id,
                found.nominee.kind) == ("submitted", "center",
                                        "xingan-peoples-innovation-office", HOSPITAL,
                                        "innovation_project")
        await intake_api.call("ReceiveNomination", pb.ReceiveNominationRequest(
            nomination_id=reply.nomination_id), OFFICE)
        assert (await intake_api.call("GetNomination", pb.GetNominationRequest(
            nomination_id=reply.nomination_id), LEADING_GROUP)).status == "received"
    received = intake_api.stream(f"nomination-{surgery.nomination_id}")[-1]
    assert (received.type, received.payload["center_id"]) == (
        "NominationReceived", "xingan-peoples-innovation-office")

    listed = await intake_api.call("ListNominations", pb.ListNominationsRequest(), OFFICE)
    assert {n.nomination_id for n in listed.nominations} == {surgery.nomination_id,
                                                            ward.nomination_id}


async def test_innovation_year_is_its_own_hospitals_alone(intake_api) -> None:  # noqa: ANN001
    await xingan(intake_api)
    await intake_api.register_demo("henan-center")
    # The hospital itself does not apply: its departments and wards do...
    error = await intake_api.refused("SubmitNomination", application(HOSPITAL),
                                     nominator(HOSPITAL))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "departments and wards of xingan-peoples" in error.details()
    # ...and only its own: another hospital's department is refused.
    error = await intake_api.refused("SubmitNomination", application("other-hospital-er"),
                                     nominator("other-hospital-er"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "xingan-peoples's own campaign" in error.details()

    reply = await intake_api.call("SubmitNomination", application(SURGERY),
                                  nominator(SURGERY))
    henan_center = ORGANIZER
    for method, request in (
            ("GetNomination", pb.GetNominationRequest(nomination_id=reply.nomination_id)),
            ("ReceiveNomination", pb.ReceiveNominationRequest(
                nomination_id=reply.nomination_id)),
            ("RejectNomination", pb.RejectNominationRequest(
                nomination_id=reply.nomination_id, reasons=["不同意"]))):
        error = await intake_api.refused(method, request, henan_center)
        assert error.code() == grpc.StatusCode.NOT_FOUND, method
    listed = await intake_api.call("ListNominations", pb.ListNominationsRequest(),
                                   henan_center)
    assert not listed.nominations
    # The leading group organizes it, but its office receives.
    error = await intake_api.refused("ReceiveNomination", pb.ReceiveNominationRequest(
        nomination_id=reply.nomination_id), LEADING_GROUP)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "xingan-peoples-innovation-office" in error.details()
    error = await intake_api.refused("SetCampaignClock", campaign_clock_request(
        "innovation-year", INNOVATION_NOW), henan_center)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


INNOVATION_BOUNDARIES = {
    # act: the moments at the edges of the stages that permit it, and whether
    # each is inside
    "submit": [(at("2012-01-31", True), False), (at("2012-02-01"), True),
               (at("2012-11-30", True), True), (at("2012-12-01"), False)],
    "receive": [(at("2012-01-31", True), False), (at("2012-02-01"), True),
                (at("2012-12-31", True), True), (at("2013-01-01"), False)],
    "withdraw": [(at("2012-01-31", True), False), (at("2012-02-01"), True),
                 (at("2012-11-30", True), True), (at("2012-12-01"), False)],
    "amend": [(at("2012-01-31", True), False), (at("2012-02-01"), True),
              (at("2012-11-30", True), True), (at("2012-12-01"), False)],
}


@pytest.mark.parametrize("act", sorted(INNOVATION_BOUNDARIES))
async def test_innovation_year_intake_acts_only_in_the_stages_that_permit_them(
    intake_api, act: str,  # noqa: ANN001
) -> None:
    await xingan(intake_api)
    for moment, allowed in INNOVATION_BOUNDARIES[act]:
        await intake_api.set_clock("innovation-year", INNOVATION_NOW, LEADING_GROUP)
        submitted = None
        if act != "submit":
            submitted = (await intake_api.call("SubmitNomination", application(SURGERY),
                                               nominator(SURGERY))).nomination_id
        await intake_api.set_clock("innovation-year", moment, LEADING_GROUP)
        if act == "submit":
            attempt = intake_api.call("SubmitNomination", application(SURGERY),
                                      nominator(SURGERY))
        elif act == "receive":
            attempt = intake_api.call("ReceiveNomination", pb.ReceiveNominationRequest(
                nomination_id=submitted), OFFICE)
        elif act == "withdraw":
            attempt = intake_api.call("WithdrawNomination", pb.WithdrawNominationRequest(
                nomination_id=submitted, reason="撤回"), nominator(SURGERY))
        else:
            attempt = intake_api.call("AmendNomination", pb.AmendNominationRequest(
                nomination_id=submitted, fields={"title": "改后的题目"}, reason="改题"),
                nominator(SURGERY))
        before = intake_api.last_position()
        if allowed:
            await attempt
            assert intake_api.last_position() > before
            continue
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await attempt
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, (act, moment)
        assert [rule for rule, _ in violations_of(refused.value)] == ["stage_window"]
        assert "2012-" in refused.value.details()
        assert intake_api.last_position() == before


# -- secrecy ----------------------------------------------------------------------------


async def test_a_nomination_another_may_not_see_is_not_found_for_every_call(
    intake_api,  # noqa: ANN001
) -> None:
    await intake_api.register_demo("henan-center", "zhengzhou", "kaifeng", COUNTY,
                                   "kaifeng-peoples")
    await intake_api.set_clock("henan-2021", DEMO_NOW)
    nomination_id = await henan_nomination(intake_api, COUNTY)
    kaifeng = Actor("endorser-kaifeng", "endorser", "kaifeng")
    stranger = nominator("kaifeng-peoples")
    missing = str(uuid.uuid4())
    calls = [
        ("GetNomination", pb.GetNominationRequest(nomination_id=""), kaifeng),
        ("EndorseNomination", pb.EndorseNominationRequest(nomination_id="", opinion="同意"),
         kaifeng),
        ("ReturnNomination", pb.ReturnNominationRequest(nomination_id="", reasons=["x"]),
         kaifeng),
        ("RejectNomination", pb.RejectNominationRequest(nomination_id="", reasons=["x"]),
         kaifeng),
        ("AmendNomination", pb.AmendNominationRequest(
            nomination_id="", fields={"hospital_profile": "x"}, reason="x",
            expected_version=9), stranger),
        ("WithdrawNomination", pb.WithdrawNominationRequest(nomination_id="", reason="x"),
         stranger),
    ]
    before = intake_api.last_position()
    for method, template, actor in calls:
        answers = []
        for target in (nomination_id, missing):
            request = type(template)()
            request.CopyFrom(template)
            request.nomination_id = target
            error = await intake_api.refused(method, request, actor)
            answers.append((error.code(), error.details().replace(target, "ID")))
        assert answers[0] == answers[1], method  # existence is not confirmed
        assert answers[0][0] == grpc.StatusCode.NOT_FOUND
        assert "zhengzhou" not in answers[0][1]
    assert intake_api.last_position() == before

    security = intake_api.runtime.grpc.security_log
    refusals = [e.payload for e in security.store.read_stream(security.stream_id)]
    hidden = [r for r in refusals if r["status"] == "NOT_FOUND"
              and r["method"].endswith("EndorseNomination")]
    assert hidden and "may not see nomination" in hidden[0]["reason"]
    assert "zhengzhou" in hidden[0]["reason"]


# -- stage 2: interviews and reporting ------------------------------------------------

REPORTER = Actor("reporter-1", "journalist", "medicine-health-news")
NEWSPAPER = Actor("editor-1", "organizer", "medicine-health-news")
ARTICLE = "《提升医疗服务进行时》：郑州市人民医院分时段预约见闻".encode()


def report(nomination_id: str, content: bytes = ARTICLE, kind: str = "article"
           ) -> pb.AttachReportRequest:
    return pb.AttachReportRequest(
        nomination_id=nomination_id, filename="采访报道.txt", media_type="text/plain",
        kind=kind, content=content, title="提升医疗服务进行时：分时段预约")


async def test_a_journalist_attaches_an_interview_article_in_stage_two_only(
    intake_api,  # noqa: ANN001
) -> None:
    await intake_api.register_demo("henan-center", "zhengzhou", COUNTY)
    await intake_api.set_clock("henan-2021", DEMO_NOW)
    nomination_id = await henan_nomination(intake_api, COUNTY)

    reply = await intake_api.call("AttachReport", report(nomination_id), REPORTER)
    assert reply.version == 2
    history = await intake_api.call("GetNominationHistory", pb.GetNominationHistoryRequest(
        nomination_id=nomination_id), REPORTER)
    attached = history.entries[-1]
    assert (attached.event_type, attached.actor_id, attached.actor_role,
            attached.actor_organization_id) == ("ReportAttached", "reporter-1",
                                                "journalist", "medicine-health-news")
    assert "分时段预约" in attached.details_json
    shown = await intake_api.call("GetNomination", pb.GetNominationRequest(
        nomination_id=nomination_id), nominator(COUNTY))
    assert [(a.kind, a.sha256) for a in shown.attachments] == [("article", reply.sha256)]
    # The co-organizing newspaper itself attaches a report too.
    await intake_api.call("AttachReport", report(nomination_id, "一份报道".encode(), "report"),
                          NEWSPAPER)

    # Outside the interviews stage (2021-11-01 to 2021-12-31), at both ends.
    for moment, allowed in [(at("2021-10-31", True), False), (at("2021-11-01"), True),
                            (at("2021-12-31", True), True), (at("2022-01-01"), False)]:
        await intake_api.set_clock("henan-2021", moment)
        content = f"报道 {moment.isoformat()}".encode()
        if allowed:
            await intake_api.call("AttachReport", report(nomination_id, content), REPORTER)
            continue
        error = await intake_api.refused("AttachReport", report(nomination_id, content),
                                         REPORTER)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert [rule for rule, _ in violations_of(error)] == ["stage_window"]
        assert "采访报道阶段" in error.details() and "2021-11-01 to 2021-12-31" in error.details()
    await intake_api.set_clock("henan-2021", DEMO_NOW)

    # Not a hospital's evidence kind; not a hospital's act.
    error = await intake_api.refused("AttachReport", report(nomination_id, b"x", "case"),
                                     REPORTER)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = await intake_api.refused("AttachReport", report(nomination_id, b"y"),
                                     nominator(COUNTY))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED  # the policy table

    # Outside their campaign: another newspaper's journalist, and the
    # newspaper's journalist on a hospital's own campaign, find nothing.
    other_paper = Actor("reporter-2", "journalist", "dahe-daily")
    error = await intake_api.refused("AttachReport", report(nomination_id, b"z"),
                                     other_paper)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    await xingan(intake_api)
    project = await intake_api.call("SubmitNomination", application(SURGERY),
                                    nominator(SURGERY))
    error = await intake_api.refused("AttachReport", report(project.nomination_id),
                                     REPORTER)
    assert error.code() == grpc.StatusCode.NOT_FOUND


# -- attachment 2's commission opinion -----------------------------------------------------


async def test_the_commission_opinion_is_the_endorsements_and_not_the_hospitals(
    intake_api,  # noqa: ANN001
) -> None:
    await intake_api.register_demo("henan-center", "zhengzhou", COUNTY)
    await intake_api.set_clock("henan-2021", DEMO_NOW)
    fields = specimen_fields(HENAN.category("single_measure_benchmark"))
    typed = pb.SubmitNominationRequest(
        campaign_id="henan-2021", category="single_measure_benchmark",
        nominee=pb.Nominee(kind="hospital", name="郑州市人民医院", organization_id=COUNTY),
        fields={**fields, "commission_opinion.opinion": "同意推荐（医院自填）"})
    error = await intake_api.refused("SubmitNomination", typed, nominator(COUNTY))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    [(field, why)] = violations_of(error)
    assert field == "fields[commission_opinion.opinion]" and "endorsement" in why

    nomination_id = await henan_nomination(intake_api, COUNTY)
    error = await intake_api.refused("AmendNomination", pb.AmendNominationRequest(
        nomination_id=nomination_id, fields={"commission_opinion.opinion": "同意"},
        reason="补填"), nominator(COUNTY))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in violations_of(error)] == ["fields[commission_opinion.opinion]"]

    await intake_api.call("EndorseNomination", pb.EndorseNominationRequest(
        nomination_id=nomination_id, opinion="经审核，同意推荐。"), ZHENGZHOU)
    shown = await intake_api.call("GetNomination", pb.GetNominationRequest(
        nomination_id=nomination_id), nominator(COUNTY))
    assert shown.fields["commission_opinion.opinion"] == "经审核，同意推荐。"
    assert shown.fields["commission_opinion.seal"] == "郑州市卫生健康委"
    assert shown.fields["commission_opinion.date"] == "2021-11-25"
    # The hospital's own cells stay its own to amend.
    await intake_api.call("AmendNomination", pb.AmendNominationRequest(
        nomination_id=nomination_id, fields={"description": "补充成效。"}, reason="补充"),
        nominator(COUNTY))


# -- campaigns readable -----------------------------------------------------------------


async def test_campaigns_are_listed_and_read_as_of_a_time(intake_api) -> None:  # noqa: ANN001
    await intake_api.set_clock("henan-2021", DEMO_NOW)
    listed = await intake_api.call("ListCampaigns", pb.ListCampaignsRequest(), REPORTER)
    by_id = {c.campaign_id: c for c in listed.campaigns}
    assert set(by_id) == {"henan-2021", "innovation-year"}
    henan = by_id["henan-2021"]
    assert henan.campaign_now.ToDatetime(tzinfo=CST) == DEMO_NOW
    assert list(henan.open_stages) == ["nomination", "interviews"]
    assert [(s.key, s.start, s.end) for s in henan.stages][0] == (
        "nomination", "2021-11-01", "2021-12-31")

    def asked(**times: datetime) -> pb.GetCampaignRequest:
        request = pb.GetCampaignRequest(campaign_id="henan-2021")
        for name, moment in times.items():
            getattr(request, name).FromDatetime(moment)
        return request

    shown = await intake_api.call("GetCampaign", asked(
        as_of=at("2021-11-26") + timedelta(hours=10)), nominator(COUNTY))
    assert (shown.version, list(shown.organizer_ids), list(shown.co_organizer_ids)) == (
        HENAN.version, ["henan-center"], ["medicine-health-news"])
    assert list(shown.receiver_ids) == ["henan-center"]
    assert shown.lookback_reference_date == "2021-12-31"
    warm = next(c for c in shown.categories if c.key == "warm_service_post")
    assert list(warm.nominee_kinds) == ["department", "ward"]
    assert "no_complaint_within" in warm.rules_json
    single = next(c for c in shown.categories if c.key == "single_measure_benchmark")
    opinion = next(f for f in single.fields if f.key == "commission_opinion.opinion")
    assert (opinion.filled_by, opinion.label_zh) == ("endorser", "意见")
    assert '"lookback_reference"' in shown.definition_json

    error = await intake_api.refused("GetCampaign", asked(
        recorded_as_of=datetime(2020, 1, 1, tzinfo=CST)), ORGANIZER)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = await intake_api.refused("GetCampaign", asked(
        as_of=DEMO_NOW, recorded_as_of=DEMO_NOW), ORGANIZER)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = await intake_api.refused("GetCampaign", pb.GetCampaignRequest(
        campaign_id="no-such"), ORGANIZER)
    assert error.code() == grpc.StatusCode.NOT_FOUND
