"""Scoring's aggregation: the expert reviews of one category become explained scores.

Pure and exact. Every number is a `Fraction` from the first input to the last
step, so the same reviews give the same score on every machine and in every
replay; rounding happens only in `display`, for people. The one inexact step is
the square root of z-score normalization, taken with a fixed decimal context
(`SQRT_PRECISION` digits) so that it too is reproducible, and recorded.

How a nomination's score is made, in order (each step appears in its
`ScoreBreakdown.steps` with the numbers used):

1. each review's weighted total: sum over the rubric's criteria of
   weight x raw score (the rubric may set criteria per panel group);
2. optionally, per-reviewer z-score normalization over every review of that
   reviewer passed in (one category round): (total - mean) / sigma; a reviewer
   with zero variance (one review, or the same total everywhere) expressed no
   preference, so each of their values is 0, the neutral point;
3. with at least `trim_at` reviews, exactly one highest and one lowest value
   are dropped; equal values are told apart by reviewer id (the lowest value
   with the smallest id, the highest value with the largest id go);
4. the remaining values are averaged with panel-group weights: by default each
   group present gets its configured share, split evenly among its remaining
   reviewers (`share`), or each reviewer weighs their group's weight
   (`per_reviewer`). A group emptied by trimming simply drops out and the
   shares of the others are renormalized.

Ranking is a chain of keys, always ending in the nomination id, so two
nominations never share a rank and each rank says which key decided it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal
from fractions import Fraction
from typing import Any

from laurel.errors import FieldViolation, InvalidArgument

Number = int | str | Decimal | Fraction

NORMALIZE_NONE = "none"
NORMALIZE_ZSCORE = "zscore"
WEIGHT_SHARE = "share"
WEIGHT_PER_REVIEWER = "per_reviewer"
SQRT_PRECISION = 40

HENAN_GROUPS = ("hospital_manager", "industry_expert", "media")
INNOVATION_YEAR_GROUPS = ("medical", "nursing", "medical_technology", "management")

TIE_SCORE = "score"
TIE_FIRST_PLACE_VOTES = "first_place_votes"
TIE_SUBMITTED_AT = "submitted_at"
TIE_NOMINATION_ID = "nomination_id"
TIE_CRITERION_MEAN = "criterion:"
TIE_CRITERION_MAX = "criterion_max:"
DEFAULT_TIE_BREAK = (TIE_SCORE, TIE_FIRST_PLACE_VOTES, TIE_SUBMITTED_AT,
                     TIE_NOMINATION_ID)


# -- values ------------------------------------------------------------------


def exact(value: Number | float) -> Fraction:
    """An exact number from what callers hold; floats go through their text."""
    if isinstance(value, bool):
        raise TypeError("a score is a number, not a truth value")
    if isinstance(value, float):
        return Fraction(Decimal(repr(value)))
    return Fraction(value)


def exact_text(value: Fraction) -> str:
    """The exact value as text that `Fraction()` reads back: '83/2', '-7'."""
    return str(value)


def display(value: Fraction, places: int = 2) -> str:
    """Rounded half away from zero (四舍五入) for people; never fed back in."""
    scale = 10**places
    magnitude = abs(value) * scale
    units = int(magnitude + Fraction(1, 2))
    sign = "-" if value < 0 and units else ""
    whole, part = divmod(units, scale)
    return f"{sign}{whole}.{part:0{places}d}" if places else f"{sign}{whole}"


@dataclass(frozen=True)
class Criterion:
    key: str
    max_score: Fraction
    weight: Fraction = Fraction(1)


@dataclass(frozen=True)
class Rubric:
    """Criteria with their weights; `by_group` overrides them per panel group.

    The innovation-year plan lets each professional review group set its own
    criteria, hence the override; henan uses one rubric for every group.
    """

    criteria: tuple[Criterion, ...]
    by_group: Mapping[str, tuple[Criterion, ...]] = field(default_factory=dict)

    def criteria_for(self, group: str) -> tuple[Criterion, ...]:
        return tuple(self.by_group.get(group, self.criteria))

    def to_dict(self) -> dict[str, Any]:
        return {
            "criteria": _criteria_dict(self.criteria),
            "by_group": {g: _criteria_dict(c)
                         for g, c in sorted(self.by_group.items())},
        }


@dataclass(frozen=True)
class AggregationPolicy:
    """What the campaign chose; an empty `group_weights` weighs groups equally."""

    rubric: Rubric
    group_weights: Mapping[str, Fraction] = field(default_factory=dict)
    trim_at: int = 5
    normalization: str = NORMALIZE_NONE
    group_weighting: str = WEIGHT_SHARE

    def weight_of(self, group: str) -> Fraction:
        if not self.group_weights:
            return Fraction(1)
        return self.group_weights[group]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rubric": self.rubric.to_dict(),
            "group_weights": {g: exact_text(w) for g, w in
                              sorted(self.group_weights.items())},
            "trim_at": self.trim_at,
            "normalization": self.normalization,
            "group_weighting": self.group_weighting,
        }


@dataclass(frozen=True)
class Review:
    """One expert's scores for one nomination, as the review service recorded."""

    nomination_id: str
    reviewer_id: str
    group: str
    scores: Mapping[str, Number]
    submitted_at: str = ""


@dataclass(frozen=True)
class InputLine:
    """One review as it entered the score: raw, weighted, normalized, used."""

    reviewer_id: str
    group: str
    raw: Mapping[str, Fraction]
    weighted_total: Fraction
    normalized: Fraction | None
    value: Fraction
    kept: bool
    weight: Fraction

    def to_dict(self) -> dict[str, Any]:
        return {
            "reviewer_id": self.reviewer_id,
            "group": self.group,
            "raw": {k: exact_text(v) for k, v in sorted(self.raw.items())},
            "weighted_total": exact_text(self.weighted_total),
            "normalized": (None if self.normalized is None
                           else exact_text(self.normalized)),
            "value": exact_text(self.value),
            "value_display": display(self.value),
            "kept": self.kept,
            "weight": exact_text(self.weight),
        }


@dataclass(frozen=True)
class DroppedInput:
    reviewer_id: str
    value: Fraction
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"reviewer_id": self.reviewer_id, "value": exact_text(self.value),
                "reason": self.reason}


@dataclass(frozen=True)
class ScoreBreakdown:
    """Everything needed to check a nomination's score by hand."""

    nomination_id: str
    inputs: tuple[InputLine, ...]
    dropped: tuple[DroppedInput, ...]
    score: Fraction | None
    criterion_means: Mapping[str, Fraction]
    criterion_maxima: Mapping[str, Fraction]
    steps: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "nomination_id": self.nomination_id,
            "inputs": [line.to_dict() for line in self.inputs],
            "dropped": [d.to_dict() for d in self.dropped],
            "score": None if self.score is None else exact_text(self.score),
            "score_display": None if self.score is None else display(self.score),
            "criterion_means": _fractions_dict(self.criterion_means),
            "criterion_maxima": _fractions_dict(self.criterion_maxima),
            "steps": list(self.steps),
        }


@dataclass(frozen=True)
class ReviewerStats:
    """A reviewer's mean and spread over the reviews passed in."""

    reviewer_id: str
    count: int
    mean: Fraction
    sigma: Fraction

    def z(self, total: Fraction) -> Fraction:
        return Fraction(0) if self.sigma == 0 else (total - self.mean) / self.sigma


# -- aggregating ---------------------------------------------------------------


def aggregate(
    reviews: Iterable[Review], policy: AggregationPolicy
) -> dict[str, ScoreBreakdown]:
    """Score every nomination reviewed, keyed and ordered by nomination id.

    Pass all the reviews of one category round at once: normalization needs
    each reviewer's whole set, and the result must not depend on call order.
    """
    ordered = sorted(reviews, key=lambda r: (r.nomination_id, r.reviewer_id))
    check_policy(policy)
    check_reviews(ordered, policy)
    stats = reviewer_stats(ordered, policy.rubric)
    by_nomination: dict[str, list[Review]] = defaultdict(list)
    for review in ordered:
        by_nomination[review.nomination_id].append(review)
    return {nid: _breakdown(nid, rs, policy, stats)
            for nid, rs in sorted(by_nomination.items())}


def weighted_total(review: Review, rubric: Rubric) -> Fraction:
    return sum((c.weight * exact(review.scores[c.key])
                for c in rubric.criteria_for(review.group)), Fraction(0))


def reviewer_stats(
    reviews: Sequence[Review], rubric: Rubric
) -> dict[str, ReviewerStats]:
    totals: dict[str, list[Fraction]] = defaultdict(list)
    for review in reviews:
        totals[review.reviewer_id].append(weighted_total(review, rubric))
    return {rid: _stats(rid, values) for rid, values in sorted(totals.items())}


def first_place_votes(reviews: Iterable[Review], rubric: Rubric) -> dict[str, int]:
    """Per nomination, how many reviewers gave it their highest weighted total.

    A reviewer whose top total is shared gives a vote to each nomination that
    shares it: the vote records a preference, and they stated none between them.
    """
    best: dict[str, list[tuple[Fraction, str]]] = defaultdict(list)
    for review in reviews:
        best[review.reviewer_id].append((weighted_total(review, rubric),
                                         review.nomination_id))
    votes: dict[str, int] = defaultdict(int)
    for scored in best.values():
        top = max(total for total, _ in scored)
        for nomination_id in sorted({nid for total, nid in scored if total == top}):
            votes[nomination_id] += 1
    return dict(sorted(votes.items()))


def check_policy(policy: AggregationPolicy) -> None:
    found = _criteria_violations("rubric.criteria", policy.rubric.criteria)
    for group, criteria in sorted(policy.rubric.by_group.items()):
        found += _criteria_violations(f"rubric.by_group[{group}]", criteria)
    for group, weight in sorted(policy.group_weights.items()):
        if weight <= 0:
            found.append(FieldViolation(f"group_weights[{group}]", "must be > 0"))
    if policy.trim_at != 0 and policy.trim_at < 3:
        found.append(FieldViolation("trim_at", "0 (never trim) or at least 3"))
    if policy.normalization not in (NORMALIZE_NONE, NORMALIZE_ZSCORE):
        found.append(FieldViolation("normalization", "none or zscore"))
    if policy.group_weighting not in (WEIGHT_SHARE, WEIGHT_PER_REVIEWER):
        found.append(FieldViolation("group_weighting", "share or per_reviewer"))
    _refuse("the aggregation policy", found)


def check_reviews(reviews: Sequence[Review], policy: AggregationPolicy) -> None:
    """Every problem at once: duplicates, unweighted groups, wrong criteria."""
    found: list[FieldViolation] = []
    seen: set[tuple[str, str]] = set()
    for review in reviews:
        where = f"reviews[{review.nomination_id}/{review.reviewer_id}]"
        pair = (review.nomination_id, review.reviewer_id)
        if pair in seen:
            found.append(FieldViolation(where, "a reviewer scores a nomination once"))
        seen.add(pair)
        if policy.group_weights and review.group not in policy.group_weights:
            found.append(FieldViolation(f"{where}.group",
                                        f"no weight for panel group {review.group!r}"))
        found += _score_violations(where, review, policy.rubric)
    _refuse("the reviews", found)


def _breakdown(
    nomination_id: str, reviews: list[Review], policy: AggregationPolicy,
    stats: Mapping[str, ReviewerStats],
) -> ScoreBreakdown:
    steps: list[str] = []
    lines = [_input_line(r, policy, stats, steps) for r in reviews]
    kept, dropped = _trim(lines, policy.trim_at, steps)
    weights = _effective_weights(kept, policy)
    score = _weighted_mean(kept, weights, policy, steps)
    final = tuple(_with_weight(line, weights) for line in lines)
    kept_lines = [line for line in final if line.kept]
    return ScoreBreakdown(
        nomination_id=nomination_id,
        inputs=final,
        dropped=tuple(dropped),
        score=score,
        criterion_means=_criterion_means(kept_lines),
        criterion_maxima=_criterion_maxima(kept_lines),
        steps=tuple(steps),
    )


def _input_line(
    review: Review, policy: AggregationPolicy, stats: Mapping[str, ReviewerStats],
    steps: list[str],
) -> InputLine:
    criteria = policy.rubric.criteria_for(review.group)
    raw = {c.key: exact(review.scores[c.key]) for c in criteria}
    total = weighted_total(review, policy.rubric)
    terms = " + ".join(f"{_n(c.weight)}x{_n(raw[c.key])}[{c.key}]" for c in criteria)
    steps.append(f"{review.reviewer_id} ({review.group}): weighted total = "
                 f"{terms} = {_n(total)}")
    normalized = None
    if policy.normalization == NORMALIZE_ZSCORE:
        normalized = _normalize(review.reviewer_id, total, stats, steps)
    value = total if normalized is None else normalized
    return InputLine(review.reviewer_id, review.group, raw, total, normalized,
                     value, kept=True, weight=Fraction(0))


def _normalize(
    reviewer_id: str, total: Fraction, stats: Mapping[str, ReviewerStats],
    steps: list[str],
) -> Fraction:
    own = stats[reviewer_id]
    z = own.z(total)
    if own.sigma == 0:
        steps.append(f"{reviewer_id}: z = 0 (sigma = 0 over {own.count} review(s): "
                     "no preference expressed, neutral value)")
    else:
        steps.append(f"{reviewer_id}: z = ({_n(total)} - {_n(own.mean)}) / "
                     f"{_n(own.sigma, 6)} = {_n(z, 6)}")
    return z


def _trim(
    lines: list[InputLine], trim_at: int, steps: list[str]
) -> tuple[list[InputLine], list[DroppedInput]]:
    if trim_at == 0 or len(lines) < trim_at:
        rule = "never trims" if trim_at == 0 else f"trims from {trim_at}"
        steps.append(f"{len(lines)} review(s); the policy {rule}: nothing dropped")
        return lines, []
    order = sorted(lines, key=lambda line: (line.value, line.reviewer_id))
    low, high = order[0], order[-1]
    dropped = [DroppedInput(high.reviewer_id, high.value,
                            f"highest of {len(lines)} (trimmed)"),
               DroppedInput(low.reviewer_id, low.value,
                            f"lowest of {len(lines)} (trimmed)")]
    steps.append(f"{len(lines)} reviews >= {trim_at}: dropped highest "
                 f"{high.reviewer_id} ({_n(high.value)}) and lowest "
                 f"{low.reviewer_id} ({_n(low.value)}); ties go by reviewer id")
    gone = {high.reviewer_id, low.reviewer_id}
    kept = [line for line in lines if line.reviewer_id not in gone]
    return kept, dropped


def _effective_weights(
    kept: list[InputLine], policy: AggregationPolicy
) -> dict[str, Fraction]:
    if policy.group_weighting == WEIGHT_PER_REVIEWER:
        return {line.reviewer_id: policy.weight_of(line.group) for line in kept}
    sizes: dict[str, int] = defaultdict(int)
    for line in kept:
        sizes[line.group] += 1
    return {line.reviewer_id: policy.weight_of(line.group) / sizes[line.group]
            for line in kept}


def _weighted_mean(
    kept: list[InputLine], weights: Mapping[str, Fraction],
    policy: AggregationPolicy, steps: list[str],
) -> Fraction | None:
    if not kept:
        steps.append("no review left: no score")
        return None
    if policy.group_weighting == WEIGHT_SHARE:
        _explain_group_means(kept, policy, steps)
    total_weight = sum(weights.values(), Fraction(0))
    score = sum((weights[line.reviewer_id] * line.value for line in kept),
                Fraction(0)) / total_weight
    terms = " + ".join(f"{_n(weights[line.reviewer_id], 4)}x{_n(line.value)}"
                       for line in kept)
    steps.append(f"score = ({terms}) / {_n(total_weight, 4)} = {_n(score)} "
                 f"(shown as {display(score)})")
    return score


def _explain_group_means(
    kept: list[InputLine], policy: AggregationPolicy, steps: list[str]
) -> None:
    groups: dict[str, list[InputLine]] = defaultdict(list)
    for line in kept:
        groups[line.group].append(line)
    for group, members in sorted(groups.items()):
        mean = sum((m.value for m in members), Fraction(0)) / len(members)
        names = ", ".join(f"{m.reviewer_id}={_n(m.value)}" for m in members)
        steps.append(f"group {group}: mean of {names} = {_n(mean)}, "
                     f"group weight {_n(policy.weight_of(group), 4)}")


def _with_weight(line: InputLine, weights: Mapping[str, Fraction]) -> InputLine:
    kept = line.reviewer_id in weights
    return InputLine(line.reviewer_id, line.group, line.raw, line.weighted_total,
                     line.normalized, line.value, kept,
                     weights.get(line.reviewer_id, Fraction(0)))


def _criterion_means(lines: Sequence[InputLine]) -> dict[str, Fraction]:
    values = _by_criterion(lines)
    return {k: sum(v, Fraction(0)) / len(v) for k, v in sorted(values.items())}


def _criterion_maxima(lines: Sequence[InputLine]) -> dict[str, Fraction]:
    return {k: max(v) for k, v in sorted(_by_criterion(lines).items())}


def _by_criterion(lines: Sequence[InputLine]) -> dict[str, list[Fraction]]:
    values: dict[str, list[Fraction]] = defaultdict(list)
    for line in lines:
        for key, raw in line.raw.items():
            values[key].append(raw)
    return values


def _stats(reviewer_id: str, values: list[Fraction]) -> ReviewerStats:
    mean = sum(values, Fraction(0)) / len(values)
    variance = sum(((v - mean) ** 2 for v in values), Fraction(0)) / len(values)
    return ReviewerStats(reviewer_id, len(values), mean, _sqrt(variance))


def _sqrt(value: Fraction) -> Fraction:
    """Population sigma at a fixed precision: the same digits everywhere."""
    if value == 0:
        return Fraction(0)
    context = Context(prec=SQRT_PRECISION)
    ratio = context.divide(Decimal(value.numerator), Decimal(value.denominator))
    return Fraction(context.sqrt(ratio))


def _score_violations(
    where: str, review: Review, rubric: Rubric
) -> list[FieldViolation]:
    criteria = {c.key: c for c in rubric.criteria_for(review.group)}
    found = [FieldViolation(f"{where}.scores[{key}]", "not a criterion of the rubric")
             for key in sorted(set(review.scores) - set(criteria))]
    found += [FieldViolation(f"{where}.scores[{key}]", "missing")
              for key in sorted(set(criteria) - set(review.scores))]
    for key in sorted(set(criteria) & set(review.scores)):
        try:
            value = exact(review.scores[key])
        except (TypeError, ValueError, ZeroDivisionError):
            found.append(FieldViolation(f"{where}.scores[{key}]", "not a number"))
            continue
        if not 0 <= value <= criteria[key].max_score:
            found.append(FieldViolation(
                f"{where}.scores[{key}]",
                f"must be within 0..{_n(criteria[key].max_score)}"))
    return found


def _criteria_violations(
    where: str, criteria: Sequence[Criterion]
) -> list[FieldViolation]:
    found = []
    if not criteria:
        found.append(FieldViolation(where, "at least one criterion"))
    keys = [c.key for c in criteria]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        found.append(FieldViolation(f"{where}[{key}]", "criterion listed twice"))
    for c in criteria:
        if c.max_score <= 0 or c.weight < 0:
            found.append(FieldViolation(f"{where}[{c.key}]",
                                        "max_score must be > 0 and weight >= 0"))
    return found


def _refuse(what: str, found: list[FieldViolation]) -> None:
    if found:
        raise InvalidArgument(f"{what}: {len(found)} problem(s)", found)


def _criteria_dict(criteria: Iterable[Criterion]) -> list[dict[str, str]]:
    return [{"key": c.key, "max_score": exact_text(c.max_score),
             "weight": exact_text(c.weight)} for c in criteria]


def _fractions_dict(values: Mapping[str, Fraction]) -> dict[str, str]:
    return {k: exact_text(v) for k, v in sorted(values.items())}


def _n(value: Fraction, places: int = 4) -> str:
    """A step's number: exact when short, else rounded with a marker (~)."""
    if value.denominator == 1:
        return str(value.numerator)
    shown = display(value, places).rstrip("0").rstrip(".")
    return shown if Fraction(shown) == value else f"~{shown}"


# -- ranking -----------------------------------------------------------------


@dataclass(frozen=True)
class RankingFacts:
    """Facts outside the reviews that tie-breaks may need."""

    first_place_votes: Mapping[str, int] = field(default_factory=dict)
    submitted_at: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RankedEntry:
    rank: int
    nomination_id: str
    score: Fraction
    decided_by: str
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "nomination_id": self.nomination_id,
                "score": exact_text(self.score), "score_display": display(self.score),
                "decided_by": self.decided_by, "explanation": self.explanation}


def check_tie_break(chain: Sequence[str]) -> None:
    found = [FieldViolation(f"tie_break[{i}]", f"unknown key {key!r}")
             for i, key in enumerate(chain) if not _known_tie_key(key)]
    _refuse("the tie-break chain", found)


def rank(
    breakdowns: Iterable[ScoreBreakdown], chain: Sequence[str] = DEFAULT_TIE_BREAK,
    facts: RankingFacts | None = None,
) -> tuple[RankedEntry, ...]:
    """Order scored nominations by the chain; unscored ones are not ranked.

    The chain is completed with the nomination id, so the order is total and
    independent of input order. Each entry names the key that placed it below
    the one above, with both values, so a tie's resolution can be read.
    """
    check_tie_break(chain)
    keys = tuple(chain) if TIE_NOMINATION_ID in chain else (*chain, TIE_NOMINATION_ID)
    known = facts or RankingFacts()
    scored = [b for b in breakdowns if b.score is not None]
    parts = {b.nomination_id: [_key_part(k, b, known) for k in keys] for b in scored}
    ordered = sorted(scored, key=lambda b: parts[b.nomination_id])
    entries = []
    for index, item in enumerate(ordered):
        above = ordered[index - 1] if index else None
        decided_by, why = _decided_by(keys, item, above, parts)
        assert item.score is not None
        entries.append(RankedEntry(index + 1, item.nomination_id, item.score,
                                   decided_by, why))
    return tuple(entries)


def _known_tie_key(key: str) -> bool:
    simple = (TIE_SCORE, TIE_FIRST_PLACE_VOTES, TIE_SUBMITTED_AT, TIE_NOMINATION_ID)
    prefixed = any(key.startswith(p) and len(key) > len(p)
                   for p in (TIE_CRITERION_MEAN, TIE_CRITERION_MAX))
    return key in simple or prefixed


def _key_part(key: str, b: ScoreBreakdown, facts: RankingFacts) -> tuple[Any, ...]:
    """A sortable part: smaller sorts first, so 'higher is better' is negated."""
    if key == TIE_SCORE:
        return (-(b.score or 0),)
    if key == TIE_FIRST_PLACE_VOTES:
        return (-facts.first_place_votes.get(b.nomination_id, 0),)
    if key == TIE_SUBMITTED_AT:
        at = facts.submitted_at.get(b.nomination_id, "")
        return (at == "", at)
    if key == TIE_NOMINATION_ID:
        return (b.nomination_id,)
    source = (b.criterion_maxima if key.startswith(TIE_CRITERION_MAX)
              else b.criterion_means)
    value = source.get(key.split(":", 1)[1])
    return (value is None, -(value or 0))


def _decided_by(
    keys: Sequence[str], item: ScoreBreakdown, above: ScoreBreakdown | None,
    parts: Mapping[str, list[tuple[Any, ...]]],
) -> tuple[str, str]:
    if above is None:
        return "", "first place"
    mine, theirs = parts[item.nomination_id], parts[above.nomination_id]
    for key, own, other in zip(keys, mine, theirs, strict=True):
        if own != other:
            return key, _below(key, own, other, item, above)
    raise AssertionError("the nomination id makes every key distinct")


def _below(
    key: str, own: tuple[Any, ...], other: tuple[Any, ...], item: ScoreBreakdown,
    above: ScoreBreakdown,
) -> str:
    if key == TIE_SCORE:
        return f"lower score than {above.nomination_id}"
    assert item.score is not None and above.score is not None
    scores = ("same score as" if item.score == above.score else
              f"score {_n(item.score)} vs {_n(above.score)} of")
    return (f"{scores} {above.nomination_id}; placed below it by {key} "
            f"({_show_part(key, own)} vs {_show_part(key, other)})")


def _show_part(key: str, part: tuple[Any, ...]) -> str:
    if key in (TIE_SUBMITTED_AT, TIE_NOMINATION_ID):
        return str(part[-1]) or "unknown"
    if key.startswith((TIE_CRITERION_MEAN, TIE_CRITERION_MAX)) and part[0]:
        return "none"
    value = -part[-1]
    return _n(value) if isinstance(value, Fraction) else str(value)
