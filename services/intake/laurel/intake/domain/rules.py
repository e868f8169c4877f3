"""The campaign's rules that intake enforces, at the moment each applies.

Pure: the handlers gather the facts (the campaign clock, the hospital's
live nominations) and these functions say yes, or refuse with the rule's name
and a reason a nominator can act on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from laurel.campaigns.vocabulary import canonical_nominee_kind
from laurel.errors import FailedPrecondition, FieldViolation
from laurel.intake.domain.commands import Nominee

# Nominee kinds that are organizations: such a nominee is its organization.
ORGANIZATION_KINDS = ("hospital", "department", "ward")


class CategoryPolicy(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def nominee_kinds(self) -> tuple[str, ...]: ...

    def accepts_nominee_kind(self, kind: str) -> bool: ...

    def validate(self, fields: Mapping[str, str], *, partial: bool = False
                 ) -> list[FieldViolation]: ...
    def normalize(self, fields: Mapping[str, str], *, partial: bool = False
                  ) -> tuple[dict[str, str], list[FieldViolation]]: ...
    def self_assessment_total(self, fields: Mapping[str, str]) -> int | None: ...
    def self_assessment_threshold(self) -> int | None: ...
    def live_quota(self) -> int | None: ...
    def required_live_categories(self) -> list[str]: ...


@dataclass(frozen=True)
class HospitalFacts:
    """The hospital's live nominations per category, this one excluded."""

    live_by_category: Mapping[str, int]

    def live_in(self, categories: Iterable[str]) -> int:
        return sum(self.live_by_category.get(c, 0) for c in categories)


def nominee_violations(nominee: Nominee, category: CategoryPolicy,
                       organization_kind: str = "") -> list[FieldViolation]:
    """What is wrong with the nominee: a missing name or organization, a kind
    the category does not nominate, or an organization registered as another
    kind than the nominee is said to be (a ward nominated as a department)."""
    found = []
    if not nominee.name.strip():
        found.append(FieldViolation("nominee.name", "the nominee's name is required"))
    if not nominee.organization_id.strip():
        found.append(FieldViolation("nominee.organization_id",
                                    "the nominating organization is required"))
    kinds = category.nominee_kinds
    if not category.accepts_nominee_kind(nominee.kind):
        found.append(FieldViolation(
            "nominee.kind",
            f"category {category.key} nominates {' or '.join(repr(k) for k in kinds)}, "
            f"not {nominee.kind!r}"))
    elif _misnamed(canonical_nominee_kind(nominee.kind) or "", organization_kind):
        found.append(FieldViolation(
            "nominee.kind",
            f"{nominee.organization_id} is registered as a {organization_kind}, not as "
            f"a {canonical_nominee_kind(nominee.kind)}; nominate it as what it is"))
    return found


def _misnamed(kind: str, organization_kind: str) -> bool:
    """A hospital, department or ward nominee whose organization is registered
    as another of those (a hospital may name one of its departments or wards
    that is not registered: its own id stands for it)."""
    if kind not in ORGANIZATION_KINDS or organization_kind not in ORGANIZATION_KINDS:
        return False
    named_by_hospital = organization_kind == "hospital" and kind in ("department", "ward")
    return kind != organization_kind and not named_by_hospital


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
    category: CategoryPolicy, total: int | None, facts: HospitalFacts, subject: str,
) -> None:
    """Every rule a submission must pass beyond well-formed fields and the
    stage (checked first, by the handler), in seed order."""
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
