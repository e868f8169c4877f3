"""Review rounds: forms and amendments, reminders, decisions, publication."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from laurel.envelope import NewEvent, RecordedEvent, canonical_json
from laurel.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from laurel.review.domain import events, rounds

DEADLINE = datetime(2021, 12, 31, 16, 0, tzinfo=UTC)
CRITERIA = {"novelty": 100, "difficulty": 100, "benefit": 100}
SCORES = {"novelty": 90, "difficulty": "80.5", "benefit": 70}


def stored(new: NewEvent) -> dict:
    """The payload as the store gives it back: canonical JSON, read again."""
    payload = json.loads(canonical_json(new.payload))
    assert payload == new.payload
    return payload


def recorded(stream: list[RecordedEvent], decided: list[NewEvent],
             at: str = "2021-12-20T08:00:00.000000Z") -> list[NewEvent]:
    for new in decided:
        n = len(stream) + 1
        stream.append(RecordedEvent(
            position=n, event_id=new.event_id, stream_id="s", version=n, type=new.type,
            schema_version=1, payload=stored(new),
            metadata={"actor": {"id": "x", "role": "organizer", "organization_id": ""}},
            recorded_at=at, prev_hash="0" * 64, hash="f" * 64))
    return decided


def assigned(round_id: str, nomination: str, reviewer: str, group: str) -> NewEvent:
    return NewEvent(events.REVIEWER_ASSIGNED, {
        "panel_id": "p", "round_id": round_id, "nomination_id": nomination,
        "reviewer_id": reviewer, "group": group, "reason": "", "load_before": 0,
        "replaces": ""})


def a_round(round_id: str = "round-1", number: int = 1, previous: str = "",
            nominations: tuple[str, ...] = ("p-1", "p-2")) -> list[RecordedEvent]:
    stream: list[RecordedEvent] = []
    recorded(stream, [assigned(round_id, n, r, "management")
                      for n in nominations for r in ("r-1", "r-2")])
    recorded(stream, rounds.open_round(rounds.fold(stream), rounds.RoundSpec(
        round_id, "innovation-year", "management_innovation", number, DEADLINE,
        CRITERIA, nominations, previous)))
    return stream


def test_assignments_recorded_before_opening_are_kept():
    state = rounds.fold(a_round())
    assert state.status == rounds.OPEN
    assert state.assigned["p-1"] == {"r-1": "management", "r-2": "management"}


def test_an_amendment_is_a_new_form_version_and_the_old_one_stays():
    stream = a_round()
    now = DEADLINE - timedelta(days=5)
    [first] = recorded(stream, rounds.record_score(rounds.fold(stream), "p-1", "r-1",
                                                   SCORES, "good", now))
    assert first.payload["scores"] == {"benefit": "70", "difficulty": "80.5",
                                       "novelty": "90"}
    assert rounds.record_score(rounds.fold(stream), "p-1", "r-1", SCORES, "good",
                               now) == []
    [second] = recorded(stream, rounds.record_score(
        rounds.fold(stream), "p-1", "r-1", {**SCORES, "benefit": 75}, "better", now))
    assert (second.payload["form_version"], second.payload["amends"]) == (2, 1)
    state = rounds.fold(stream)
    assert state.form("p-1", "r-1").scores["benefit"] == 75
    assert [f.version for f in state.history] == [1, 2]


def test_a_later_round_never_overwrites_an_earlier_one():
    first = a_round()
    now = DEADLINE - timedelta(days=5)
    recorded(first, rounds.record_score(rounds.fold(first), "p-1", "r-1", SCORES, "",
                                        now))
    second = a_round("round-2", 2, "round-1", ("p-1",))
    recorded(second, rounds.record_score(rounds.fold(second), "p-1", "r-1",
                                         {**SCORES, "novelty": 10}, "", now))
    assert rounds.fold(first).form("p-1", "r-1").scores["novelty"] == 90
    assert rounds.fold(second).form("p-1", "r-1").scores["novelty"] == 10
    with pytest.raises(InvalidArgument):
        rounds.open_round(None, rounds.RoundSpec(
            "round-3", "c", "k", 2, DEADLINE, CRITERIA, ("p-1",)))


def test_a_round_opens_once_and_unknown_rounds_are_not_found():
    stream = a_round()
    with pytest.raises(AlreadyExists):
        rounds.open_round(rounds.fold(stream), rounds.RoundSpec(
            "round-1", "c", "k", 1, DEADLINE, CRITERIA, ("p-1",)))
    with pytest.raises(NotFound):
        rounds.record_score(None, "p-1", "r-1", SCORES, "", DEADLINE)
    with pytest.raises(NotFound):
        rounds.record_score(rounds.fold(stream), "p-9", "r-1", SCORES, "",
                            DEADLINE - timedelta(days=1))


def test_reminders_go_to_reviewers_with_pending_forms_once_per_lead():
    stream = a_round()
    early = DEADLINE - timedelta(days=5)
    assert rounds.reminders_due(rounds.fold(stream), early) == []
    recorded(stream, rounds.record_score(rounds.fold(stream), "p-1", "r-1", SCORES,
                                         "", early))
    recorded(stream, rounds.record_score(rounds.fold(stream), "p-2", "r-1", SCORES,
                                         "", early))

    three_days = DEADLINE - timedelta(days=2)
    [reminder] = recorded(stream, rounds.reminders_due(rounds.fold(stream),
                                                       three_days))
    assert reminder.type == events.REMINDER_DUE
    assert reminder.payload["reviewer_id"] == "r-2"
    assert reminder.payload["nomination_ids"] == ["p-1", "p-2"]
    assert reminder.payload["lead_seconds"] == 3 * 86400
    assert reminder.payload["due_at"] == "2021-12-28T16:00:00.000000Z"
    assert rounds.reminders_due(rounds.fold(stream), three_days) == []

    urgent = DEADLINE - timedelta(hours=2)
    [last_call] = rounds.reminders_due(rounds.fold(stream), urgent)
    assert last_call.payload["lead_seconds"] == 86400
    assert rounds.reminders_due(rounds.fold(stream), DEADLINE) == []


def test_a_late_run_sends_only_the_most_urgent_reminder():
    stream = a_round()
    due = rounds.reminders_due(rounds.fold(stream), DEADLINE - timedelta(hours=3))
    assert {e.payload["lead_seconds"] for e in due} == {86400}
    recorded(stream, due)
    an_hour_left = DEADLINE - timedelta(hours=1)
    assert rounds.reminders_due(rounds.fold(stream), an_hour_left) == []


def closed_round() -> list[RecordedEvent]:
    stream = a_round()
    now = DEADLINE - timedelta(days=5)
    for n in ("p-1", "p-2"):
        for r in ("r-1", "r-2"):
            recorded(stream, rounds.record_score(rounds.fold(stream), n, r, SCORES,
                                                 "", now))
    recorded(stream, rounds.close_round(rounds.fold(stream), DEADLINE))
    return stream


def test_closing_lists_what_was_outstanding_and_happens_once():
    stream = a_round()
    [closed] = recorded(stream, rounds.close_round(rounds.fold(stream),
                                                   DEADLINE - timedelta(days=1),
                                                   "panel finished early"))
    assert closed.payload["early"] is True
    assert len(closed.payload["outstanding"]) == 4
    assert rounds.close_round(rounds.fold(stream), DEADLINE) == []


def test_decisions_need_a_closed_round_a_reason_and_a_valid_outcome():
    open_one = a_round()
    with pytest.raises(FailedPrecondition) as raised:
        rounds.record_decision(rounds.fold(open_one), "p-1", rounds.AWARD, "", "x", 1)
    assert raised.value.rule == rounds.RULE_ROUND_OPEN

    state = rounds.fold(closed_round())
    with pytest.raises(InvalidArgument) as invalid:
        rounds.record_decision(state, "p-1", rounds.TIER, "", " ", 0)
    assert [v.field for v in invalid.value.violations] == [
        "tier", "reason", "result_version"]


def test_results_are_published_once_every_nomination_has_a_decision():
    stream = closed_round()
    recorded(stream, rounds.record_decision(
        rounds.fold(stream), "p-1", rounds.TIER, "first_prize", "highest score", 2))
    with pytest.raises(FailedPrecondition) as missing:
        rounds.publish_results(rounds.fold(stream), 2)
    assert missing.value.rule == rounds.RULE_DECISIONS_MISSING

    recorded(stream, rounds.record_decision(
        rounds.fold(stream), "p-2", rounds.NOT_AWARDED, "", "below the bar", 2))
    [published] = recorded(stream, rounds.publish_results(rounds.fold(stream), 2))
    assert published.type == events.RESULTS_PUBLISHED
    assert [(d["nomination_id"], d["outcome"], d["tier"])
            for d in published.payload["decisions"]] == [
        ("p-1", "tier", "first_prize"), ("p-2", "not_awarded", "")]
    assert rounds.publish_results(rounds.fold(stream), 2) == []
    with pytest.raises(FailedPrecondition) as frozen:
        rounds.record_decision(rounds.fold(stream), "p-1", rounds.AWARD, "", "x", 3)
    assert frozen.value.rule == rounds.RULE_RESULTS_PUBLISHED


def test_a_closed_round_may_be_reopened_for_a_late_amendment():
    stream = closed_round()
    with pytest.raises(FailedPrecondition):
        rounds.record_score(rounds.fold(stream), "p-1", "r-1", SCORES, "",
                            DEADLINE - timedelta(days=1))
    later = DEADLINE + timedelta(days=3)
    recorded(stream, rounds.reopen_round(rounds.fold(stream), "r-1 misread the form",
                                         later, DEADLINE + timedelta(days=1)))
    [amended] = rounds.record_score(rounds.fold(stream), "p-1", "r-1",
                                    {**SCORES, "novelty": 60}, "corrected",
                                    DEADLINE + timedelta(days=2))
    assert amended.payload["form_version"] == 2
    assert rounds.fold(stream).status == rounds.OPEN
