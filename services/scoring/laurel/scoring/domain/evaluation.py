"""Running a category's rules for one nomination: one verdict per rule.

The registry rules, the self-assessment threshold and the live-benchmark rule
are the domain's (`eligibility`); the two rules that read only
the nomination itself (it names enough of the ten measures; it has enough
evidence of a kind) are here, with verdicts of the same shape.

Pure: the registry, the hospital's nominations and the date are passed in.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from laurel.envelope import NewEvent
from laurel.scoring.domain import eligibility as el
from laurel.scoring.domain.facts import Tracked
from laurel.scoring.domain.policy import RULE_EVIDENCE, RULE_NAMES_MEASURES, RuleInForce


@dataclass(frozen=True)
class World:
    """The facts outside the nomination that its rules read."""

    registry: el.ComplianceRegistry
    hospital_nominations: Sequence[el.HospitalNomination]
    # The day look-back windows end on (`Context.lookback_day`); None where
    # the campaign declares no `lookback_reference` (no rule looks back).
    as_of: date | None


def _as_of(world: World, rule: str) -> date:
    if world.as_of is None:
        raise ValueError(f"rule {rule} looks back, and its campaign declares no "
                         "lookback_reference")
    return world.as_of


def evaluate(
    nomination: Tracked, rules: Sequence[RuleInForce], world: World, cause: str,
    only: Collection[str] | None = None,
) -> list[NewEvent]:
    """A verdict for each rule in force (or each of `only`), in the file's order."""
    return [_one(nomination, rule, world, cause) for rule in rules
            if only is None or rule.rule in only]


def changed_verdicts(
    state: el.NominationEligibility | None, verdicts: Sequence[NewEvent]
) -> list[NewEvent]:
    """Only verdicts that differ from the one on record for their rule."""
    return [v for v in verdicts if el.changes_verdict(state, v)]


def _one(nomination: Tracked, rule: RuleInForce, world: World, cause: str
         ) -> NewEvent:
    nid, params = nomination.nomination_id, rule.params
    if rule.rule == el.RULE_NO_COMPLAINT:
        return el.no_complaint_within(world.registry, nid, nomination.subject_ids(),
                                      params["years"], _as_of(world, rule.rule), cause)
    if rule.rule == el.RULE_NO_PENALTY:
        return el.no_penalty_within(world.registry, nid, nomination.subject_ids(),
                                    params["years"], _as_of(world, rule.rule), cause)
    if rule.rule == el.RULE_SELF_ASSESSMENT:
        return el.self_assessment_at_least(nid, nomination.self_assessment_total,
                                           params["min_total"], cause)
    if rule.rule == el.RULE_LIVE_BENCHMARK:
        return el.hospital_has_live_benchmark(
            nid, nomination.hospital_id, world.hospital_nominations,
            tuple(params["categories"]), cause)
    if rule.rule == RULE_NAMES_MEASURES:
        return names_measures(nid, nomination.fields, params["field"], params["min"],
                              cause)
    if rule.rule == RULE_EVIDENCE:
        return has_evidence(nid, nomination.evidence, params["kind"], params["min"],
                            cause)
    raise AssertionError(f"no evaluator for rule {rule.rule!r}")


def names_measures(nomination_id: str, fields: Mapping[str, str], field: str,
                   minimum: int, cause: str = "") -> NewEvent:
    picked = sorted({p.strip() for p in fields.get(field, "").split(",") if p.strip()})
    ok = len(picked) >= minimum
    reason = (f"the form names {len(picked)} of the ten measures "
              f"({', '.join(picked) or 'none'}); at least {minimum} required")
    return verdict(nomination_id, RULE_NAMES_MEASURES,
                   {"field": field, "min": minimum, "named": picked}, ok, reason, cause)


def has_evidence(nomination_id: str, evidence: Mapping[str, int], kind: str,
                 minimum: int, cause: str = "") -> NewEvent:
    count = evidence.get(kind, 0)
    ok = count >= minimum
    reason = (f"{count} evidence file(s) of kind {kind!r} attached; at least "
              f"{minimum} required")
    return verdict(nomination_id, RULE_EVIDENCE,
                   {"kind": kind, "min": minimum, "attached": count}, ok, reason,
                   cause)


def verdict(nomination_id: str, rule: str, parameters: Mapping[str, Any],
            eligible: bool, reason: str, cause: str) -> NewEvent:
    """The same payload as the domain's verdicts, for the rules defined here."""
    return NewEvent(el.VERDICT_RECORDED, {
        "nomination_id": nomination_id, "rule": rule,
        "parameters": dict(parameters),
        "decision": el.ELIGIBLE if eligible else el.INELIGIBLE, "reason": reason,
        "entries_seen": [], "entries_counted": [], "nominations_seen": [],
        "cause": cause,
    })
