"""Scoring's results: ranks, prize tiers and shortlists per category, versioned.

A category round's result is recomputed whenever its inputs change (a late
amendment to a review, say) and each computation that changes anything is a
new `ResultComputed` event with the next version number. Nothing is replaced:
`CategoryResults` keeps every version, so the result the committee decided on
stays readable next to the one that corrected it.

Prize tiers and shortlists walk the ranking from the top. A tier takes the
next nominations while its `count` lasts and their score reaches its
`min_score` (either may be unset), then the next tier continues where it
stopped: by count (innovation-year: 1 first, 2 second, 3 third prizes), by
threshold, or both. Thresholds compare exact scores, in the units the
aggregation produced (points, or z-units when normalizing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from laurel.envelope import Aggregate, NewEvent, RecordedEvent
from laurel.errors import FieldViolation, InvalidArgument, NotFound
from laurel.scoring.domain.aggregation import (
    DEFAULT_TIE_BREAK,
    AggregationPolicy,
    RankedEntry,
    RankingFacts,
    Review,
    aggregate,
    check_tie_break,
    exact_text,
    first_place_votes,
    rank,
)

RESULT_COMPUTED = "ResultComputed"
FIRST_PRIZE, SECOND_PRIZE, THIRD_PRIZE = "first_prize", "second_prize", "third_prize"
_UNVERSIONED = ("version", "supersedes", "cause")


@dataclass(frozen=True)
class PrizeTier:
    key: str
    count: int | None = None
    min_score: Fraction | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "count": self.count,
                "min_score": _maybe_text(self.min_score)}


@dataclass(frozen=True)
class ShortlistRule:
    """Who moves on to `to_round`: the top N, those at or above a score, or both."""

    to_round: str
    top_n: int | None = None
    min_score: Fraction | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"to_round": self.to_round, "top_n": self.top_n,
                "min_score": _maybe_text(self.min_score)}


@dataclass(frozen=True)
class ResultPolicy:
    tiers: tuple[PrizeTier, ...] = ()
    shortlist: ShortlistRule | None = None
    tie_break: tuple[str, ...] = DEFAULT_TIE_BREAK

    def to_dict(self) -> dict[str, Any]:
        rule = self.shortlist
        return {"tiers": [t.to_dict() for t in self.tiers],
                "shortlist": None if rule is None else rule.to_dict(),
                "tie_break": list(self.tie_break)}


def prizes_by_count(first: int, second: int, third: int) -> tuple[PrizeTier, ...]:
    """The innovation-year plan's first, second and third prizes of one award."""
    return (PrizeTier(FIRST_PRIZE, first), PrizeTier(SECOND_PRIZE, second),
            PrizeTier(THIRD_PRIZE, third))


@dataclass(frozen=True)
class ResultInputs:
    """What one computation of a category round's result needs.

    `nominations` lists every nomination in the round, so one without any
    review shows up as unscored instead of silently missing.
    """

    campaign_id: str
    category: str
    round_id: str
    reviews: tuple[Review, ...]
    aggregation: AggregationPolicy
    policy: ResultPolicy = ResultPolicy()
    submitted_at: Mapping[str, str] = field(default_factory=dict)
    nominations: tuple[str, ...] = ()
    cause: str = ""


@dataclass(frozen=True)
class ResultEntry:
    rank: int
    nomination_id: str
    score: Fraction
    tier: str
    shortlisted: bool
    decided_by: str
    explanation: str


@dataclass(frozen=True)
class ResultVersion:
    version: int
    cause: str
    computed_at: str
    entries: tuple[ResultEntry, ...]
    unscored: tuple[str, ...]
    shortlisted: tuple[str, ...]
    payload: Mapping[str, Any]

    def entry(self, nomination_id: str) -> ResultEntry | None:
        return next((e for e in self.entries if e.nomination_id == nomination_id),
                    None)

    def breakdown(self, nomination_id: str) -> Mapping[str, Any] | None:
        found: Mapping[str, Any] | None = self.payload["breakdowns"].get(nomination_id)
        return found


@dataclass(frozen=True)
class CategoryResults:
    campaign_id: str
    category: str
    round_id: str
    versions: tuple[ResultVersion, ...] = ()

    @property
    def latest(self) -> ResultVersion | None:
        return self.versions[-1] if self.versions else None

    def version(self, number: int) -> ResultVersion:
        if not 1 <= number <= len(self.versions):
            raise NotFound(f"no result version {number}; there are "
                           f"{len(self.versions)}", field="version")
        return self.versions[number - 1]


def stream_id(campaign_id: str, category: str, round_id: str) -> str:
    return f"results-{campaign_id}-{category}-{round_id}"


# -- deciding ----------------------------------------------------------------


def assign_tiers(
    ranked: Sequence[RankedEntry], tiers: Sequence[PrizeTier]
) -> dict[str, str]:
    """Nomination id -> tier key, for those who won a tier."""
    won: dict[str, str] = {}
    position = 0
    for tier in tiers:
        taken = 0
        while position < len(ranked) and _fits(ranked[position].score, taken,
                                               tier.count, tier.min_score):
            won[ranked[position].nomination_id] = tier.key
            position, taken = position + 1, taken + 1
    return won


def shortlist(ranked: Sequence[RankedEntry], rule: ShortlistRule) -> tuple[str, ...]:
    chosen: list[str] = []
    for entry in ranked:
        if not _fits(entry.score, len(chosen), rule.top_n, rule.min_score):
            break
        chosen.append(entry.nomination_id)
    return tuple(chosen)


def check_result_policy(policy: ResultPolicy) -> None:
    found: list[FieldViolation] = []
    keys = [t.key for t in policy.tiers]
    for index, tier in enumerate(policy.tiers):
        if not tier.key.strip() or keys.count(tier.key) > 1:
            found.append(FieldViolation(f"tiers[{index}].key",
                                        "a unique, non-empty key"))
        if tier.count is not None and tier.count < 1:
            found.append(FieldViolation(f"tiers[{index}].count", "at least 1 when set"))
    rule = policy.shortlist
    if rule is not None:
        if not rule.to_round.strip():
            found.append(FieldViolation("shortlist.to_round", "required"))
        if rule.top_n is None and rule.min_score is None:
            found.append(FieldViolation("shortlist", "set top_n, min_score or both"))
        if rule.top_n is not None and rule.top_n < 1:
            found.append(FieldViolation("shortlist.top_n", "at least 1 when set"))
    if found:
        raise InvalidArgument(f"the result policy: {len(found)} problem(s)", found)
    check_tie_break(policy.tie_break)


def compute_results(
    state: CategoryResults | None, inputs: ResultInputs
) -> list[NewEvent]:
    """The next result version, or nothing when the outcome would not change.

    Recomputing from the same inputs (a redelivered review event, say) must not
    mint a new version; any change in a score, an input or the policy does.
    """
    check_result_policy(inputs.policy)
    payload = result_payload(inputs)
    latest = state.latest if state else None
    if latest is not None and _comparable(latest.payload) == _comparable(payload):
        return []
    version = 1 if latest is None else latest.version + 1
    payload.update(version=version, supersedes=latest.version if latest else None,
                   cause=inputs.cause)
    return [NewEvent(RESULT_COMPUTED, payload)]


def result_payload(inputs: ResultInputs) -> dict[str, Any]:
    """Everything the result is and how it came to be, as plain JSON."""
    breakdowns = aggregate(inputs.reviews, inputs.aggregation)
    votes = first_place_votes(inputs.reviews, inputs.aggregation.rubric)
    facts = RankingFacts(votes, dict(inputs.submitted_at))
    ranked = rank(breakdowns.values(), inputs.policy.tie_break, facts)
    tiers = assign_tiers(ranked, inputs.policy.tiers)
    rule = inputs.policy.shortlist
    moving = shortlist(ranked, rule) if rule else ()
    ranked_ids = {e.nomination_id for e in ranked}
    unscored = sorted((set(inputs.nominations) | set(breakdowns)) - ranked_ids)
    return {
        "campaign_id": inputs.campaign_id,
        "category": inputs.category,
        "round_id": inputs.round_id,
        "entries": [_entry_dict(e, tiers, moving) for e in ranked],
        "unscored": unscored,
        "shortlist": None if rule is None else {"to_round": rule.to_round,
                                                "nomination_ids": list(moving)},
        "first_place_votes": votes,
        "breakdowns": {nid: b.to_dict() for nid, b in breakdowns.items()},
        "policy": {"aggregation": inputs.aggregation.to_dict(),
                   **inputs.policy.to_dict()},
    }


def _fits(
    score: Fraction, taken: int, count: int | None, min_score: Fraction | None
) -> bool:
    return (count is None or taken < count) and (min_score is None
                                                 or score >= min_score)


def _entry_dict(
    entry: RankedEntry, tiers: Mapping[str, str], moving: Sequence[str]
) -> dict[str, Any]:
    return {**entry.to_dict(), "tier": tiers.get(entry.nomination_id, ""),
            "shortlisted": entry.nomination_id in moving}


def _comparable(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in _UNVERSIONED}


def _maybe_text(value: Fraction | None) -> str | None:
    return None if value is None else exact_text(value)


# -- folding -----------------------------------------------------------------


def fold(events: Iterable[RecordedEvent]) -> CategoryResults | None:
    state: CategoryResults | None = None
    for event in events:
        state = apply(state, event)
    return state


def apply(
    state: CategoryResults | None, event: RecordedEvent
) -> CategoryResults | None:
    if event.type != RESULT_COMPUTED:
        return state
    p = event.payload
    if state is None:
        state = CategoryResults(p["campaign_id"], p["category"], p["round_id"])
    assert p["version"] == len(state.versions) + 1, "result versions are gapless"
    return replace(state, versions=(*state.versions, _version(p, event.recorded_at)))


RESULTS = Aggregate("scoring-results", apply)


def _version(p: Mapping[str, Any], recorded_at: str) -> ResultVersion:
    entries = tuple(
        ResultEntry(e["rank"], e["nomination_id"], Fraction(e["score"]), e["tier"],
                    e["shortlisted"], e["decided_by"], e["explanation"])
        for e in p["entries"])
    listed = p["shortlist"]["nomination_ids"] if p["shortlist"] else []
    return ResultVersion(p["version"], p["cause"], recorded_at, entries,
                         tuple(p["unscored"]), tuple(listed), p)

