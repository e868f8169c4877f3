"""Review's use cases on a real SQLite store, built by the service's bootstrap:
panels, assignment, blind review, refusals that store nothing, reminders,
decisions and publication."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy

from laurel.envelope import Actor, Caller
from laurel.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from laurel.eventstore import EventStore
from laurel.policy import DEFAULT_POLICY
from laurel.review.domain import assignment, events, rounds
from laurel.review.domain.commands import (
    AssignReviewers,
    CloseRound,
    DeclareConflict,
    ExplainAssignment,
    FormPanel,
    GetNominationForReview,
    GetReviews,
    ListMyAssignments,
    OpenRound,
    PublishResults,
    RecordDecision,
    Recuse,
    RegisterReviewer,
    SubmitReview,
)

BEIJING = timezone(timedelta(hours=8))
EVALUATION = datetime(2021, 12, 10, 9, 0, tzinfo=BEIJING)  # as the fixture sets it
FORUMS = datetime(2022, 1, 10, 9, 0, tzinfo=BEIJING)


def caller(actor: Actor) -> Caller:
    return Caller(actor, correlation_id=str(uuid.uuid4()))


ORGANIZER = caller(Actor("organizer-henan-1", "organizer", "henan-center"))
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


def reviewer(rid: str) -> Caller:
    return caller(Actor(rid, "reviewer", ""))


def scores(value: object = 85) -> dict[str, object]:
    return dict.fromkeys(CRITERIA, value)


def panel(review) -> None:  # noqa: ANN001
    for nid, (hospital, jurisdiction) in POSTS.items():
        review.nomination(nid, hospital, jurisdiction)
    for rid, org, jurisdiction, group in REVIEWERS:
        review.handle(RegisterReviewer(
            ORGANIZER, assignment.Reviewer(rid, rid, org, jurisdiction, group)))
    review.handle(FormPanel(ORGANIZER, assignment.PanelSpec(
        "", "henan-2021", "warm_service_post", ROUND, {},
        tuple(r[0] for r in REVIEWERS), "seed-1")))


def opened(review) -> None:  # noqa: ANN001
    panel(review)
    review.handle(AssignReviewers(ORGANIZER, ROUND))
    review.handle(OpenRound(ORGANIZER, ROUND, review.clock[0] + timedelta(days=7)))


def assigned(review, nid: str) -> dict[str, str]:  # noqa: ANN001
    lines = review.handle(ExplainAssignment(ORGANIZER, ROUND, nid))
    return {x.reviewer_id: x.group for x in lines if x.status == "assigned"}


def folded_round(store: EventStore) -> rounds.ReviewRound | None:
    return store.run(lambda uow: uow.load(events.round_stream(ROUND), rounds.ROUND))


def test_assignment_excludes_conflicts_and_explains_why(review) -> None:  # noqa: ANN001
    panel(review)
    made = review.handle(AssignReviewers(ORGANIZER, ROUND))
    lines = review.handle(ExplainAssignment(ORGANIZER, ROUND, "post-1"))
    assert len(made) == 3 * 5
    assert "mgr-1" not in assigned(review, "post-1")
    mgr_1 = next(line for line in lines if line.reviewer_id == "mgr-1")
    assert mgr_1.status == "conflict" and "zhengzhou" in mgr_1.reason
    assert sorted(assigned(review, "post-2").values()).count("hospital_manager") == 2


def test_a_declared_conflict_and_a_recusal_with_its_replacement(review) -> None:  # noqa: ANN001
    panel(review)
    review.handle(DeclareConflict(reviewer("exp-1"), "exp-1", "post-2", "former colleague"))
    review.handle(AssignReviewers(ORGANIZER, ROUND))
    assert "exp-1" not in assigned(review, "post-2")
    expert = next(r for r, g in assigned(review, "post-3").items()
                  if g == "industry_expert")
    replacement = review.handle(Recuse(reviewer(expert), ROUND, "post-3", "",
                                       "my brother works there"))
    assert replacement["replaces"] == expert
    now = assigned(review, "post-3")
    assert expert not in now and replacement["reviewer_id"] in now
    lines = review.handle(ExplainAssignment(ORGANIZER, ROUND, "post-3"))
    assert {x.reviewer_id: x.status for x in lines}[expert] == "recused"


def test_a_reviewer_sees_and_scores_only_their_assignments(review) -> None:  # noqa: ANN001
    opened(review)
    mine = sorted(n for n in POSTS if "exp-2" in assigned(review, n))
    others = sorted(set(POSTS) - set(mine))
    exp_2 = reviewer("exp-2")
    listed = review.handle(ListMyAssignments(exp_2))
    assert sorted(r["nomination_id"] for r in listed) == mine
    view = review.handle(GetNominationForReview(exp_2, ROUND, mine[0]))
    assert view.nomination.category == "warm_service_post"
    before = review.store.last_position()
    if others:
        with pytest.raises(NotFound):
            review.handle(GetNominationForReview(exp_2, ROUND, others[0]))
        with pytest.raises(PermissionDenied):
            review.handle(SubmitReview(exp_2, ROUND, others[0], scores()))
    with pytest.raises(InvalidArgument) as raised:
        review.handle(SubmitReview(exp_2, ROUND, mine[0], scores(101)))
    assert {v.field for v in raised.value.violations} == {
        f"scores[{c}]" for c in CRITERIA}
    assert review.store.last_position() == before
    with pytest.raises(PermissionDenied):
        review.handle(SubmitReview(ORGANIZER, ROUND, mine[0], scores()))


def test_blind_review_until_own_form_and_closure(review) -> None:  # noqa: ANN001
    opened(review)
    first, second = (reviewer(r) for r in sorted(assigned(review, "post-2"))[:2])
    review.handle(SubmitReview(first, ROUND, "post-2", scores(90), "excellent"))
    visible, withheld = review.handle(GetReviews(second, ROUND, "post-2"))
    assert (visible, withheld) == ([], 1)
    review.handle(SubmitReview(second, ROUND, "post-2", scores("80.5")))
    visible, withheld = review.handle(GetReviews(second, ROUND, "post-2"))
    assert [f.reviewer_id for f in visible] == [second.actor.id] and withheld == 1
    review.handle(CloseRound(ORGANIZER, ROUND, "deadline moved up"))
    visible, withheld = review.handle(GetReviews(second, ROUND, "post-2"))
    assert sorted(f.reviewer_id for f in visible) == sorted([first.actor.id,
                                                             second.actor.id])
    before = review.store.last_position()
    with pytest.raises(FailedPrecondition) as raised:
        review.handle(SubmitReview(second, ROUND, "post-2", scores(70)))
    assert raised.value.rule == "round_closed"
    assert review.store.last_position() == before


def test_the_same_form_again_changes_nothing(review) -> None:  # noqa: ANN001
    opened(review)
    rid = sorted(assigned(review, "post-1"))[0]
    assert review.handle(SubmitReview(reviewer(rid), ROUND, "post-1", scores(90), "ok")
                         ) == (1, True)
    before = review.store.last_position()
    assert review.handle(SubmitReview(reviewer(rid), ROUND, "post-1", scores(90), "ok")
                         ) == (1, False)
    assert review.store.last_position() == before
    assert review.handle(SubmitReview(reviewer(rid), ROUND, "post-1", scores(91), "ok")
                         ) == (2, True)


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
    review.handle(CloseRound(ORGANIZER, ROUND))
    with pytest.raises(FailedPrecondition) as raised:
        review.handle(RecordDecision(ORGANIZER, ROUND, "post-1", "award", "", "best"))
    assert raised.value.rule == "no_result"
    review.result(ROUND, 1, ["post-1", "post-2", "post-3"])
    review.verdict("post-1", "no_complaint_within_years", "ineligible",
                   "1 complaint(s): c-7 about post-1-ward")
    before = review.store.last_position()
    with pytest.raises(FailedPrecondition) as raised:
        review.handle(RecordDecision(ORGANIZER, ROUND, "post-1", "award", "", "best"))
    assert raised.value.rule == "ineligible" and "c-7" in raised.value.message
    with pytest.raises(InvalidArgument):
        review.handle(RecordDecision(ORGANIZER, ROUND, "post-2", "tier", "gold", "nice"))
    with pytest.raises(FailedPrecondition) as raised:  # results are the forums' stage's
        review.handle(PublishResults(ORGANIZER, ROUND))
    assert raised.value.rule == "stage_window"
    assert "2022-01-01 to 2022-01-31" in raised.value.message
    review.campaign_clock(FORUMS)
    with pytest.raises(FailedPrecondition) as raised:
        review.handle(PublishResults(ORGANIZER, ROUND))
    assert raised.value.rule == "decisions_missing"
    with pytest.raises(FailedPrecondition) as raised:  # deciding is the evaluation's
        review.handle(RecordDecision(ORGANIZER, ROUND, "post-2", "tier", "awarded", "x"))
    assert raised.value.rule == "stage_window"
    assert "2021-12-01 to 2021-12-31" in raised.value.message
    assert review.store.last_position() == before + 1  # the clock's note only
    review.campaign_clock(EVALUATION)
    review.handle(RecordDecision(ORGANIZER, ROUND, "post-1", "not_awarded", "",
                                 "ineligible: complaint c-7"))
    review.handle(RecordDecision(ORGANIZER, ROUND, "post-2", "tier", "awarded", "top", 1))
    review.handle(RecordDecision(ORGANIZER, ROUND, "post-3", "not_awarded", "", "below",
                                 1))
    review.result(ROUND, 2, ["post-2", "post-3"])
    review.campaign_clock(FORUMS)
    with pytest.raises(FailedPrecondition) as raised:
        review.handle(PublishResults(ORGANIZER, ROUND))
    assert raised.value.rule == "decisions_stale"
    review.campaign_clock(EVALUATION)
    for nid, outcome, tier in (("post-1", "not_awarded", ""),
                               ("post-2", "tier", "awarded"),
                               ("post-3", "not_awarded", "")):
        review.handle(RecordDecision(ORGANIZER, ROUND, nid, outcome, tier, "on v2"))
    review.campaign_clock(FORUMS)
    assert review.handle(PublishResults(ORGANIZER, ROUND)) == (2, 3)
    [published] = [e.event for e in review.store.unpublished()
                   if e.event.type == "ResultsPublished"]
    assert {d["nomination_id"]: d["outcome"] for d in published.payload["decisions"]
            } == {"post-1": "not_awarded", "post-2": "tier", "post-3": "not_awarded"}


def test_only_organizers_manage(review) -> None:  # noqa: ANN001
    """Who may call an RPC at all is the policy table's, checked before any
    handler runs; what depends on the data (this campaign's organizers, a
    reviewer only for themself) the handlers refuse. Neither stores anything."""
    panel(review)
    before = review.store.last_position()
    exp_1 = reviewer("exp-1")
    for method in ("RegisterReviewer", "AssignReviewers", "CloseRound"):
        with pytest.raises(PermissionDenied):
            DEFAULT_POLICY.check(f"/laurel.review.v1.ReviewService/{method}", exp_1.actor)
    with pytest.raises(PermissionDenied):
        review.handle(AssignReviewers(exp_1, ROUND))
    with pytest.raises(PermissionDenied):
        review.handle(DeclareConflict(exp_1, "exp-2", "post-1", "not mine to declare"))
    with pytest.raises(PermissionDenied):
        review.handle(CloseRound(exp_1, ROUND))
    with pytest.raises(PermissionDenied):
        review.handle(Recuse(exp_1, ROUND, "post-1", "exp-2", "not mine to recuse"))
    assert review.store.last_position() == before


def test_the_round_folded_step_by_step_equals_the_round_folded_whole(review) -> None:  # noqa: ANN001
    opened(review)
    seen = []
    for nid in POSTS:
        for rid in sorted(assigned(review, nid)):
            review.handle(SubmitReview(reviewer(rid), ROUND, nid, scores(80)))
            seen.append(folded_round(review.store))  # folds only what is new
    review.handle(CloseRound(ORGANIZER, ROUND, "all forms in"))
    whole = rounds.fold(review.store.read_stream(events.round_stream(ROUND)))
    assert folded_round(review.store) == whole
    assert whole.status == rounds.CLOSED and len(whole.forms) == len(seen)
    # Another replica over the same database (a fold cache of its own) agrees.
    replica = EventStore(review.store.url)
    try:
        assert folded_round(replica) == whole
    finally:
        replica.close()


def checkouts(store: EventStore) -> list[int]:
    """One entry per connection taken from the store's pool from now on."""
    seen: list[int] = []
    sqlalchemy.event.listen(store.engine, "checkout", lambda *args: seen.append(1))
    return seen


def test_a_command_a_query_and_a_reaction_use_one_connection_each(review) -> None:  # noqa: ANN001
    opened(review)
    rid = sorted(assigned(review, "post-1"))[0]
    before = review.store.last_position()
    taken = checkouts(review.store)
    review.handle(SubmitReview(reviewer(rid), ROUND, "post-1", scores(90)))
    assert len(taken) == 1
    review.handle(GetReviews(reviewer(rid), ROUND, "post-1"))
    assert len(taken) == 2
    review.reactions.on_intake_event(review.event("NominationAmended", {
        "nomination_id": "post-1", "changes": {
            "department_name": {"before": "post-1 科室", "after": "急诊科"}}}))
    assert len(taken) == 2  # a reaction writes first: the writer's held connection
    assert review.store.last_position() == before + 2  # the form, the change noted
    review.handle(CloseRound(ORGANIZER, ROUND))
    review.result(ROUND, 1, list(POSTS))
    del taken[:]
    review.handle(RecordDecision(ORGANIZER, ROUND, "post-1", "award", "", "best"))
    assert len(taken) == 1  # reads after the write lock too: the same connection


def test_what_review_appends_counts_at_the_campaign_time(review) -> None:  # noqa: ANN001
    """Its own acts at the campaign clock it noted; its notes at the campaign
    time of the event they note (issue 16: two times on every event)."""
    opened(review)
    stream = review.store.read_stream(events.round_stream(ROUND))
    assert {e.metadata["campaign_time"] for e in stream} == {EVALUATION.isoformat()}
    submitted = review.event("NominationSubmitted", {
        "nomination_id": "post-9", "campaign_id": "henan-2021",
        "category": "warm_service_post",
        "nominee": {"kind": "ward", "name": "九病区", "organization_id": "h-9-ward"},
        "hospital_id": "h-9", "jurisdiction_id": "kaifeng", "fields": {}})
    submitted.metadata["campaign_time"] = "2021-11-25T09:00:00+08:00"
    review.reactions.on_intake_event(submitted)
    [noted] = review.store.read_stream(events.nomination_stream("post-9"))
    assert noted.metadata["campaign_time"] == "2021-11-25T09:00:00+08:00"
    assert noted.metadata["causation_id"] == submitted.event_id
