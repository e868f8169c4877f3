"""Results from the review events scoring receives: computed on close, versioned
on late amendments, ineligible nominations left out, breakdowns explained."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

import pytest

from laurel.envelope import Actor
from laurel.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from laurel.scoring.domain import commands as c
from laurel.scoring.domain import eligibility as el
from laurel.scoring.domain import round_inputs

ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")
REVIEWER = Actor("expert-1", "reviewer", "")
ROUND = "henan-2021-warm-r1"
PANEL = {"mgr-1": "hospital_manager", "mgr-2": "hospital_manager",
         "exp-1": "industry_expert", "exp-2": "industry_expert",
         "media-1": "media"}
CRITERIA = ("warm_service", "supporting_cases", "achievements")

BEIJING = timezone(timedelta(hours=8))


def posts(scoring, count: int = 3) -> list[str]:  # noqa: ANN001
    ids = []
    for n in range(1, count + 1):
        nid = f"post-{n}"
        scoring.submitted(nid, "warm_service_post", f"hospital-{n}",
                          kind="department", org=f"ward-{n}", received=False,
                          at=f"2021-11-2{n}T08:00:00.000000Z")
        scoring.intake("EvidenceAttached", {"nomination_id": nid, "kind": "case"})
        scoring.intake("NominationReceived", {"nomination_id": nid})
        ids.append(nid)
    return ids


def open_round(scoring, ids: list[str]) -> None:  # noqa: ANN001
    scoring.review("ReviewRoundOpened", {
        "round_id": ROUND, "campaign_id": "henan-2021",
        "category": "warm_service_post", "number": 1,
        "deadline": "2021-12-31T16:00:00.000000Z",
        "criteria": dict.fromkeys(CRITERIA, "100"), "nomination_ids": ids,
        "previous_round_id": ""})


def score(scoring, nid: str, reviewer: str, value: int, version: int = 1) -> None:  # noqa: ANN001
    scoring.review("ReviewScoreRecorded", {
        "round_id": ROUND, "round_number": 1, "campaign_id": "henan-2021",
        "category": "warm_service_post", "nomination_id": nid,
        "reviewer_id": reviewer, "group": PANEL[reviewer],
        "scores": dict.fromkeys(CRITERIA, str(value)), "comment": "",
        "form_version": version, "amends": None if version == 1 else version - 1})


def close(scoring) -> None:  # noqa: ANN001
    scoring.review("ReviewRoundClosed", {"round_id": ROUND, "outstanding": [],
                                         "closed_at": "", "early": True,
                                         "reason": ""})


def ranking(scoring, version: int = 0):  # noqa: ANN001, ANN201
    return scoring.call(c.GetRanking(scoring.caller(ORGANIZER), "henan-2021",
                                     "warm_service_post", ROUND, version))


def inputs_of(scoring) -> round_inputs.RoundInputs | None:  # noqa: ANN001
    """The round's inputs as a unit of work loads them (through the fold cache)."""
    return scoring.store.run(lambda uow: uow.load(round_inputs.stream_id(ROUND),
                                                  round_inputs.ROUND_INPUTS))


def scored_round(scoring) -> list[str]:  # noqa: ANN001
    ids = posts(scoring)
    open_round(scoring, ids)
    table = {"post-1": [90, 85, 88, 70, 99], "post-2": [80, 82, 84, 86, 60],
             "post-3": [75, 75, 75, 75, 75]}
    for nid, values in table.items():
        for reviewer, value in zip(PANEL, values, strict=True):
            score(scoring, nid, reviewer, value)
    return ids


def test_closing_the_round_computes_a_trimmed_ranking_with_tiers(scoring) -> None:  # noqa: ANN001
    scored_round(scoring)
    with pytest.raises(NotFound):
        ranking(scoring)
    close(scoring)
    result, latest = ranking(scoring)
    assert (result.version, latest) == (1, 1)
    assert [e.nomination_id for e in result.entries] == ["post-1", "post-2", "post-3"]
    assert [e.tier for e in result.entries] == ["awarded", "awarded", ""]
    breakdown = result.breakdown("post-1")
    assert {d["reviewer_id"] for d in breakdown["dropped"]} == {"media-1", "exp-2"}
    assert any("dropped highest media-1" in s for s in breakdown["steps"])
    [published] = [e for e in scoring.store.unpublished()
                   if e.event.type == "ResultComputed"]
    assert published.key == "henan-2021/warm_service_post"

    view = scoring.call(c.GetScoreBreakdown(scoring.caller(ORGANIZER), "post-1", ROUND))
    assert view.entry.rank == 1 and view.breakdown["score_display"] == "87.75"


def test_a_late_amendment_makes_a_new_version_and_the_old_stays(scoring) -> None:  # noqa: ANN001
    scored_round(scoring)
    close(scoring)
    scoring.review("ReviewRoundReopened", {"round_id": ROUND, "reason": "typo",
                                           "deadline": "2021-12-31T16:00:00.000000Z"})
    score(scoring, "post-1", "mgr-1", 60, version=2)
    close(scoring)
    latest, number = ranking(scoring)
    first, _ = ranking(scoring, 1)
    assert number == 2 and latest.version == 2
    assert latest.cause.startswith("ReviewScoreRecorded:")
    assert (first.entry("post-1").score, latest.entry("post-1").score) == (
        Fraction(351, 4), Fraction(82))
    assert latest.payload["supersedes"] == 1


def test_a_complaint_after_the_result_excludes_the_post(scoring) -> None:  # noqa: ANN001
    scored_round(scoring)
    close(scoring)
    report = el.ComplianceReport("c-1", "department", "ward-1", date(2021, 12, 10))
    scoring.call(c.RecordComplaint(scoring.caller(ORGANIZER), report))
    latest, number = ranking(scoring)
    assert number == 2 and latest.cause == "complaint:c-1"
    assert [e.nomination_id for e in latest.entries] == ["post-2", "post-3"]
    assert latest.payload["ineligible"]["post-1"]["rules"] == [el.RULE_NO_COMPLAINT]
    assert "post-1" in latest.unscored
    view = scoring.call(c.GetScoreBreakdown(scoring.caller(ORGANIZER), "post-1", ROUND))
    assert view.entry is None and "c-1" in view.ineligible_reason


def test_compute_results_on_request_and_its_refusals(scoring) -> None:  # noqa: ANN001
    scored_round(scoring)
    def compute(actor: Actor, category: str = "warm_service_post",
                round_id: str = ROUND) -> Any:
        return scoring.call(c.ComputeResults(scoring.caller(actor), "henan-2021",
                                             category, round_id))

    with pytest.raises(FailedPrecondition) as raised:  # the clock says 2026
        compute(ORGANIZER)
    assert raised.value.rule == "stage_window"
    scoring.campaign_clock(datetime(2021, 12, 10, 9, 0, tzinfo=BEIJING))
    done, again = compute(ORGANIZER), compute(ORGANIZER)
    assert (done.version, done.changed) == (1, True)
    assert (again.version, again.changed) == (1, False)
    before = scoring.store.last_position()
    with pytest.raises(PermissionDenied):  # by the policy table
        compute(REVIEWER)
    with pytest.raises(PermissionDenied):  # by the policy table
        scoring.call(c.GetRanking(scoring.caller(REVIEWER), "henan-2021",
                                  "warm_service_post", ROUND))
    with pytest.raises(PermissionDenied) as raised:  # organizes another campaign
        compute(Actor("organizer-ly", "organizer", "luoyang-center"))
    assert "is not for organizer-ly" in raised.value.message
    with pytest.raises(InvalidArgument):
        compute(ORGANIZER, category="ten_measures_benchmark")
    with pytest.raises(NotFound):
        compute(ORGANIZER, round_id="nope")
    assert scoring.store.last_position() == before


def test_reviews_off_the_rubric_are_recorded_as_a_refusal(scoring) -> None:  # noqa: ANN001
    ids = posts(scoring, 1)
    open_round(scoring, ids)
    scoring.review("ReviewScoreRecorded", {
        "round_id": ROUND, "campaign_id": "henan-2021",
        "category": "warm_service_post", "nomination_id": "post-1",
        "reviewer_id": "mgr-1", "group": "hospital_manager",
        "scores": {"charm": "100"}, "comment": "", "form_version": 1})
    close(scoring)
    [refused] = [e for e in scoring.store.read_stream(
        f"results-henan-2021-warm_service_post-{ROUND}")]
    assert refused.type == "ResultComputationRefused"
    assert refused.payload["error"] == "InvalidArgument"


def test_innovation_year_awards_first_second_third_prizes_by_count(scoring) -> None:  # noqa: ANN001
    """1 first, 2 second, 3 third prizes per award: the seventh project gets none."""
    round_id, category = "innovation-2012-management", "management_innovation"
    ids = [f"project-{n}" for n in range(1, 8)]
    for n, nid in enumerate(ids, start=1):
        scoring.submitted(nid, category, f"hospital-{n}", kind="project",
                          org=f"hospital-{n}", campaign="innovation-year")
    scoring.review("ReviewRoundOpened", {
        "round_id": round_id, "campaign_id": "innovation-year", "category": category,
        "number": 1, "deadline": "2012-06-30T16:00:00.000000Z",
        "criteria": dict.fromkeys(("novelty", "difficulty", "benefit"), "100"),
        "nomination_ids": ids, "previous_round_id": ""})
    for n, nid in enumerate(ids):
        for reviewer in ("mgmt-1", "mgmt-2", "mgmt-3"):
            scoring.review("ReviewScoreRecorded", {
                "round_id": round_id, "campaign_id": "innovation-year",
                "category": category, "nomination_id": nid, "reviewer_id": reviewer,
                "group": "management",
                "scores": dict.fromkeys(("novelty", "difficulty", "benefit"),
                                        str(95 - 5 * n)),
                "comment": "", "form_version": 1})
    scoring.review("ReviewRoundClosed", {"round_id": round_id, "outstanding": [],
                                         "closed_at": "", "early": False,
                                         "reason": ""})
    result, _ = scoring.call(c.GetRanking(scoring.caller(ORGANIZER), "innovation-year",
                                          category, round_id))
    assert [e.nomination_id for e in result.entries] == ids
    assert [e.tier for e in result.entries] == [
        "first", "second", "second", "third", "third", "third", ""]


def test_round_inputs_folded_step_by_step_equal_the_whole_fold(scoring) -> None:  # noqa: ANN001
    ids = posts(scoring)
    open_round(scoring, ids)
    steps = []
    for nid in ids:
        for reviewer in PANEL:
            score(scoring, nid, reviewer, 80)
            steps.append(inputs_of(scoring))
    close(scoring)
    whole = round_inputs.fold(scoring.store.read_stream(round_inputs.stream_id(ROUND)))
    assert inputs_of(scoring) == whole
    assert len(whole.forms) == len(steps) == len(ids) * len(PANEL)
