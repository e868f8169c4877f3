"""What a campaign definition says about review: criteria, panel mix, tiers.

Pure: reads a `laurel.campaigns` definition; review never hard-codes a
campaign's groups or criteria.
"""

from __future__ import annotations

from decimal import Decimal

from laurel.campaigns import CampaignDefinition, Category
from laurel.errors import FieldViolation, InvalidArgument


def category_of(definition: CampaignDefinition, key: str) -> Category:
    category = definition.category(key)
    if category is None:
        raise InvalidArgument(
            f"campaign {definition.id!r} has no category {key!r}",
            [FieldViolation("category", "expected one of "
                                        f"{[c.key for c in definition.categories]}")])
    return category


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
