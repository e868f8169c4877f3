"""What a campaign definition asks of scoring, in the pure domain's terms.

The definition is data written by people (`laurel.campaigns`); the domain
modules take plain values. This module is the one translation between them, so
that a verdict or a result can name the rule and the parameters in force, and a
changed definition changes exactly what it says.

Pure: the definition and today's date are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from laurel.campaigns.lookup import category_of
from laurel.campaigns.schema import CampaignDefinition
from laurel.envelope import canonical_json
from laurel.scoring.domain import eligibility as el
from laurel.scoring.domain.aggregation import (
    DEFAULT_TIE_BREAK,
    AggregationPolicy,
    Criterion,
    Rubric,
)
from laurel.scoring.domain.ranking import PrizeTier, ResultPolicy

RULE_NAMES_MEASURES = "names_ten_measures"
RULE_EVIDENCE = "requires_evidence"

# The campaign's rule names -> the names verdicts carry (the domain's).
DOMAIN_RULE = {
    "self_assessment_threshold": el.RULE_SELF_ASSESSMENT,
    "no_complaint_within": el.RULE_NO_COMPLAINT,
    "no_penalty_within": el.RULE_NO_PENALTY,
    "requires_live_nomination": el.RULE_LIVE_BENCHMARK,
    "names_ten_measures": RULE_NAMES_MEASURES,
    "requires_evidence": RULE_EVIDENCE,
}
# The day "within N years" rules judge on is the definition's declared
# `lookback_reference`, capped by the campaign clock: `Context.lookback_day`.


@dataclass(frozen=True)
class RuleInForce:
    """One eligibility rule of a category: the verdict's name, the file's params."""

    rule: str
    params: Mapping[str, Any]


def rules_for(definition: CampaignDefinition, category_key: str
              ) -> tuple[RuleInForce, ...]:
    category = definition.category(category_key)
    if category is None:
        return ()
    return tuple(RuleInForce(DOMAIN_RULE[r.name], r.params.model_dump(mode="json"))
                 for r in category.eligibility)


def benchmark_categories(definitions: Iterable[CampaignDefinition]) -> tuple[str, ...]:
    """Every category some `requires_live_nomination` rule depends on."""
    found: set[str] = set()
    for definition in definitions:
        for category in definition.categories:
            for rule in category.eligibility:
                if rule.name == "requires_live_nomination":
                    found.update(rule.params.categories)
    return tuple(sorted(found))


def eligibility_signature(definition: CampaignDefinition | None, category_key: str
                          ) -> str:
    """What eligibility of a category depends on in the definition, as text."""
    category = definition.category(category_key) if definition else None
    if category is None:
        return ""
    rubric = category.self_assessment
    return canonical_json({
        "eligibility": [r.model_dump(mode="json") for r in category.eligibility],
        "self_assessment": rubric.model_dump(mode="json") if rubric else None,
    })


def amended_categories(before: CampaignDefinition | None,
                       after: CampaignDefinition) -> list[str]:
    """Categories whose eligibility rules or self-assessment rubric changed."""
    return [c.key for c in after.categories
            if eligibility_signature(before, c.key) != eligibility_signature(
                after, c.key)]


def aggregation_policy(definition: CampaignDefinition, category_key: str
                       ) -> AggregationPolicy:
    """The category's rubric (per group where set) and the panel groups' weights.

    Trimming and normalization keep the domain's defaults (trim one highest
    and one lowest from five reviews; no normalization): the definitions do
    not set them.
    """
    scoring = category_of(definition, category_key).scoring
    rubric = Rubric(_criteria(scoring.criteria),
                    {g: _criteria(c) for g, c in scoring.by_group.items()})
    weights = {g.key: Fraction(g.weight) for g in definition.panel_groups}
    return AggregationPolicy(rubric, weights)


def result_policy(definition: CampaignDefinition, category_key: str,
                  tie_break: tuple[str, ...] = DEFAULT_TIE_BREAK) -> ResultPolicy:
    category = category_of(definition, category_key)
    tiers = tuple(
        PrizeTier(t.key, t.count,
                  None if t.min_score is None else Fraction(t.min_score))
        for t in category.prize_tiers)
    return ResultPolicy(tiers=tiers, tie_break=tie_break)


def _criteria(criteria: Iterable[Any]) -> tuple[Criterion, ...]:
    return tuple(Criterion(c.key, Fraction(c.max_points), Fraction(c.weight))
                 for c in criteria)
