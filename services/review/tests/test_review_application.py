"""Review's use cases on a real SQLite store: panels, assignment, blind review,
refusals that store nothing, reminders, decisions and publication."""

from __future__ import annotations

from datetime import timedelta

import pytest

from laurel.envelope import Actor
from laurel.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from laurel.review import assignment, rounds

ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")
ROUND = "warm-r1"
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


def reviewer(rid: str) -> Actor:
    return Actor(rid, "reviewer", "")


def scores(value: object = 85) -> dict[str, object]:
    return dict.fromkeys(CRITERIA, value)


def panel(review) -> None:  # noqa: ANN001
    for nid, (hospital, jurisdiction) in POSTS.items():
        review.nomination(nid, hospital, jurisdiction)
    with review.acting_as(ORGANIZER):
        for rid, org, jurisdiction, group in REVIEWERS:
            review.app.register_reviewer(
                assignment.Reviewer(rid, rid, org, jurisdiction, group), {})
        review.app.form_panel(assignment.PanelSpec(
            "", "henan-2021", "warm_service_post", ROUND, {},
            tuple(r[0] for r in REVIEWERS), "seed-1"))


def opened(review) -> None:  # noqa: ANN001
    panel(review)
    with review.acting_as(ORGANIZER):
        review.app.assign_reviewers(ROUND, [])
        review.app.open_round(ROUND, review.clock[0] + timedelta(days=7), [])


def assigned(review, nid: str) -> dict[str, str]:  # noqa: ANN001
    state = review.app._assignment_state(ROUND)
    return {a.reviewer_id: a.group for a in state.panels[ROUND].assigned(nid)}


def test_assignment_excludes_conflicts_and_explains_why(review) -> None:  # noqa: ANN001
    panel(review)
    with review.acting_as(ORGANIZER):
        made = review.app.assign_reviewers(ROUND, [])
        lines = review.app.explain_assignment(ROUND, "post-1")
    assert len(made) == 3 * 5
    assert "mgr-1" not in assigned(review, "post-1")
    mgr_1 = next(line for line in lines if line.reviewer_id == "mgr-1")
    assert mgr_1.status == "conflict" and "zhengzhou" in mgr_1.reason
    assert sorted(assigned(review, "post-2").values()).count("hospital_manager") == 2


def test_a_declared_conflict_and_a_recusal_with_its_replacement(review) -> None:  # noqa: ANN001
    panel(review)
    with review.acting_as(reviewer("exp-1")):
        review.app.declare_conflict("exp-1", "post-2", "former colleague")
    with review.acting_as(ORGANIZER):
        review.app.assign_reviewers(ROUND, [])
    assert "exp-1" not in assigned(review, "post-2")
    expert = next(r for r, g in assigned(review, "post-3").items()
                  if g == "industry_expert")
    with review.acting_as(reviewer(expert)):
        replacement = review.app.recuse(ROUND, "post-3", "", "my brother works there")
    assert replacement["replaces"] == expert
    now = assigned(review, "post-3")
    assert expert not in now and replacement["reviewer_id"] in now
    with review.acting_as(ORGANIZER):
        lines = review.app.explain_assignment(ROUND, "post-3")
    assert {x.reviewer_id: x.status for x in lines}[expert] == "recused"


def test_a_reviewer_sees_and_scores_only_their_assignments(review) -> None:  # noqa: ANN001
    opened(review)
    mine = sorted(n for n in POSTS if "exp-2" in assigned(review, n))
    others = sorted(set(POSTS) - set(mine))
    with review.acting_as(reviewer("exp-2")):
        listed = review.app.my_assignments()
        assert sorted(r["nomination_id"] for r in listed) == mine
        assert review.app.nomination_for_review(ROUND, mine[0]).nomination.category \
            == "warm_service_post"
        before = review.store.last_position()
        if others:
            with pytest.raises(NotFound):
                review.app.nomination_for_review(ROUND, others[0])
            with pytest.raises(PermissionDenied):
                review.app.submit_review(ROUND, others[0], scores(), "")
        with pytest.raises(InvalidArgument) as raised:
            review.app.submit_review(ROUND, mine[0], scores(101), "")
        assert {v.field for v in raised.value.violations} == {
            f"scores[{c}]" for c in CRITERIA}
        assert review.store.last_position() == before
    with review.acting_as(ORGANIZER), pytest.raises(PermissionDenied):
        review.app.submit_review(ROUND, mine[0], scores(), "")


def test_blind_review_until_own_form_and_closure(review) -> None:  # noqa: ANN001
    opened(review)
    first, second = sorted(assigned(review, "post-2"))[:2]
    with review.acting_as(reviewer(first)):
        review.app.submit_review(ROUND, "post-2", scores(90), "excellent")
    with review.acting_as(reviewer(second)):
        visible, withheld = review.app.reviews(ROUND, "post-2")
        assert (visible, withheld) == ([], 1)
        review.app.submit_review(ROUND, "post-2", scores("80.5"), "")
        visible, withheld = review.app.reviews(ROUND, "post-2")
        assert [f.reviewer_id for f in visible] == [second] and withheld == 1
    with review.acting_as(ORGANIZER):
        review.app.close_round(ROUND, "deadline moved up")
    with review.acting_as(reviewer(second)):
        visible, withheld = review.app.reviews(ROUND, "post-2")
        assert sorted(f.reviewer_id for f in visible) == sorted([first, second])
        before = review.store.last_position()
        with pytest.raises(FailedPrecondition) as raised:
            review.app.submit_review(ROUND, "post-2", scores(70), "")
        assert raised.value.rule == "round_closed"
        assert review.store.last_position() == before


def test_reminders_are_due_before_the_deadline_once(review) -> None:  # noqa: ANN001
    opened(review)
    deadline = review.clock[0] + timedelta(days=7)
    assert review.app.send_due_reminders(deadline - timedelta(days=5)) == 0
    sent = review.app.send_due_reminders(deadline - timedelta(days=2))
    assert sent == len({r for n in POSTS for r in assigned(review, n)})
    assert review.app.send_due_reminders(deadline - timedelta(days=2)) == 0
    [due] = [e for e in review.store.unpublished()
             if e.event.type == "ReviewDeadlineReminderDue"][:1]
    assert due.key == ROUND and due.event.payload["lead_seconds"] == 3 * 86400


def test_decisions_need_a_result_respect_eligibility_and_publish(review) -> None:  # noqa: ANN001
    opened(review)
    with review.acting_as(ORGANIZER):
        review.app.close_round(ROUND, "")
        with pytest.raises(FailedPrecondition) as raised:
            review.app.record_decision(ROUND, "post-1", "award", "", "best", 0)
        assert raised.value.rule == "no_result"
    review.result(ROUND, 1, ["post-1", "post-2", "post-3"])
    review.verdict("post-1", "no_complaint_within_years", "ineligible",
                   "1 complaint(s): c-7 about post-1-ward")
    with review.acting_as(ORGANIZER):
        before = review.store.last_position()
        with pytest.raises(FailedPrecondition) as raised:
            review.app.record_decision(ROUND, "post-1", "award", "", "best", 0)
        assert raised.value.rule == "ineligible" and "c-7" in raised.value.message
        with pytest.raises(InvalidArgument):
            review.app.record_decision(ROUND, "post-2", "tier", "gold", "nice", 0)
        with pytest.raises(FailedPrecondition) as raised:
            review.app.publish_results(ROUND)
        assert raised.value.rule == "decisions_missing"
        assert review.store.last_position() == before
        review.app.record_decision(ROUND, "post-1", "not_awarded", "",
                                   "ineligible: complaint c-7", 0)
        review.app.record_decision(ROUND, "post-2", "tier", "awarded", "top", 1)
        review.app.record_decision(ROUND, "post-3", "not_awarded", "", "below", 1)
    review.result(ROUND, 2, ["post-2", "post-3"])
    with review.acting_as(ORGANIZER):
        with pytest.raises(FailedPrecondition) as raised:
            review.app.publish_results(ROUND)
        assert raised.value.rule == "decisions_stale"
        for nid, outcome, tier in (("post-1", "not_awarded", ""),
                                   ("post-2", "tier", "awarded"),
                                   ("post-3", "not_awarded", "")):
            review.app.record_decision(ROUND, nid, outcome, tier, "on v2", 0)
        assert review.app.publish_results(ROUND) == (2, 3)
    [published] = [e.event for e in review.store.unpublished()
                   if e.event.type == "ResultsPublished"]
    assert {d["nomination_id"]: d["outcome"] for d in published.payload["decisions"]
            } == {"post-1": "not_awarded", "post-2": "tier", "post-3": "not_awarded"}


def test_only_organizers_manage(review) -> None:  # noqa: ANN001
    panel(review)
    before = review.store.last_position()
    with review.acting_as(reviewer("exp-1")):
        with pytest.raises(PermissionDenied):
            review.app.register_reviewer(
                assignment.Reviewer("x", "x", "o", "", "media"), {})
        with pytest.raises(PermissionDenied):
            review.app.assign_reviewers(ROUND, [])
        with pytest.raises(PermissionDenied):
            review.app.declare_conflict("exp-2", "post-1", "not mine to declare")
        with pytest.raises(PermissionDenied):
            review.app.close_round(ROUND, "")
    assert review.store.last_position() == before


def test_the_round_folded_step_by_step_equals_the_round_folded_whole(review) -> None:  # noqa: ANN001
    opened(review)
    seen = []
    for nid in POSTS:
        for rid in sorted(assigned(review, nid)):
            with review.acting_as(reviewer(rid)):
                review.app.submit_review(ROUND, nid, scores(80), "")
            seen.append(review.app._round(ROUND))  # folds only what is new
    with review.acting_as(ORGANIZER):
        review.app.close_round(ROUND, "all forms in")
    whole = rounds.fold(review.store.read_stream(rounds.stream_id(ROUND)))
    assert review.app._round(ROUND) == whole
    assert whole.status == rounds.CLOSED and len(whole.forms) == len(seen)
    # A second application over the same store (another replica) agrees.
    fresh = type(review.app)(review.store, review.app.projection, review.app.definitions,
                             review.app.topics, now=review.app.now)
    assert fresh._round(ROUND) == whole
