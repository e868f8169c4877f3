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


def groups(definition: CampaignDefinition) -> list[str]:
    return [g.key for g in definition.panel_groups]


def tier_keys(definition: CampaignDefinition, category_key: str) -> list[str]:
    return [t.key for t in category_of(definition, category_key).prize_tiers]


def panel_mix(definition: CampaignDefinition, category_key: str,
              asked: Mapping[str, int]) -> dict[str, int]:
    """Reviewers per nominee and group, as the category's panel says
    (`CampaignDefinition.panel_for`):

    - a fixed `mix` (henan-2021: 2 managers, 2 experts, 1 media) is the
      panel's; asking for another is refused, naming it;
    - `one_group_of` (innovation-year: the medical, nursing, medical
      technology or management group): the organizer names the one group
      that fits the round's projects (`{"nursing": 0}` or with the
      definition's number of reviewers);
    - `set_per_round` (definitions recorded before panels were data): the
      mix asked for, of groups the campaign has.
    """
    panel = definition.panel_for(category_key)
    known = groups(definition)
    if panel is None or panel.set_per_round:
        if not asked:
            raise InvalidArgument("the campaign sets no panel size; give the mix",
                                  [FieldViolation("mix", "reviewers per group, e.g. "
                                                         f"{{{known[0]!r}: 3}}")])
        unknown = [g for g in asked if g not in known]
        if unknown:
            raise InvalidArgument("the mix names groups the campaign does not have", [
                FieldViolation(f"mix[{g}]", f"expected one of {known}") for g in unknown])
        return dict(asked)
    if panel.mix:
        if asked and dict(asked) != dict(panel.mix):
            raise InvalidArgument(
                f"{definition.id} sets the panel of {category_key}: "
                f"{_mix_text(panel.mix)}", [FieldViolation(
                    "mix", f"leave it empty, or give {dict(panel.mix)}")])
        return dict(panel.mix)
    named = list(asked)
    reviewers = panel.reviewers or 0
    if len(named) != 1 or named[0] not in panel.one_group_of or \
            asked[named[0]] not in (0, reviewers):
        raise InvalidArgument(
            f"in {definition.id} one group scores a {category_key} project, with "
            f"{reviewers} of its members: name the group that fits it",
            [FieldViolation("mix", f"one of {list(panel.one_group_of)}, e.g. "
                                   f"{{{panel.one_group_of[0]!r}: {reviewers}}}")])
    return panel.reviewers_by_group(named[0])


def _mix_text(mix: Mapping[str, int]) -> str:
    return ", ".join(f"{n} of {g}" for g, n in mix.items())
