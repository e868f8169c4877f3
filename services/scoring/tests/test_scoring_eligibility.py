"""The compliance registry and the eligibility rules that read it."""

from __future__ import annotations

import json
from datetime import date

import pytest

from laurel.envelope import NewEvent, RecordedEvent, canonical_json
from laurel.errors import AlreadyExists, InvalidArgument, NotFound
from laurel.scoring.domain import eligibility as el

AS_OF = date(2021, 12, 1)


def stored(new: NewEvent) -> dict:
    """The payload as the store gives it back: canonical JSON, read again."""
    payload = json.loads(canonical_json(new.payload))
    assert payload == new.payload
    return payload


def recorded(new: NewEvent, version: int = 1) -> RecordedEvent:
    return RecordedEvent(
        position=version, event_id=new.event_id, stream_id="s", version=version,
        type=new.type, schema_version=1, payload=stored(new),
        metadata={"actor": {"id": "feed", "role": "system", "organization_id": ""}},
        recorded_at="2021-12-01T08:00:00.000000Z", prev_hash="0" * 64, hash="f" * 64)


def registry_of(*decided: list[NewEvent]) -> el.ComplianceRegistry:
    events = [e for batch in decided for e in batch]
    return el.fold_registry(recorded(e, i + 1) for i, e in enumerate(events))


def complaint(entry_id: str, subject: str, on: date) -> el.ComplianceReport:
    return el.ComplianceReport(entry_id, "department", subject, on, "12320 hotline",
                               "patient complaint")


def test_a_complaint_within_three_years_makes_the_post_ineligible():
    registry = registry_of(
        el.record_complaint(el.ComplianceRegistry(), complaint("c-1", "ward-7",
                                                               date(2019, 3, 1))))
    verdict = el.no_complaint_within(registry, "n-1", ["ward-7"], 3, AS_OF,
                                     cause="submitted")
    p = verdict.payload
    assert verdict.type == el.VERDICT_RECORDED
    assert (p["rule"], p["decision"]) == (el.RULE_NO_COMPLAINT, el.INELIGIBLE)
    assert p["parameters"] == {"years": 3, "as_of": "2021-12-01",
                               "window_start": "2018-12-01", "subject_ids": ["ward-7"]}
    assert p["entries_seen"] == ["c-1"] and p["entries_counted"] == ["c-1"]
    assert "c-1 about ward-7 on 2019-03-01" in p["reason"]


def test_old_withdrawn_and_other_subjects_entries_are_seen_but_not_counted():
    empty = el.ComplianceRegistry()
    old = el.record_complaint(empty, complaint("c-old", "ward-7", date(2018, 11, 30)))
    baseless = el.record_complaint(empty, complaint("c-2", "ward-7", date(2021, 6, 1)))
    other = el.record_complaint(empty, complaint("c-3", "ward-9", date(2021, 6, 1)))
    registry = registry_of(old, baseless, other)
    withdrawn = el.withdraw_entry(registry, "c-2", "investigated: unfounded",
                                  date(2021, 7, 1))
    registry = registry_of(old, baseless, other, withdrawn)

    p = el.no_complaint_within(registry, "n-1", ["ward-7"], 3, AS_OF).payload
    assert p["decision"] == el.ELIGIBLE
    assert p["entries_seen"] == ["c-2", "c-old"] and p["entries_counted"] == []
    assert "c-2 withdrawn" in p["reason"] and "outside the window" in p["reason"]


def test_the_window_starts_on_the_same_day_years_earlier():
    registry = registry_of(el.record_complaint(
        el.ComplianceRegistry(), complaint("c-1", "ward-7", date(2018, 12, 1))))
    assert el.no_complaint_within(registry, "n-1", ["ward-7"], 3, AS_OF
                                  ).payload["decision"] == el.INELIGIBLE
    assert el.window_start(date(2024, 2, 29), 3) == date(2021, 2, 28)


def test_a_penalty_makes_the_leader_ineligible():
    report = el.ComplianceReport("p-1", "person", "manager-3", date(2020, 1, 5),
                                 "provincial commission", "administrative penalty")
    registry = registry_of(el.record_penalty(el.ComplianceRegistry(), report))
    p = el.no_penalty_within(registry, "n-4", ["manager-3"], 3, AS_OF).payload
    assert (p["rule"], p["decision"]) == (el.RULE_NO_PENALTY, el.INELIGIBLE)
    # a complaint is not a penalty:
    assert el.no_complaint_within(registry, "n-4", ["manager-3"], 3, AS_OF
                                  ).payload["decision"] == el.ELIGIBLE


def test_the_registry_records_a_report_once_and_refuses_a_different_one():
    report = complaint("c-1", "ward-7", date(2020, 1, 1))
    registry = registry_of(el.record_complaint(el.ComplianceRegistry(), report))
    assert el.record_complaint(registry, report) == []
    with pytest.raises(AlreadyExists):
        el.record_penalty(registry, report)
    with pytest.raises(NotFound):
        el.withdraw_entry(registry, "nope", "why", AS_OF)
    with pytest.raises(InvalidArgument):
        el.record_complaint(registry, el.ComplianceReport("", "planet", "", AS_OF))


def test_self_assessment_threshold():
    assert el.self_assessment_at_least("n-1", 912, 900).payload["decision"] == (
        el.ELIGIBLE)
    below = el.self_assessment_at_least("n-1", 899, 900).payload
    assert below["decision"] == el.INELIGIBLE
    assert below["reason"] == ("the self-assessment totals 899 points, below the "
                               "threshold of 900")
    assert el.self_assessment_at_least("n-1", None, 900).payload["decision"] == (
        el.INELIGIBLE)


def test_the_leaders_hospital_needs_a_live_benchmark_nomination():
    nominations = [
        el.HospitalNomination("n-1", "ten_measures_benchmark", "h-1", live=False),
        el.HospitalNomination("n-2", "single_measure_benchmark", "h-1", live=True),
        el.HospitalNomination("n-3", "ten_measures_benchmark", "h-2", live=True),
        el.HospitalNomination("n-5", "warm_service_post", "h-1", live=True),
    ]
    p = el.hospital_has_live_benchmark("n-4", "h-1", nominations).payload
    assert (p["rule"], p["decision"]) == (el.RULE_LIVE_BENCHMARK, el.ELIGIBLE)
    assert p["nominations_seen"] == ["n-1", "n-2"]
    gone = [el.HospitalNomination("n-2", "single_measure_benchmark", "h-1", False)]
    assert el.hospital_has_live_benchmark("n-4", "h-1", gone).payload["decision"] == (
        el.INELIGIBLE)


def test_verdicts_fold_to_the_latest_per_rule():
    first = el.self_assessment_at_least("n-1", 950, 900)
    second = el.no_complaint_within(el.ComplianceRegistry(), "n-1", ["h-1"], 3, AS_OF)
    state = el.fold_verdicts([recorded(first, 1), recorded(second, 2)])
    assert state is not None and state.eligible
    assert not el.changes_verdict(state, el.self_assessment_at_least("n-1", 950, 900))
    assert el.changes_verdict(state, el.self_assessment_at_least("n-1", 850, 900))


NOMINATIONS = [
    el.NominationFacts("n-ward", "henan-2021", "warm_service_post", "h-1",
                       ("ward-7",), (el.RULE_NO_COMPLAINT,)),
    el.NominationFacts("n-leader", "henan-2021", "service_leader", "h-1",
                       ("manager-3",), (el.RULE_NO_PENALTY, el.RULE_LIVE_BENCHMARK)),
    el.NominationFacts("n-ten", "henan-2021", "ten_measures_benchmark", "h-1",
                       ("h-1",), (el.RULE_SELF_ASSESSMENT,)),
    el.NominationFacts("n-other", "henan-2021", "service_leader", "h-2",
                       ("manager-9",), (el.RULE_NO_PENALTY, el.RULE_LIVE_BENCHMARK)),
    el.NominationFacts("n-dead", "henan-2021", "warm_service_post", "h-1",
                       ("ward-7",), (el.RULE_NO_COMPLAINT,), live=False),
]


def test_a_new_complaint_reevaluates_the_live_nominations_of_its_subject():
    [new] = el.record_complaint(el.ComplianceRegistry(),
                                complaint("c-9", "ward-7", date(2021, 11, 30)))
    change = el.fact_change_from(recorded(new))
    assert el.nominations_to_reevaluate(change, NOMINATIONS) == [
        el.Reevaluation("n-ward", (el.RULE_NO_COMPLAINT,), "complaint:c-9")]


def test_a_withdrawn_entry_reevaluates_by_its_kind_and_subject():
    [penalty] = el.record_penalty(el.ComplianceRegistry(), el.ComplianceReport(
        "p-1", "person", "manager-3", date(2021, 1, 1)))
    registry = registry_of([penalty])
    [withdrawn] = el.withdraw_entry(registry, "p-1", "overturned", AS_OF)
    change = el.fact_change_from(recorded(withdrawn))
    assert [r.nomination_id for r in el.nominations_to_reevaluate(
        change, NOMINATIONS)] == ["n-leader"]


def test_a_withdrawn_benchmark_nomination_reevaluates_the_hospitals_leader():
    intake_withdrawn = NewEvent("NominationWithdrawn", {
        "nomination_id": "n-ten", "reason": "", "category": "ten_measures_benchmark",
        "hospital_id": "h-1"})
    change = el.fact_change_from(recorded(intake_withdrawn))
    assert el.nominations_to_reevaluate(change, NOMINATIONS) == [
        el.Reevaluation("n-leader", (el.RULE_LIVE_BENCHMARK,),
                        "benchmark_withdrawn:n-ten")]
    ward_gone = el.FactChange(el.FACT_BENCHMARK_WITHDRAWN, "n-ward", hospital_id="h-1",
                              category="warm_service_post")
    assert el.nominations_to_reevaluate(ward_gone, NOMINATIONS) == []


def test_an_amended_rubric_reevaluates_the_self_assessments_of_its_category():
    change = el.FactChange(el.FACT_RUBRIC_AMENDED, "rubric-v2",
                           campaign_id="henan-2021", category="ten_measures_benchmark")
    assert [r.nomination_id for r in el.nominations_to_reevaluate(
        change, NOMINATIONS)] == ["n-ten"]
    elsewhere = el.FactChange(el.FACT_RUBRIC_AMENDED, "x", campaign_id="other")
    assert el.nominations_to_reevaluate(elsewhere, NOMINATIONS) == []
