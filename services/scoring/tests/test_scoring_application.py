"""Scoring's use cases on a real SQLite store: verdicts, re-evaluation, results."""

from __future__ import annotations

from datetime import date

import pytest

from laurel.envelope import Actor
from laurel.errors import InvalidArgument, NotFound, PermissionDenied
from laurel.scoring.domain import commands as c
from laurel.scoring.domain import eligibility as el

ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")
HOTLINE = Actor("hotline-12320", "service", "health-hotline")
NOMINATOR = Actor("nominator-1", "nominator", "zz-peoples")
WARD = "zz-peoples-ward-3"


def complaint(entry_id: str, subject: str = WARD, on: date = date(2021, 12, 5)
              ) -> el.ComplianceReport:
    return el.ComplianceReport(entry_id, "department", subject, on, "12320 hotline",
                               "rude to a patient's family")


def warm_post(scoring, nid: str = "post-1", evidence: bool = True) -> None:  # noqa: ANN001
    scoring.submitted(nid, "warm_service_post", "zz-peoples", kind="department",
                      org=WARD, received=False)
    if evidence:
        scoring.intake("EvidenceAttached", {"nomination_id": nid, "kind": "case",
                                            "sha256": "ab" * 32})
    scoring.intake("NominationReceived", {"nomination_id": nid})


def test_received_nomination_gets_one_verdict_per_rule_in_force(scoring) -> None:  # noqa: ANN001
    warm_post(scoring)
    verdicts = scoring.verdicts("post-1")
    assert set(verdicts) == {"requires_evidence", el.RULE_NO_COMPLAINT}
    assert {v["decision"] for v in verdicts.values()} == {el.ELIGIBLE}
    complaint_rule = verdicts[el.RULE_NO_COMPLAINT]
    assert complaint_rule["parameters"]["years"] == 3
    assert complaint_rule["parameters"]["as_of"] == "2021-12-31"
    assert complaint_rule["parameters"]["subject_ids"] == [WARD]
    assert complaint_rule["cause"].startswith("nomination_received:")
    assert [e.topic for e in scoring.store.unpublished()] == [
        "laurel.scoring.events"] * 2


def test_a_complaint_flips_the_post_and_the_verdict_names_it(scoring) -> None:  # noqa: ANN001
    warm_post(scoring)
    done = scoring.call(c.RecordComplaint(scoring.caller(HOTLINE), complaint("c-7")))
    assert done.recorded and done.reevaluated == ["post-1"]
    verdict = scoring.verdicts("post-1")[el.RULE_NO_COMPLAINT]
    assert verdict["decision"] == el.INELIGIBLE
    assert verdict["entries_seen"] == ["c-7"] and verdict["entries_counted"] == ["c-7"]
    assert "c-7" in verdict["reason"] and verdict["cause"] == "complaint:c-7"
    view = scoring.call(c.GetEligibility(scoring.caller(ORGANIZER), "post-1"))
    assert not view.eligible and len(view.history) == 3

    before = scoring.store.last_position()
    again = scoring.call(c.RecordComplaint(scoring.caller(HOTLINE), complaint("c-7")))
    assert (again.recorded, again.reevaluated) == (False, [])
    assert scoring.store.last_position() == before

    scoring.call(c.WithdrawComplianceEntry(scoring.caller(ORGANIZER), "c-7",
                                           "investigated: unfounded"))
    assert scoring.verdicts("post-1")[el.RULE_NO_COMPLAINT]["decision"] == el.ELIGIBLE


def test_refused_registry_calls_store_nothing(scoring) -> None:  # noqa: ANN001
    warm_post(scoring)
    before = scoring.store.last_position()
    with pytest.raises(PermissionDenied):  # by the policy table
        scoring.call(c.RecordComplaint(scoring.caller(NOMINATOR), complaint("c-1")))
    bad = el.ComplianceReport("c-2", "planet", "", date(2021, 1, 1))
    with pytest.raises(InvalidArgument) as raised:
        scoring.call(c.RecordPenalty(scoring.caller(HOTLINE), bad))
    assert {v.field for v in raised.value.violations} == {"subject_kind", "subject_id"}
    with pytest.raises(NotFound):
        scoring.call(c.WithdrawComplianceEntry(scoring.caller(HOTLINE), "c-404", "typo"))
    assert scoring.store.last_position() == before


def test_a_withdrawn_benchmark_makes_the_leader_ineligible(scoring) -> None:  # noqa: ANN001
    scoring.submitted("bench-1", "ten_measures_benchmark", "zz-peoples", total=950)
    scoring.submitted("leader-1", "quality_service_leader", "zz-peoples",
                      kind="manager", name="王芳")
    leader = scoring.verdicts("leader-1")
    assert leader[el.RULE_LIVE_BENCHMARK]["decision"] == el.ELIGIBLE
    assert leader[el.RULE_NO_PENALTY]["parameters"]["subject_ids"] == [
        "zz-peoples/王芳"]
    assert scoring.verdicts("bench-1")[el.RULE_SELF_ASSESSMENT]["decision"] == (
        el.ELIGIBLE)

    scoring.intake("NominationWithdrawn", {
        "nomination_id": "bench-1", "reason": "merged", "category":
        "ten_measures_benchmark", "hospital_id": "zz-peoples"})
    verdict = scoring.verdicts("leader-1")[el.RULE_LIVE_BENCHMARK]
    assert verdict["decision"] == el.INELIGIBLE
    assert verdict["cause"] == "benchmark_withdrawn:bench-1"
    assert verdict["nominations_seen"] == ["bench-1"]


@pytest.mark.parametrize(("rejected_by", "received"), [("zhengzhou", False),
                                                       ("henan-center", True)],
                         ids=["by the commission", "by the center"])
def test_a_rejected_benchmark_makes_the_leader_ineligible_at_any_stage(
        scoring, rejected_by: str, received: bool) -> None:  # noqa: ANN001
    scoring.submitted("bench-1", "ten_measures_benchmark", "zz-peoples", total=950,
                      received=received)
    scoring.submitted("leader-1", "quality_service_leader", "zz-peoples",
                      kind="manager", name="王芳")
    assert scoring.verdicts("leader-1")[el.RULE_LIVE_BENCHMARK]["decision"] == el.ELIGIBLE

    scoring.intake("NominationRejected", {
        "nomination_id": "bench-1", "rejected_by": rejected_by, "reasons": ["不同意推荐"],
        "category": "ten_measures_benchmark", "hospital_id": "zz-peoples"})
    verdict = scoring.verdicts("leader-1")[el.RULE_LIVE_BENCHMARK]
    assert verdict["decision"] == el.INELIGIBLE
    assert verdict["cause"] == "benchmark_rejected:bench-1"
    eligibility = scoring.call(c.GetEligibility(scoring.caller(ORGANIZER), "leader-1"))
    assert not eligibility.eligible


def test_a_penalty_from_the_feed_reaches_the_person(scoring) -> None:  # noqa: ANN001
    scoring.submitted("bench-1", "ten_measures_benchmark", "zz-peoples", total=950)
    scoring.submitted("leader-1", "quality_service_leader", "zz-peoples",
                      kind="manager", name="王芳")
    message = {"kind": "penalty", "entry_id": "p-1", "subject_kind": "person",
               "subject_id": "zz-peoples/王芳", "occurred_on": "2020-05-01",
               "source": "provincial inspection", "summary": "warning"}
    scoring.reactions.on_compliance_report(message)
    scoring.reactions.on_compliance_report(message)
    scoring.reactions.on_compliance_report({"kind": "penalty", "entry_id": "p-2"})
    verdict = scoring.verdicts("leader-1")[el.RULE_NO_PENALTY]
    assert verdict["decision"] == el.INELIGIBLE and verdict["entries_counted"] == [
        "p-1"]
    registry = scoring.store.read_stream(el.REGISTRY_STREAM)
    assert [e.metadata["actor"]["id"] for e in registry] == ["compliance-feed"]


def test_a_redelivered_intake_event_changes_nothing(scoring) -> None:  # noqa: ANN001
    warm_post(scoring)
    event = scoring.event("NominationReceived", {"nomination_id": "post-1"})
    before = scoring.store.last_position()
    scoring.reactions.on_intake_event(event)
    after_first = scoring.store.last_position()
    scoring.reactions.on_intake_event(event)
    assert scoring.store.last_position() == after_first >= before


def test_an_amended_rubric_reruns_its_categorys_rules(scoring) -> None:  # noqa: ANN001
    scoring.submitted("bench-1", "ten_measures_benchmark", "zz-peoples", total=920)
    in_force = scoring.store.run(
        lambda uow: scoring.context.definitions.get(uow, "henan-2021"))
    definition = in_force.model_dump(mode="json", exclude_unset=True)
    category = definition["categories"][0]
    category["self_assessment"]["threshold"] = 950
    category["eligibility"][0]["params"]["min_total"] = 950
    scoring.intake("CampaignAmended", {"campaign_id": "henan-2021", "digest": "d-2",
                                       "definition": definition},
                   stream="campaign-henan-2021")
    verdict = scoring.verdicts("bench-1")[el.RULE_SELF_ASSESSMENT]
    assert verdict["decision"] == el.INELIGIBLE
    assert verdict["parameters"] == {"threshold": 950, "total": 920}
    assert verdict["cause"].startswith("rubric_amended:")
    amended = [e for e in scoring.store.read_stream("scoring-campaign-henan-2021")
               if e.type == el.RUBRIC_AMENDED]
    assert [e.payload["category"] for e in amended] == ["ten_measures_benchmark"]


def test_a_nominator_sees_only_their_own_verdicts(scoring) -> None:  # noqa: ANN001
    warm_post(scoring)
    assert scoring.call(c.GetEligibility(scoring.caller(NOMINATOR), "post-1")).eligible
    stranger = Actor("nominator-9", "nominator", "luoyang-peoples")
    with pytest.raises(NotFound):
        scoring.call(c.GetEligibility(scoring.caller(stranger), "post-1"))


def test_an_amended_self_assessment_reruns_the_threshold(scoring) -> None:  # noqa: ANN001
    scoring.submitted("bench-1", "ten_measures_benchmark", "zz-peoples", total=850)
    first = scoring.verdicts("bench-1")[el.RULE_SELF_ASSESSMENT]
    assert first["decision"] == el.INELIGIBLE
    assert first["parameters"] == {"threshold": 900, "total": 850}
    amended = scoring.intake("NominationAmended", {
        "nomination_id": "bench-1", "changes": {}, "reason": "recounted",
        "self_assessment_total": 930})
    verdict = scoring.verdicts("bench-1")[el.RULE_SELF_ASSESSMENT]
    assert verdict["decision"] == el.ELIGIBLE
    assert verdict["cause"] == f"nomination_amended:{amended.event_id}"
    assert scoring.call(c.GetEligibility(scoring.caller(ORGANIZER), "bench-1")).eligible


def test_an_announced_definition_that_does_not_parse_leaves_the_file_in_force(
        scoring, caplog) -> None:  # noqa: ANN001
    broken = {"id": "henan-2021", "categories": [{"key": "x", "bogus": True}]}
    scoring.intake("CampaignDefined", {"campaign_id": "henan-2021", "digest": "d-x",
                                       "definition": broken},
                   stream="campaign-henan-2021")
    warm_post(scoring)
    scoring.submitted("bench-1", "ten_measures_benchmark", "zz-peoples", total=920)
    assert set(scoring.verdicts("post-1")) == {"requires_evidence",
                                               el.RULE_NO_COMPLAINT}
    assert scoring.verdicts("bench-1")[el.RULE_SELF_ASSESSMENT]["decision"] == (
        el.ELIGIBLE)
    warnings = [r for r in caplog.records if "does not parse" in r.getMessage()]
    assert len(warnings) == 1  # remembered, not re-parsed for every nomination


def test_the_look_back_ends_on_the_declared_day_capped_by_the_campaign_clock(
    scoring,  # noqa: ANN001
) -> None:
    """Issue 16: henan-2021 declares `lookback_reference: {stage: evaluation,
    day: last}`. A complaint dated after the campaign's "now" does not count
    until the campaign clock reaches its day; one dated after the reference
    day never counts; a move of the clock judges the verdicts again."""
    from datetime import datetime, timedelta, timezone

    beijing = timezone(timedelta(hours=8))
    scoring.campaign_clock(datetime(2021, 12, 10, 9, 0, tzinfo=beijing))
    warm_post(scoring)
    assert scoring.verdicts("post-1")[el.RULE_NO_COMPLAINT]["parameters"][
        "as_of"] == "2021-12-10"
    future = scoring.call(c.RecordComplaint(scoring.caller(HOTLINE),
                                            complaint("c-later", on=date(2021, 12, 31))))
    assert future.recorded and future.reevaluated == []
    after_reference = scoring.call(c.RecordComplaint(
        scoring.caller(HOTLINE), complaint("c-2022", on=date(2022, 1, 1))))
    assert after_reference.reevaluated == []
    verdict = scoring.verdicts("post-1")[el.RULE_NO_COMPLAINT]
    assert verdict["decision"] == el.ELIGIBLE and verdict["entries_counted"] == []

    # the clock reaches the last day of the evaluation: c-later counts now
    scoring.campaign_clock(datetime(2021, 12, 31, 23, 59, tzinfo=beijing))
    verdict = scoring.verdicts("post-1")[el.RULE_NO_COMPLAINT]
    assert verdict["decision"] == el.INELIGIBLE
    assert verdict["entries_counted"] == ["c-later"]
    assert verdict["cause"] == "campaign_clock:2021-12-31T23:59:00+08:00"
    assert verdict["parameters"]["as_of"] == "2021-12-31"
    # the forums: past the reference day, the window ends on it still
    scoring.campaign_clock(datetime(2022, 1, 10, 9, 0, tzinfo=beijing))
    verdict = scoring.verdicts("post-1")[el.RULE_NO_COMPLAINT]
    assert verdict["parameters"]["as_of"] == "2021-12-31"
    assert verdict["entries_counted"] == ["c-later"]
