"""Review rounds: forms, deadlines, blind review, decisions, publication.

A round belongs to one campaign category and has its own stream
(`events.round_stream`), which also holds the panel's assignment events: each
round keeps its own review forms, so a second round never overwrites the
first. Within a round a reviewer may amend their form until the round closes;
every version stays in `history`, the latest counts.

Blind review: a reviewer sees their own forms, and another reviewer's form
(or anything aggregated from it) for a nomination only once they submitted
their own form for that nomination AND the round is closed.

A round closes explicitly (`close_round`, which names what was outstanding).
Scoring is refused once it is closed or its deadline has passed. An organizer
may reopen a closed round for a late amendment, with a reason and a new
deadline, until its results are published; the scoring service then records a
new result version.

Pure: `now` is always passed in; times in payloads are `format_time` text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from laurel.envelope import NewEvent, RecordedEvent, format_time, parse_time
from laurel.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from laurel.review.domain.events import (
    DECISION_RECORDED,
    REMINDER_DUE,
    RESULTS_PUBLISHED,
    REVIEWER_ASSIGNED,
    REVIEWER_RECUSED,
    ROUND_CLOSED,
    ROUND_OPENED,
    ROUND_REOPENED,
    SCORE_RECORDED,
)
from laurel.unit_of_work import Aggregate

RULE_ROUND_CLOSED = "round_closed"
RULE_ROUND_NOT_OPEN = "round_not_open"
RULE_ROUND_OPEN = "round_open"
RULE_RESULTS_PUBLISHED = "results_published"
RULE_DECISIONS_MISSING = "decisions_missing"

FORMING, OPEN, CLOSED = "forming", "open", "closed"
AWARD, TIER, NOT_AWARDED = "award", "tier", "not_awarded"
DEFAULT_REMINDER_LEADS = (timedelta(days=3), timedelta(days=1))
BLIND = ("blind review: others' forms show once you submitted yours for the "
         "nomination and the round is closed")


@dataclass(frozen=True)
class RoundSpec:
    round_id: str
    campaign_id: str
    category: str
    number: int
    deadline: datetime
    criteria: Mapping[str, int | str | Decimal]
    nomination_ids: tuple[str, ...]
    previous_round_id: str = ""


@dataclass(frozen=True)
class ReviewForm:
    round_id: str
    nomination_id: str
    reviewer_id: str
    group: str
    scores: Mapping[str, Decimal]
    comment: str
    version: int
    submitted_at: str
    recused: bool = False


@dataclass(frozen=True)
class Decision:
    nomination_id: str
    outcome: str
    tier: str
    reason: str
    result_version: int


@dataclass(frozen=True)
class ReviewRound:
    round_id: str
    campaign_id: str = ""
    category: str = ""
    number: int = 0
    deadline: str = ""
    criteria: Mapping[str, Decimal] = field(default_factory=dict)
    nomination_ids: tuple[str, ...] = ()
    previous_round_id: str = ""
    status: str = FORMING
    assigned: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    forms: Mapping[tuple[str, str], ReviewForm] = field(default_factory=dict)
    history: tuple[ReviewForm, ...] = ()
    reminders: frozenset[tuple[str, int]] = frozenset()
    decisions: Mapping[str, Decision] = field(default_factory=dict)
    published_version: int | None = None

    def group_of(self, nomination_id: str, reviewer_id: str) -> str | None:
        return self.assigned.get(nomination_id, {}).get(reviewer_id)

    def form(self, nomination_id: str, reviewer_id: str) -> ReviewForm | None:
        return self.forms.get((nomination_id, reviewer_id))

    def current_forms(self) -> tuple[ReviewForm, ...]:
        """The forms that count: latest versions, recused reviewers left out."""
        return tuple(f for _, f in sorted(self.forms.items()) if not f.recused)

    def outstanding(self) -> list[tuple[str, str]]:
        """(nomination, reviewer) pairs assigned but not yet scored."""
        return [(nid, rid) for nid, reviewers in sorted(self.assigned.items())
                for rid in sorted(reviewers) if (nid, rid) not in self.forms]


# -- deciding: the round ---------------------------------------------------------


def open_round(state: ReviewRound | None, spec: RoundSpec) -> list[NewEvent]:
    if state is not None and state.status != FORMING:
        raise AlreadyExists(f"round {spec.round_id} was opened already")
    criteria = _check_spec(spec)
    return [NewEvent(ROUND_OPENED, {
        "round_id": spec.round_id, "campaign_id": spec.campaign_id,
        "category": spec.category, "number": spec.number,
        "deadline": format_time(spec.deadline),
        "criteria": {k: _text(v) for k, v in sorted(criteria.items())},
        "nomination_ids": sorted(set(spec.nomination_ids)),
        "previous_round_id": spec.previous_round_id,
    })]


def close_round(
    state: ReviewRound | None, now: datetime, reason: str = ""
) -> list[NewEvent]:
    """Closing twice is a no-op; the event lists what was still outstanding."""
    round_ = opened(state)
    if round_.status == CLOSED:
        return []
    return [NewEvent(ROUND_CLOSED, {
        "round_id": round_.round_id, "closed_at": format_time(now),
        "early": now < parse_time(round_.deadline), "reason": reason.strip(),
        "outstanding": [{"nomination_id": n, "reviewer_id": r}
                        for n, r in round_.outstanding()],
    })]


def reopen_round(
    state: ReviewRound | None, reason: str, new_deadline: datetime, now: datetime
) -> list[NewEvent]:
    """For a late amendment; published results are final, so no reopening then."""
    round_ = opened(state)
    _check_closed(round_, "is still open")
    found = [] if reason.strip() else [FieldViolation("reason", "required")]
    if new_deadline <= now:
        found.append(FieldViolation("new_deadline", "must be in the future"))
    if found:
        raise InvalidArgument("the round cannot be reopened so", found)
    return [NewEvent(ROUND_REOPENED, {"round_id": round_.round_id,
                                      "reason": reason.strip(),
                                      "deadline": format_time(new_deadline)})]


# -- deciding: scores -------------------------------------------------------------


def validate_scores(
    criteria: Mapping[str, Decimal], scores: Mapping[str, Any]
) -> list[FieldViolation]:
    """Every problem at once: unknown or missing criteria, non-numbers, range."""
    found = [FieldViolation(f"scores[{k}]", "not a criterion of this round")
             for k in sorted(set(scores) - set(criteria))]
    found += [FieldViolation(f"scores[{k}]", "missing")
              for k in sorted(set(criteria) - set(scores))]
    for key in sorted(set(criteria) & set(scores)):
        value = _decimal(scores[key])
        if value is None:
            found.append(FieldViolation(f"scores[{key}]", "not a number"))
        elif not 0 <= value <= criteria[key]:
            found.append(FieldViolation(
                f"scores[{key}]", f"must be within 0..{_text(criteria[key])}, "
                f"not {_text(value)}"))
    return found


def record_score(
    state: ReviewRound | None, nomination_id: str, reviewer_id: str,
    scores: Mapping[str, Any], comment: str, now: datetime,
) -> list[NewEvent]:
    """A reviewer's form, or its amendment while the round is open."""
    round_ = opened(state)
    _check_accepting(round_, now)
    if nomination_id not in round_.nomination_ids:
        raise NotFound(f"nomination {nomination_id} is not in round "
                       f"{round_.round_id}", field="nomination_id")
    group = round_.group_of(nomination_id, reviewer_id)
    if group is None:
        raise PermissionDenied(f"{reviewer_id} is not assigned to score "
                               f"{nomination_id} in round {round_.round_id}")
    found = validate_scores(round_.criteria, scores)
    if found:
        raise InvalidArgument(f"the scores have {len(found)} problem(s); nothing "
                              "was stored", found)
    exact = {k: _decimal(v) for k, v in scores.items()}
    before = round_.form(nomination_id, reviewer_id)
    if before and before.scores == exact and before.comment == comment.strip():
        return []
    return [NewEvent(SCORE_RECORDED, {
        "round_id": round_.round_id, "round_number": round_.number,
        "campaign_id": round_.campaign_id, "category": round_.category,
        "nomination_id": nomination_id, "reviewer_id": reviewer_id, "group": group,
        "scores": {k: _text(v) for k, v in sorted(exact.items()) if v is not None},
        "comment": comment.strip(),
        "form_version": 1 if before is None else before.version + 1,
        "amends": None if before is None else before.version,
    })]


def _check_accepting(round_: ReviewRound, now: datetime) -> None:
    if round_.status == CLOSED:
        raise FailedPrecondition(RULE_ROUND_CLOSED, f"round {round_.round_id} is "
                                 "closed; scores are no longer accepted",
                                 round_.round_id)
    if now >= parse_time(round_.deadline):
        raise FailedPrecondition(RULE_ROUND_CLOSED, f"the deadline of round "
                                 f"{round_.round_id} ({round_.deadline}) has passed",
                                 round_.round_id)


# -- blind review -----------------------------------------------------------------


def may_see_others(state: ReviewRound, reviewer_id: str, nomination_id: str) -> bool:
    """Others' forms, and aggregates of them, need own form submitted AND closure."""
    own = state.form(nomination_id, reviewer_id)
    return state.status == CLOSED and own is not None and not own.recused


def visible_reviews(state: ReviewRound, reviewer_id: str) -> tuple[ReviewForm, ...]:
    """What this reviewer may read: their own forms, and others' once allowed."""
    return tuple(f for _, f in sorted(state.forms.items())
                 if f.reviewer_id == reviewer_id
                 or may_see_others(state, reviewer_id, f.nomination_id))


# -- reminders --------------------------------------------------------------------


def reminders_due(
    state: ReviewRound | None, now: datetime,
    leads: Sequence[timedelta] = DEFAULT_REMINDER_LEADS,
) -> list[NewEvent]:
    """One reminder per reviewer with pending forms, at the nearest lead crossed.

    A lead is crossed once `now` is within it of the deadline. A reminder is
    not repeated for a lead, nor sent for a longer lead after a shorter one
    went out (a late run sends only the most urgent).
    """
    if state is None or state.status != OPEN:
        return []
    deadline = parse_time(state.deadline)
    if now >= deadline:
        return []
    crossed = sorted(lead for lead in leads if now >= deadline - lead)
    if not crossed:
        return []
    lead = crossed[0]
    seconds = int(lead.total_seconds())
    return [_reminder(state, rid, pending, lead, deadline)
            for rid, pending in sorted(_pending_by_reviewer(state).items())
            if not any(r == rid and s <= seconds for r, s in state.reminders)]


def _pending_by_reviewer(state: ReviewRound) -> dict[str, list[str]]:
    pending: dict[str, list[str]] = {}
    for nid, rid in state.outstanding():
        pending.setdefault(rid, []).append(nid)
    return pending


def _reminder(
    state: ReviewRound, reviewer_id: str, pending: list[str], lead: timedelta,
    deadline: datetime,
) -> NewEvent:
    return NewEvent(REMINDER_DUE, {
        "round_id": state.round_id, "campaign_id": state.campaign_id,
        "category": state.category, "reviewer_id": reviewer_id,
        "nomination_ids": pending, "deadline": state.deadline,
        "lead_seconds": int(lead.total_seconds()),
        "due_at": format_time(deadline - lead),
    })


# -- decisions and publication ---------------------------------------------------------


def record_decision(
    state: ReviewRound | None, nomination_id: str, outcome: str, tier: str,
    reason: str, result_version: int,
) -> list[NewEvent]:
    """The committee's decision on one nomination, made on a result version."""
    round_ = opened(state)
    _check_closed(round_, "must close before decisions")
    if nomination_id not in round_.nomination_ids:
        raise NotFound(f"nomination {nomination_id} is not in round "
                       f"{round_.round_id}", field="nomination_id")
    _check_decision(outcome, tier, reason, result_version)
    return [NewEvent(DECISION_RECORDED, {
        "round_id": round_.round_id, "campaign_id": round_.campaign_id,
        "category": round_.category, "nomination_id": nomination_id,
        "outcome": outcome, "tier": tier if outcome == TIER else "",
        "reason": reason.strip(), "result_version": result_version,
        "supersedes": nomination_id in round_.decisions,
    })]


def publish_results(state: ReviewRound | None, result_version: int) -> list[NewEvent]:
    """Publish every decision at once; a nomination without one blocks it."""
    round_ = opened(state)
    if round_.published_version == result_version:
        return []
    _check_closed(round_, "must close before decisions")
    missing = [n for n in round_.nomination_ids if n not in round_.decisions]
    if missing:
        raise FailedPrecondition(RULE_DECISIONS_MISSING, "no decision yet for "
                                 f"{', '.join(missing)}", round_.round_id)
    return [NewEvent(RESULTS_PUBLISHED, {
        "round_id": round_.round_id, "campaign_id": round_.campaign_id,
        "category": round_.category, "result_version": result_version,
        "decisions": [_decision_dict(round_.decisions[n])
                      for n in round_.nomination_ids],
    })]


def _check_closed(round_: ReviewRound, if_open: str) -> None:
    """Closed and not yet published: published results are final."""
    if round_.published_version is not None:
        raise FailedPrecondition(RULE_RESULTS_PUBLISHED, "the results of round "
                                 f"{round_.round_id} are published", round_.round_id)
    if round_.status != CLOSED:
        raise FailedPrecondition(RULE_ROUND_OPEN, f"round {round_.round_id} {if_open}",
                                 round_.round_id)


def _check_decision(outcome: str, tier: str, reason: str, result_version: int) -> None:
    found = []
    if outcome not in (AWARD, TIER, NOT_AWARDED):
        found.append(FieldViolation("outcome", f"{AWARD}, {TIER} or {NOT_AWARDED}"))
    if outcome == TIER and not tier.strip():
        found.append(FieldViolation("tier", "required when the outcome is a tier"))
    if not reason.strip():
        found.append(FieldViolation("reason", "required"))
    if result_version < 1:
        found.append(FieldViolation("result_version", "the result version decided on"))
    if found:
        raise InvalidArgument(f"the decision has {len(found)} problem(s)", found)


def _decision_dict(decision: Decision) -> dict[str, Any]:
    return {"nomination_id": decision.nomination_id, "outcome": decision.outcome,
            "tier": decision.tier, "reason": decision.reason,
            "result_version": decision.result_version}


# -- helpers ------------------------------------------------------------------------


def opened(state: ReviewRound | None) -> ReviewRound:
    """The round once opened; NOT_FOUND or FAILED_PRECONDITION before."""
    if state is None:
        raise NotFound("no such review round", field="round_id")
    if state.status == FORMING:
        raise FailedPrecondition(RULE_ROUND_NOT_OPEN, f"round {state.round_id} is "
                                 "not open yet", state.round_id)
    return state


def _check_spec(spec: RoundSpec) -> dict[str, Decimal]:
    found = []
    criteria = {k: _decimal(v) for k, v in spec.criteria.items()}
    for key, value in sorted(criteria.items()):
        if value is None or value <= 0:
            found.append(FieldViolation(f"criteria[{key}]", "a maximum above 0"))
    if not criteria:
        found.append(FieldViolation("criteria", "at least one criterion"))
    if spec.number < 1:
        found.append(FieldViolation("number", "rounds count from 1"))
    if spec.number > 1 and not spec.previous_round_id:
        found.append(FieldViolation("previous_round_id", "a later round names its "
                                    "previous round"))
    if not spec.nomination_ids:
        found.append(FieldViolation("nomination_ids", "at least one nomination"))
    if spec.deadline.tzinfo is None:
        found.append(FieldViolation("deadline", "must be timezone-aware"))
    if found:
        raise InvalidArgument(f"the round has {len(found)} problem(s)", found)
    return {k: v for k, v in criteria.items() if v is not None}


# A score as a person writes it: ASCII digits, an optional sign and fraction.
# Decimal() alone also takes '1e999999999' (whose plain text is a billion
# digits: formatting it for an error message pins a thread), '1_0', '٨٥'.
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]{1,12}(?:\.[0-9]{1,12})?", re.ASCII)


def _decimal(value: Any) -> Decimal | None:
    """A finite decimal from an int, a plain numeric text or a Decimal; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and not PLAIN_NUMBER.fullmatch(value.strip()):
        return None
    try:
        number = Decimal(repr(value) if isinstance(value, float) else value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


def _text(value: Decimal) -> str:
    return format(value, "f")


# -- folding ------------------------------------------------------------------------


def fold(events: Iterable[RecordedEvent]) -> ReviewRound | None:
    state: ReviewRound | None = None
    for event in events:
        state = apply(state, event)
    return state


def apply(state: ReviewRound | None, event: RecordedEvent) -> ReviewRound | None:
    """The round's own events, plus its panel's assignments and recusals."""
    p = event.payload
    handler = _APPLY.get(event.type)
    if handler is None or "round_id" not in p:
        return state
    current = state or ReviewRound(p["round_id"])
    return handler(current, p, event)


def _opened_event(
    s: ReviewRound, p: Mapping[str, Any], _: RecordedEvent
) -> ReviewRound:
    return replace(
        s, campaign_id=p["campaign_id"], category=p["category"], number=p["number"],
        deadline=p["deadline"],
        criteria={k: Decimal(v) for k, v in p["criteria"].items()},
        nomination_ids=tuple(p["nomination_ids"]),
        previous_round_id=p["previous_round_id"], status=OPEN)


def _assigned(s: ReviewRound, p: Mapping[str, Any], _: RecordedEvent) -> ReviewRound:
    nid = p["nomination_id"]
    reviewers = {**s.assigned.get(nid, {}), p["reviewer_id"]: p["group"]}
    return replace(s, assigned={**s.assigned, nid: reviewers})


def _recused(s: ReviewRound, p: Mapping[str, Any], _: RecordedEvent) -> ReviewRound:
    nid, rid = p["nomination_id"], p["reviewer_id"]
    reviewers = {k: v for k, v in s.assigned.get(nid, {}).items() if k != rid}
    forms = dict(s.forms)
    if (nid, rid) in forms:
        forms[(nid, rid)] = replace(forms[(nid, rid)], recused=True)
    return replace(s, assigned={**s.assigned, nid: reviewers}, forms=forms)


def _scored(s: ReviewRound, p: Mapping[str, Any], event: RecordedEvent) -> ReviewRound:
    form = ReviewForm(p["round_id"], p["nomination_id"], p["reviewer_id"], p["group"],
                      {k: Decimal(v) for k, v in p["scores"].items()}, p["comment"],
                      p["form_version"], event.recorded_at)
    return replace(s, forms={**s.forms, (form.nomination_id, form.reviewer_id): form},
                   history=(*s.history, form))


def _closed(s: ReviewRound, p: Mapping[str, Any], _: RecordedEvent) -> ReviewRound:
    return replace(s, status=CLOSED)


def _reopened(s: ReviewRound, p: Mapping[str, Any], _: RecordedEvent) -> ReviewRound:
    return replace(s, status=OPEN, deadline=p["deadline"], reminders=frozenset())


def _reminded(s: ReviewRound, p: Mapping[str, Any], _: RecordedEvent) -> ReviewRound:
    return replace(s, reminders=s.reminders | {(p["reviewer_id"], p["lead_seconds"])})


def _decided(s: ReviewRound, p: Mapping[str, Any], _: RecordedEvent) -> ReviewRound:
    decision = Decision(p["nomination_id"], p["outcome"], p["tier"], p["reason"],
                        p["result_version"])
    return replace(s, decisions={**s.decisions, decision.nomination_id: decision})


def _published(s: ReviewRound, p: Mapping[str, Any], _: RecordedEvent) -> ReviewRound:
    return replace(s, published_version=p["result_version"])


_APPLY = {
    ROUND_OPENED: _opened_event, REVIEWER_ASSIGNED: _assigned,
    REVIEWER_RECUSED: _recused, SCORE_RECORDED: _scored, ROUND_CLOSED: _closed,
    ROUND_REOPENED: _reopened, REMINDER_DUE: _reminded,
    DECISION_RECORDED: _decided, RESULTS_PUBLISHED: _published,
}


ROUND: Aggregate[ReviewRound] = Aggregate("review-round", apply)
