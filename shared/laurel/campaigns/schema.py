"""A campaign definition: what is nominated, on which form, under which rules,
scored how, by whom, and when.

Campaigns are data so that an organizer can run next year's campaign without
a release, and so that auditors can see, from the recorded definition and its
digest, exactly which rules were in force for a decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PositiveInt, field_validator

from laurel.campaigns.base import (
    Checked,
    Frozen,
    Key,
    Label,
    Problem,
    duplicates,
    join_path,
)
from laurel.campaigns.fields import Choice, FormField, SelfAssessment, flatten
from laurel.campaigns.rules import EligibilityRule, NamesTenMeasures, Quota

NomineeKind = Literal["hospital", "measure", "department", "manager", "project"]
Positive = Annotated[Decimal, Field(gt=0)]
NOMINATION_STAGE = "nomination"


class Criterion(Frozen):
    key: Key
    label_zh: Label
    label_en: Label
    max_points: PositiveInt
    weight: Positive = Decimal(1)


class ScoringRubric(Checked):
    """What expert reviewers score; a panel group may use its own criteria.

    `max_total` is the sum of weight x max_points, declared so that a typo in
    a weight shows up as a mismatch instead of a silently different scale.
    """

    max_total: Positive
    criteria: tuple[Criterion, ...] = Field(min_length=1)
    by_group: dict[Key, tuple[Criterion, ...]] = {}

    def problems(self) -> Iterable[Problem]:
        sets = {"criteria": self.criteria}
        sets.update({f"by_group.{g}": c for g, c in self.by_group.items()})
        for where, criteria in sets.items():
            yield from duplicates((c.key for c in criteria), where)
            total = sum(c.weight * c.max_points for c in criteria)
            if total != self.max_total:
                yield where, (f"weight x max_points adds up to {total}, not to "
                              f"max_total {self.max_total}")


class PrizeTier(Checked):
    """Awarded to the best `count`, or to every score of `min_score` or more,
    or to the best `count` among those reaching `min_score`."""

    key: Key
    label_zh: Label
    label_en: Label
    count: PositiveInt | None = None
    min_score: Annotated[Decimal, Field(ge=0)] | None = None

    def problems(self) -> Iterable[Problem]:
        if self.count is None and self.min_score is None:
            yield "count", "a tier needs a count, a min_score, or both"


class Category(Checked):
    key: Key
    name_zh: Label
    name_en: Label
    nominee_kind: NomineeKind
    form_title_zh: Label | None = None
    fields: tuple[FormField, ...] = Field(min_length=1)
    self_assessment: SelfAssessment | None = None
    eligibility: tuple[EligibilityRule, ...] = ()
    quotas: tuple[Quota, ...] = ()
    scoring: ScoringRubric
    prize_tiers: tuple[PrizeTier, ...] = Field(min_length=1)

    @property
    def form_fields(self) -> dict[str, FormField]:
        """Every leaf field by dotted key, the self-assessment's included.

        Recomputed on each call (a few dozen fields): a cached copy would
        survive `model_copy(update=...)` and describe the wrong form.
        """
        flat = flatten(self.fields)
        if self.self_assessment is not None:
            flat.update(self.self_assessment.form_fields())
        return flat

    def rule(self, name: str) -> EligibilityRule | None:
        return next((r for r in self.eligibility if r.name == name), None)

    def quota(self, name: str) -> Quota | None:
        return next((q for q in self.quotas if q.name == name), None)

    def problems(self) -> Iterable[Problem]:
        yield from duplicates((f.key for f in self.fields), "fields")
        yield from duplicates((r.name for r in self.eligibility), "eligibility",
                              ".name")
        yield from duplicates((q.name for q in self.quotas), "quotas", ".name")
        yield from duplicates((t.key for t in self.prize_tiers), "prize_tiers")
        yield from self._self_assessment_problems()
        for index, rule in enumerate(self.eligibility):
            if rule.name == "names_ten_measures":
                yield from self._measures_rule_problems(index, rule)

    def _self_assessment_problems(self) -> Iterable[Problem]:
        rubric = self.self_assessment
        for index, rule in enumerate(self.eligibility):
            if rule.name != "self_assessment_threshold":
                continue
            where = f"eligibility[{index}].params.min_total"
            if rubric is None:
                yield where, "the category has no self_assessment rubric to score"
            elif rule.params.min_total != rubric.threshold:
                yield where, (f"{rule.params.min_total} differs from the rubric's "
                              f"threshold {rubric.threshold}")
        if rubric is not None:
            clash = [i for i, f in enumerate(self.fields)
                     if f.key == rubric.field_prefix]
            for index in clash:
                yield f"fields[{index}].key", (
                    f"{rubric.field_prefix!r} is where the self-assessment items go")

    def _measures_rule_problems(
        self, index: int, rule: NamesTenMeasures
    ) -> Iterable[Problem]:
        field = self.form_fields.get(rule.params.field)
        where = f"eligibility[{index}].params"
        if field is None or field.type != "multichoice":
            yield f"{where}.field", (f"{rule.params.field!r} is not a multichoice "
                                     "field of this form")
        elif rule.params.min > len(field.choices):
            yield f"{where}.min", f"the field offers only {len(field.choices)}"


class Stage(Checked):
    """Dates are whole days in the campaign's time zone, both inclusive."""

    key: Key
    name_zh: Label
    name_en: Label
    start: date
    end: date

    def problems(self) -> Iterable[Problem]:
        if self.end < self.start:
            yield "end", f"{self.end} is before the start {self.start}"


class PanelGroup(Frozen):
    key: Key
    label_zh: Label
    label_en: Label
    weight: Positive = Decimal(1)
    reviewers_per_nomination: PositiveInt | None = None


class Routing(Checked):
    """Where a submitted nomination goes before it reaches the organizer."""

    mode: Literal["via_local_commission", "direct_to_organizer"]
    receiver_id: str
    receiver_zh: Label
    receiver_en: Label
    endorser_kinds: tuple[Key, ...] = ()
    direct_submitters: tuple[Key, ...] = ()

    def problems(self) -> Iterable[Problem]:
        if self.mode == "via_local_commission" and not self.endorser_kinds:
            yield "endorser_kinds", "name the kinds of commission that endorse"
        if self.mode == "direct_to_organizer" and self.endorser_kinds:
            yield "endorser_kinds", "no endorser when nominations go direct"


class Contact(Frozen):
    name: Label
    organization_zh: Label
    phone: str | None = None
    email: str | None = None
    address_zh: str | None = None


OrganizationId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=100)]


class Organizer(Frozen):
    name_zh: Label
    name_en: Label
    on_behalf_of_zh: Label | None = None
    on_behalf_of_en: Label | None = None
    contacts: tuple[Contact, ...] = ()
    # The organizations whose organizers run this campaign (close rounds,
    # decide, publish, approve); empty: any organizer of the installation.
    organization_ids: tuple[OrganizationId, ...] = ()


class CampaignDefinition(Checked):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
    version: PositiveInt
    name_zh: Label
    name_en: Label
    organizer: Organizer
    issued: date | None = None
    timezone: str = "Asia/Shanghai"
    measures: tuple[Choice, ...] = ()
    categories: tuple[Category, ...] = Field(min_length=1)
    panel_groups: tuple[PanelGroup, ...] = Field(min_length=1)
    stages: tuple[Stage, ...] = Field(min_length=1)
    routing: Routing
    approval_required: tuple[Key, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    def category(self, key: str) -> Category | None:
        return next((c for c in self.categories if c.key == key), None)

    def stage(self, key: str) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)

    def stage_window(self, key: str) -> tuple[datetime, datetime] | None:
        """First and last moment of the stage, aware, in the campaign's zone."""
        stage = self.stage(key)
        if stage is None:
            return None
        zone = ZoneInfo(self.timezone)
        first = datetime.combine(stage.start, time.min, zone)
        last = datetime.combine(stage.end, time.max, zone)
        return first, last

    def stage_open(self, key: str, now: datetime) -> bool:
        """`now` must be timezone-aware: a naive time has no day to fall in."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        window = self.stage_window(key)
        return window is not None and window[0] <= now <= window[1]

    def problems(self) -> Iterable[Problem]:
        yield from duplicates((m.key for m in self.measures), "measures")
        yield from duplicates((c.key for c in self.categories), "categories")
        yield from duplicates((g.key for g in self.panel_groups), "panel_groups")
        yield from duplicates((s.key for s in self.stages), "stages")
        yield from duplicates(self.approval_required, "approval_required", "")
        if self.stage(NOMINATION_STAGE) is None:
            yield "stages", (f"no {NOMINATION_STAGE!r} stage: it is the window in "
                             "which nominations are accepted")
        for index, category in enumerate(self.categories):
            for path, message in self._references(category):
                yield join_path(f"categories[{index}]", path), message

    def _references(self, category: Category) -> Iterable[Problem]:
        """What a category names elsewhere in the campaign must exist."""
        keys = {c.key for c in self.categories}
        for index, rule in enumerate(category.eligibility):
            if rule.name != "requires_live_nomination":
                continue
            for n, key in enumerate(rule.params.categories):
                where = f"eligibility[{index}].params.categories[{n}]"
                if key not in keys:
                    yield where, f"no category {key!r} in this campaign"
                elif key == category.key:
                    yield where, "a category cannot require itself"
        groups = {g.key for g in self.panel_groups}
        for group in category.scoring.by_group:
            if group not in groups:
                yield f"scoring.by_group.{group}", f"no panel group {group!r}"
        yield from self._measure_references(category)

    def _measure_references(self, category: Category) -> Iterable[Problem]:
        measures = {m.key: m for m in self.measures}
        rubric = category.self_assessment
        for index, item in enumerate(rubric.items if rubric else ()):
            measure = measures.get(item.measure) if item.measure else None
            where = f"self_assessment.items[{index}]"
            if item.measure and measure is None:
                yield f"{where}.measure", f"no measure {item.measure!r}"
            elif measure and measure.label_zh != item.name_zh:
                yield f"{where}.name_zh", (f"the measure {measure.key!r} is called "
                                           f"{measure.label_zh!r}")
