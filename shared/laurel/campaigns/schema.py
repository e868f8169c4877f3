"""A campaign definition: what is nominated, on which form, under which rules,
scored how, by whom, and when.

Campaigns are data so that an organizer can run next year's campaign without
a release, and so that auditors can see, from the recorded definition and its
digest, exactly which rules were in force for a decision.

Who does what is part of the data (issue 16): the organizations that organize
and co-organize, which organizations nominate and along which route their
nominations travel to the organization that receives them, who reports in
stage 2, which acts each stage of the campaign clock permits, how each
category's nominations are panelled, and the day the look-back windows of
the eligibility rules end on. `laurel.campaigns.access` and
`laurel.campaigns.stages` answer the services' questions from it.

This is the second shape of a definition (`schema_version: 2`); the first,
recorded in CampaignDefined events before issue 16, is read through
`laurel.campaigns.upcast`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Literal
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
from laurel.campaigns.vocabulary import (
    ACTIONS,
    PRE_ISSUE_16_SPELLING,
    Action,
    NominatorKind,
    NomineeKind,
    ReceiverKind,
    ReportKind,
    canonical_nominee_kind,
)

if TYPE_CHECKING:
    from laurel.errors import FieldViolation

SCHEMA_VERSION = 2
Positive = Annotated[Decimal, Field(gt=0)]
NOMINATION_STAGE = "nomination"
LOOKBACK_RULES = ("no_complaint_within", "no_penalty_within")
OrganizationId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=100)]


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


class CategoryPanel(Checked):
    """Who scores each nomination of a category; exactly one of:

    - `mix`: so many reviewers of each panel group, for every nomination
      (henan-2021: 2 hospital managers, 2 industry experts, 1 from the media);
    - `one_group_of` and `reviewers`: the one group whose field the nomination
      is in scores it, with `reviewers` of its members (innovation-year: 医疗组,
      护理组, 医技组 or 管理组, by the project's nature);
    - `set_per_round`: the organizer names the mix when forming each round's
      panel. Only definitions recorded before panels were data say this.
    """

    mix: dict[Key, PositiveInt] = {}
    one_group_of: tuple[Key, ...] = ()
    reviewers: PositiveInt | None = None
    set_per_round: bool = False

    def problems(self) -> Iterable[Problem]:
        modes = [bool(self.mix), bool(self.one_group_of), self.set_per_round]
        if sum(modes) != 1:
            yield "", "give exactly one of mix, one_group_of (with reviewers), set_per_round"
        if bool(self.one_group_of) != (self.reviewers is not None):
            yield "reviewers", "one_group_of and reviewers go together"
        yield from duplicates(self.one_group_of, "one_group_of", "")

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(self.mix) or self.one_group_of

    def reviewers_by_group(self, group: str | None = None) -> dict[str, int]:
        """How many reviewers of which group score one nomination; for a
        one-group panel, of `group` (the group that fits the nomination)."""
        if self.mix:
            return dict(self.mix)
        if self.one_group_of and self.reviewers is not None:
            if group not in self.one_group_of:
                raise ValueError(f"the panel takes one of {self.one_group_of}, "
                                 f"not {group!r}")
            return {group: self.reviewers}
        return {}


# Category.form_fields by id(category), with the objects it was made from: the
# id of a category gone may be reused, but not while its `fields` tuple is held
# here, so an entry whose `fields` and `self_assessment` are the very objects
# of the category asking was made from them.
_FORM_FIELDS: OrderedDict[int, tuple[object, object, dict[str, FormField]]] = OrderedDict()
_FORM_FIELDS_KEPT = 256
_FORM_FIELDS_LOCK = threading.Lock()


class Category(Checked):
    key: Key
    name_zh: Label
    name_en: Label
    nominee_kinds: tuple[NomineeKind, ...] = Field(min_length=1)
    form_title_zh: Label | None = None
    fields: tuple[FormField, ...] = Field(min_length=1)
    self_assessment: SelfAssessment | None = None
    eligibility: tuple[EligibilityRule, ...] = ()
    quotas: tuple[Quota, ...] = ()
    scoring: ScoringRubric
    panel: CategoryPanel | None = None
    prize_tiers: tuple[PrizeTier, ...] = Field(min_length=1)

    @property
    def form_fields(self) -> dict[str, FormField]:
        """Every leaf field by dotted key, the self-assessment's included.

        Flattening copies every field (a pydantic copy each), and every
        submission normalizes its form twice through this: remembered, per
        category object, beside the very `fields` and `self_assessment`
        objects it was made from, never on the model itself (a copy made by
        `model_copy(update=...)` would carry it and describe the wrong form).
        A fresh dict each call; its FormFields are frozen."""
        key = id(self)
        with _FORM_FIELDS_LOCK:
            found = _FORM_FIELDS.get(key)
            if (found is not None and found[0] is self.fields
                    and found[1] is self.self_assessment):
                _FORM_FIELDS.move_to_end(key)
                return dict(found[2])
        flat = flatten(self.fields)
        if self.self_assessment is not None:
            flat.update(self.self_assessment.form_fields())
        with _FORM_FIELDS_LOCK:
            _FORM_FIELDS[key] = (self.fields, self.self_assessment, flat)
            while len(_FORM_FIELDS) > _FORM_FIELDS_KEPT:
                _FORM_FIELDS.popitem(last=False)
        return dict(flat)

    @property
    def nominee_kind(self) -> str:
        """The word services written before issue 16 compare a nominee's kind
        with: `hospital`, `measure`, `department`, `manager` or `project`.

        Kept only until every service reads `nominee_kinds` (through
        `accepts_nominee_kind`). A hospital nominated for one of the ten
        measures (附件2) was a `measure`; a ward was a `department`.
        """
        kind = self.nominee_kinds[0]
        if kind == "hospital" and self.rule("names_ten_measures") is not None:
            return "measure"
        return PRE_ISSUE_16_SPELLING.get(kind, kind)

    def accepts_nominee_kind(self, kind: str) -> bool:
        """Whether this category nominates a `kind` (old words read as in
        `laurel.campaigns.vocabulary`)."""
        return canonical_nominee_kind(kind) in self.nominee_kinds

    def normalize(self, fields: Mapping[str, str], *, partial: bool = False,
                  by: str = "nominator") -> tuple[dict[str, str], list[FieldViolation]]:
        """(canonical fields, violations): see `laurel.campaigns.forms.normalize_form`."""
        from laurel.campaigns.forms import normalize_form  # forms reads categories

        return normalize_form(self, fields, partial=partial, by=by)

    def rule(self, name: str) -> EligibilityRule | None:
        return next((r for r in self.eligibility if r.name == name), None)

    def quota(self, name: str) -> Quota | None:
        return next((q for q in self.quotas if q.name == name), None)

    def problems(self) -> Iterable[Problem]:
        yield from duplicates(self.nominee_kinds, "nominee_kinds", "")
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
    """Dates are whole days in the campaign's time zone, both inclusive.

    `permits` lists the acts the stage's dates govern (`vocabulary.Action`):
    outside every stage that permits an act, the act is refused
    (`laurel.campaigns.stages.require_stage`).
    """

    key: Key
    name_zh: Label
    name_en: Label
    start: date
    end: date
    permits: tuple[Action, ...] = ()

    def problems(self) -> Iterable[Problem]:
        if self.end < self.start:
            yield "end", f"{self.end} is before the start {self.start}"
        yield from duplicates(self.permits, "permits", "")


class LookbackReference(Frozen):
    """The day the look-back windows of the eligibility rules end on ("no
    complaint within three years"), inclusive: the first or last day of a
    stage. Henan: the last day of the expert evaluation, as the experts judge.
    """

    stage: Key
    day: Literal["first", "last"] = "last"


class PanelGroup(Frozen):
    """`reviewers_per_nomination`, where given, is the campaign's default mix
    for a category that declares no `panel`."""

    key: Key
    label_zh: Label
    label_en: Label
    weight: Positive = Decimal(1)
    reviewers_per_nomination: PositiveInt | None = None


class Receiver(Frozen):
    """An organization nominations are sent to: a provincial center, a
    hospital's own office (`within` its hospital), a commission."""

    organization_id: OrganizationId
    kind: ReceiverKind
    name_zh: Label
    name_en: Label
    within: OrganizationId | None = None


class Route(Checked):
    """The way a nominating organization's nominations travel.

    `provincial_level` narrows a hospital route to provincial-level hospitals
    (True) or to the others (False). `endorsed_by: local_commission`: the
    health commission of the hospital's jurisdiction (one of `endorser_kinds`)
    endorses, returns or forwards first; otherwise the nomination goes
    straight to `receiver`.
    """

    key: Key
    nominator_kinds: tuple[NominatorKind, ...] = Field(min_length=1)
    provincial_level: bool | None = None
    endorsed_by: Literal["local_commission"] | None = None
    endorser_kinds: tuple[Key, ...] = ()
    receiver: OrganizationId

    def problems(self) -> Iterable[Problem]:
        yield from duplicates(self.nominator_kinds, "nominator_kinds", "")
        if self.endorsed_by and not self.endorser_kinds:
            yield "endorser_kinds", "name the kinds of commission that endorse"
        if self.endorser_kinds and not self.endorsed_by:
            yield "endorser_kinds", "no endorser on a route that goes straight through"
        if self.provincial_level is not None and self.nominator_kinds != ("hospital",):
            yield "provincial_level", "only hospitals are provincial-level or not"

    def takes(self, kind: str, provincial_level: bool) -> bool:
        return kind in self.nominator_kinds and self.provincial_level in (
            None, provincial_level)


class Routing(Checked):
    """Who receives, and the route from each kind of nominator to them."""

    receivers: tuple[Receiver, ...] = Field(min_length=1)
    routes: tuple[Route, ...] = Field(min_length=1)

    def receiver(self, organization_id: str) -> Receiver | None:
        return next((r for r in self.receivers if r.organization_id == organization_id),
                    None)

    def problems(self) -> Iterable[Problem]:
        yield from duplicates((r.organization_id for r in self.receivers), "receivers",
                              ".organization_id")
        yield from duplicates((r.key for r in self.routes), "routes")
        for index, receiver in enumerate(self.receivers):
            if (receiver.kind == "hospital_office") != (receiver.within is not None):
                yield f"receivers[{index}].within", (
                    "a hospital's office names its hospital (within), nothing else does")
        ids = {r.organization_id for r in self.receivers}
        for index, route in enumerate(self.routes):
            if route.receiver not in ids:
                yield f"routes[{index}].receiver", f"no receiver {route.receiver!r}"
        for kind in sorted({k for r in self.routes for k in r.nominator_kinds}):
            for level in _levels(kind):
                taking = [r.key for r in self.routes if r.takes(kind, level)]
                if len(taking) > 1:
                    yield "routes", (f"a {kind} has {len(taking)} routes "
                                     f"({', '.join(taking)}); give it one")


def _levels(kind: str) -> tuple[bool, ...]:
    """Provincial-level or not: a distinction among hospitals only."""
    return (False, True) if kind == "hospital" else (False,)


class Nominators(Frozen):
    """Which organizations nominate: their kinds, and for a hospital's own
    campaign the hospital they belong to (`within`)."""

    kinds: tuple[NominatorKind, ...] = Field(min_length=1)
    within: OrganizationId | None = None


class Reporting(Frozen):
    """Stage 2: the organizations whose journalists (and the organization
    itself) attach interview articles and reports to nominations."""

    organization_ids: tuple[OrganizationId, ...] = Field(min_length=1)
    evidence_kinds: tuple[ReportKind, ...] = Field(min_length=1)


class Contact(Frozen):
    name: Label
    organization_zh: Label
    phone: str | None = None
    email: str | None = None
    address_zh: str | None = None


class CoOrganizer(Frozen):
    """An organization that co-organizes the stages it names: its organizers
    may do what those stages permit (henan-2021: the newspaper, in interviews
    and the expert evaluation)."""

    organization_id: OrganizationId
    name_zh: Label
    name_en: Label
    stages: tuple[Key, ...] = Field(min_length=1)


class Organizer(Frozen):
    name_zh: Label
    name_en: Label
    on_behalf_of_zh: Label | None = None
    on_behalf_of_en: Label | None = None
    contacts: tuple[Contact, ...] = ()
    # The organizations whose organizers run this campaign (receive, close
    # rounds, decide, publish, approve). Required: no list means nobody, never
    # "any organizer of the installation".
    organization_ids: tuple[OrganizationId, ...] = Field(min_length=1)
    co_organizers: tuple[CoOrganizer, ...] = ()


class CampaignDefinition(Checked):
    schema_version: Literal[2]
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
    lookback_reference: LookbackReference | None = None
    nominators: Nominators
    routing: Routing
    reporting: Reporting | None = None
    approval_required: tuple[Key, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def category(self, key: str) -> Category | None:
        return next((c for c in self.categories if c.key == key), None)

    def stage(self, key: str) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)

    def stages_permitting(self, action: str) -> tuple[Stage, ...]:
        return tuple(s for s in self.stages if action in s.permits)

    def stage_window(self, key: str) -> tuple[datetime, datetime] | None:
        """First and last moment of the stage, aware, in the campaign's zone."""
        stage = self.stage(key)
        if stage is None:
            return None
        first = datetime.combine(stage.start, time.min, self.zone)
        last = datetime.combine(stage.end, time.max, self.zone)
        return first, last

    def stage_open(self, key: str, now: datetime) -> bool:
        """`now` must be timezone-aware: a naive time has no day to fall in."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        window = self.stage_window(key)
        return window is not None and window[0] <= now <= window[1]

    def lookback_reference_date(self) -> date | None:
        """The day the look-back windows end on (`lookback_reference`)."""
        reference = self.lookback_reference
        stage = self.stage(reference.stage) if reference else None
        if reference is None or stage is None:
            return None
        return stage.end if reference.day == "last" else stage.start

    def panel_for(self, category_key: str) -> CategoryPanel | None:
        """The category's `panel`, else the campaign's default mix (the panel
        groups' `reviewers_per_nomination`), else None."""
        category = self.category(category_key)
        if category is None:
            return None
        if category.panel is not None:
            return category.panel
        mix = {g.key: g.reviewers_per_nomination for g in self.panel_groups
               if g.reviewers_per_nomination}
        return CategoryPanel(mix=mix) if mix else None

    def co_organizer(self, organization_id: str) -> CoOrganizer | None:
        return next((c for c in self.organizer.co_organizers
                     if c.organization_id == organization_id), None)

    def problems(self) -> Iterable[Problem]:
        yield from duplicates((m.key for m in self.measures), "measures")
        yield from duplicates((c.key for c in self.categories), "categories")
        yield from duplicates((g.key for g in self.panel_groups), "panel_groups")
        yield from duplicates((s.key for s in self.stages), "stages")
        yield from duplicates(self.approval_required, "approval_required", "")
        if self.stage(NOMINATION_STAGE) is None:
            yield "stages", (f"no {NOMINATION_STAGE!r} stage: it is the window in "
                             "which nominations are accepted")
        if not self.stages_permitting("submit"):
            yield "stages", "no stage permits submit: nominations could never be made"
        for index, stage in enumerate(self.stages):
            if stage.key in ACTIONS:
                yield f"stages[{index}].key", (f"{stage.key!r} names an act; a stage "
                                               "needs a name of its own")
        for index, category in enumerate(self.categories):
            for path, message in self._references(category):
                yield join_path(f"categories[{index}]", path), message
        yield from self._lookback_problems()
        yield from self._organizer_problems()
        yield from self._routing_problems()
        yield from self._reporting_problems()

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
        yield from self._panel_problems(category, groups)
        yield from self._measure_references(category)

    def _panel_problems(self, category: Category, groups: set[str]) -> Iterable[Problem]:
        if category.panel is None:
            if self.panel_for(category.key) is None:
                yield "panel", ("who scores these nominations? Give the category a "
                                "panel, or the panel groups reviewers_per_nomination")
            return
        for group in category.panel.groups:
            if group not in groups:
                yield "panel", f"no panel group {group!r}"

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

    def _lookback_problems(self) -> Iterable[Problem]:
        reference = self.lookback_reference
        if reference is not None and self.stage(reference.stage) is None:
            yield "lookback_reference.stage", f"no stage {reference.stage!r}"
        looking_back = [c.key for c in self.categories
                        if any(r.name in LOOKBACK_RULES for r in c.eligibility)]
        if looking_back and reference is None:
            yield "lookback_reference", (
                f"{', '.join(looking_back)} look back some years: say which day the "
                "windows end on ({stage: ..., day: last})")

    def _organizer_problems(self) -> Iterable[Problem]:
        organizer = self.organizer
        yield from duplicates(organizer.organization_ids,
                              "organizer.organization_ids", "")
        yield from duplicates((c.organization_id for c in organizer.co_organizers),
                              "organizer.co_organizers", ".organization_id")
        for index, co in enumerate(organizer.co_organizers):
            where = f"organizer.co_organizers[{index}]"
            if co.organization_id in organizer.organization_ids:
                yield f"{where}.organization_id", "already an organizer"
            for n, key in enumerate(co.stages):
                if self.stage(key) is None:
                    yield f"{where}.stages[{n}]", f"no stage {key!r}"

    def _routing_problems(self) -> Iterable[Problem]:
        kinds = set(self.nominators.kinds)
        for index, route in enumerate(self.routing.routes):
            for n, kind in enumerate(route.nominator_kinds):
                if kind not in kinds:
                    yield (f"routing.routes[{index}].nominator_kinds[{n}]",
                           f"a {kind} does not nominate in this campaign (nominators)")
        for kind in self.nominators.kinds:
            for level in _levels(kind):
                if not any(r.takes(kind, level) for r in self.routing.routes):
                    which = ("provincial-level " if level else "other ") if (
                        kind == "hospital") else ""
                    yield "routing.routes", f"no route for a {which}{kind}'s nominations"

    def _reporting_problems(self) -> Iterable[Problem]:
        stages = self.stages_permitting("attach_report")
        if self.reporting is None and stages:
            yield "reporting", (f"{stages[0].key} permits attach_report: say who "
                                "reports (organization_ids, evidence_kinds)")
        if self.reporting is not None and not stages:
            yield "reporting", "no stage permits attach_report"
