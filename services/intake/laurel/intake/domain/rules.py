"""The campaign's rules that intake enforces, at the moment each applies.

Pure: the handlers gather the facts (the campaign clock, the hospital's
live nominations) and these functions say yes, or refuse with the rule's name
and a reason a nominator can act on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from laurel.errors import FailedPrecondition, FieldViolation
from laurel.intake.domain.commands import Nominee


class CategoryPolicy(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def nominee_kind(self) -> str: ...

    def validate(self, fields: Mapping[str, str], *, partial: bool = False
                 ) -> list[FieldViolation]: ...
    def normalize(self, fields: Mapping[str, str], *, partial: bool = False
                  ) -> tuple[dict[str, str], list[FieldViolation]]: ...
    def self_assessment_total(self, fields: Mapping[str, str]) -> int | None: ...
    def self_assessment_threshold(self) -> int | None: ...
    def live_quota(self) -> int | None: ...
    def required_live_categories(self) -> list[str]: ...


class CampaignPolicy(Protocol):
    @property
    def campaign_id(self) -> str: ...

    def stage_open(self, stage: str, now: datetime) -> bool: ...
    def stage_window(self, stage: str) -> tuple[datetime, datetime] | None: ...


@dataclass(frozen=True)
class HospitalFacts:
    """The hospital's live nominations per category, this one excluded."""

    live_by_category: Mapping[str, int]

    def live_in(self, categories: Iterable[str]) -> int:
        return sum(self.live_by_category.get(c, 0) for c in categories)


def nominee_violations(nominee: Nominee, category: CategoryPolicy) -> list[FieldViolation]:
    found = []
    if not nominee.name.strip():
        found.append(FieldViolation("nominee.name", "the nominee's name is required"))
    if not nominee.organization_id.strip():
        found.append(FieldViolation("nominee.organization_id",
                                    "the nominating organization is required"))
    if nominee.kind != category.nominee_kind:
        found.append(FieldViolation(
            "nominee.kind",
            f"category {category.key} nominates a {category.nominee_kind!r}, "
            f"not {nominee.kind!r}"))
    return found


def check_stage_open(campaign: CampaignPolicy, now: datetime, subject: str) -> None:
    if campaign.stage_open("nomination", now):
        return
    window = campaign.stage_window("nomination")
    span = f"{window[0]:%Y-%m-%d} to {window[1]:%Y-%m-%d}" if window else "not defined"
    raise FailedPrecondition(
        "stage_window",
        f"nominations for {campaign.campaign_id} are accepted {span}; the campaign "
        f"clock says {now:%Y-%m-%d %H:%M} UTC",
        subject,
    )


def check_self_assessment(category: CategoryPolicy, total: int | None, subject: str) -> None:
    threshold = category.self_assessment_threshold()
    if threshold is None:
        return
    if total is None or total < threshold:
        raise FailedPrecondition(
            "self_assessment_threshold",
            f"the self-assessment under the ten-measures rubric totals {total or 0} "
            f"points; category {category.key} needs at least {threshold}",
            subject,
        )


def check_live_quota(category: CategoryPolicy, facts: HospitalFacts, subject: str) -> None:
    quota = category.live_quota()
    if quota is None:
        return
    live = facts.live_in([category.key])
    if live >= quota:
        raise FailedPrecondition(
            "per_hospital_alive",
            f"the hospital already has {live} live {category.key} nomination(s); "
            f"at most {quota} may be alive at once",
            subject,
        )


def check_required_live(category: CategoryPolicy, facts: HospitalFacts, subject: str) -> None:
    required = category.required_live_categories()
    if required and facts.live_in(required) == 0:
        raise FailedPrecondition(
            "requires_live_nomination",
            f"a {category.key} nomination needs a live nomination of the same "
            f"hospital in {' or '.join(required)} first",
            subject,
        )


def check_submission(
    campaign: CampaignPolicy, category: CategoryPolicy, total: int | None,
    facts: HospitalFacts, now: datetime, subject: str,
) -> None:
    """Every rule a submission must pass beyond well-formed fields, in seed order."""
    check_stage_open(campaign, now, subject)
    check_self_assessment(category, total, subject)
    check_live_quota(category, facts, subject)
    check_required_live(category, facts, subject)


def dependants_losing_support(
    categories: Iterable[CategoryPolicy], withdrawn_category: str, facts: HospitalFacts
) -> list[CategoryPolicy]:
    """Categories whose required live nomination is gone once one is withdrawn."""
    return [
        c for c in categories
        if withdrawn_category in c.required_live_categories()
        and facts.live_in(c.required_live_categories()) == 0
    ]
