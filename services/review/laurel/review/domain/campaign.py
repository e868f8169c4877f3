"""What a campaign definition says about review: criteria, panel mix, tiers.

Pure: reads a `laurel.campaigns` definition; review never hard-codes a
campaign's groups or criteria.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from laurel.campaigns.in_force import category_of
from laurel.campaigns.schema import CampaignDefinition
from laurel.errors import FieldViolation, InvalidArgument


def criteria(definition: CampaignDefinition, category_key: str
             ) -> dict[str, Decimal]:
    """The round's form: each criterion of the category's rubric and its maximum.

    A rubric with criteria per panel group (`by_group`) has no single form;
    the shared criteria are used, which is what every shipped campaign has.
    """
    rubric = category_of(definition, category_key).scoring
    return {c.key: Decimal(c.max_points) for c in rubric.criteria}


def labels(definition: CampaignDefinition, category_key: str
           ) -> dict[str, tuple[str, str]]:
    rubric = category_of(definition, category_key).scoring
    return {c.key: (c.label_zh, c.label_en) for c in rubric.criteria}


def default_mix(definition: CampaignDefinition) -> dict[str, int]:
    """Reviewers per nominee and group, where the campaign sets them."""
    return {g.key: g.reviewers_per_nomination for g in definition.panel_groups
            if g.reviewers_per_nomination}


def groups(definition: CampaignDefinition) -> list[str]:
    return [g.key for g in definition.panel_groups]


def tier_keys(definition: CampaignDefinition, category_key: str) -> list[str]:
    return [t.key for t in category_of(definition, category_key).prize_tiers]


def panel_mix(definition: CampaignDefinition, asked: Mapping[str, int]) -> dict[str, int]:
    """Reviewers per nominee and group: the mix asked for, else the campaign's;
    either way only groups the campaign has."""
    mix = dict(asked) or default_mix(definition)
    known = groups(definition)
    if not mix:
        raise InvalidArgument("the campaign sets no panel size; give the mix",
                              [FieldViolation("mix", "reviewers per group, e.g. "
                                                     f"{{{known[0]!r}: 3}}")])
    unknown = [g for g in mix if g not in known]
    if unknown:
        raise InvalidArgument("the mix names groups the campaign does not have", [
            FieldViolation(f"mix[{g}]", f"expected one of {known}") for g in unknown])
    return mix
