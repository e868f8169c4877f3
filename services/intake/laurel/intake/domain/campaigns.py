"""The campaigns intake enforces: their definitions, their record in the log,
and the campaign clock.

`CampaignRules`/`CategoryRules` are an adapter over `laurel.campaigns`:
intake's rules ask narrow questions (the threshold, the quota, the
categories a leader's hospital needs) and these answer them from the
definition, so the rules stay free of the definition's shape.

Each definition is recorded in stream `campaign-<id>` (CampaignDefined, then
CampaignAmended whenever the file's digest differs from the last one
recorded), so the rules in force at any moment can be replayed; scoring and
review read those events. The campaign clock (stream `campaign-clock-<id>`)
lets a demonstration or a test move a campaign's "now" in development only,
each move an audited event; without one the wall clock rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from laurel.campaigns import (
    CampaignDefinition,
    Category,
    campaign_from_data,
    definition_digest,
    normalize_form,
    self_assessment_total,
    validate_form,
)
from laurel.campaigns.access import require_organizer_of
from laurel.campaigns.rules import RequiresLiveNomination, SelfAssessmentThreshold
from laurel.envelope import Actor, Aggregate, NewEvent, RecordedEvent, counted_by
from laurel.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from laurel.intake.domain import events


@dataclass(frozen=True)
class CategoryRules:
    definition: Category

    @property
    def key(self) -> str:
        return self.definition.key

    @property
    def nominee_kinds(self) -> tuple[str, ...]:
        return tuple(self.definition.nominee_kinds)

    def accepts_nominee_kind(self, kind: str) -> bool:
        return self.definition.accepts_nominee_kind(kind)

    def validate(self, fields: Mapping[str, str], *, partial: bool = False
                 ) -> list[FieldViolation]:
        return validate_form(self.definition, dict(fields), partial=partial)

    def normalize(self, fields: Mapping[str, str], *, partial: bool = False
                  ) -> tuple[dict[str, str], list[FieldViolation]]:
        """(the fields in canonical form, every violation): what intake stores
        is the canonical form (`laurel.normalize`), never what was typed. A
        blank value is "" (it clears the field in a change)."""
        return normalize_form(self.definition, dict(fields), partial=partial)

    def self_assessment_total(self, fields: Mapping[str, str]) -> int | None:
        if self.definition.self_assessment is None:
            return None
        return self_assessment_total(self.definition, fields)

    def self_assessment_threshold(self) -> int | None:
        rule = self.definition.rule("self_assessment_threshold")
        return rule.params.min_total if isinstance(rule, SelfAssessmentThreshold) else None

    def live_quota(self) -> int | None:
        quota = self.definition.quota("per_hospital_alive")
        return None if quota is None else quota.params.max

    def required_live_categories(self) -> list[str]:
        rule = self.definition.rule("requires_live_nomination")
        return list(rule.params.categories) if isinstance(rule, RequiresLiveNomination) else []


@dataclass(frozen=True)
class CampaignRules:
    definition: CampaignDefinition

    @property
    def campaign_id(self) -> str:
        return self.definition.id

    @property
    def digest(self) -> str:
        return definition_digest(self.definition)

    def as_data(self) -> dict[str, Any]:
        """The definition as written (defaults left implicit), so that
        `campaign_from_data` reads it back to an equal definition."""
        return self.definition.model_dump(mode="json", exclude_unset=True)

    def category(self, key: str) -> CategoryRules | None:
        found = self.definition.category(key)
        return None if found is None else CategoryRules(found)

    def category_keys(self) -> list[str]:
        return [category.key for category in self.definition.categories]

    def categories(self) -> list[CategoryRules]:
        return [CategoryRules(c) for c in self.definition.categories]

    def local(self, moment: datetime) -> datetime:
        """`moment` in the campaign's time zone (how its campaign times are kept)."""
        return moment.astimezone(self.definition.zone)

    def stage_open(self, stage: str, now: datetime) -> bool:
        return self.definition.stage_open(stage, now)

    def stage_window(self, stage: str) -> tuple[datetime, datetime] | None:
        return self.definition.stage_window(stage)


class CampaignCatalog:
    """The campaigns in force, by id; replaced whole when a definition changes."""

    def __init__(self, definitions: Mapping[str, CampaignDefinition]) -> None:
        self._campaigns = {key: CampaignRules(d) for key, d in definitions.items()}

    def get(self, campaign_id: str) -> CampaignRules | None:
        return self._campaigns.get(campaign_id)

    def ids(self) -> list[str]:
        return sorted(self._campaigns)

    def all(self) -> list[CampaignRules]:
        return [self._campaigns[key] for key in self.ids()]

    def campaign(self, campaign_id: str) -> CampaignRules:
        """The campaign, or NotFound naming it."""
        campaign = self.get(campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id!r}", field="campaign_id")
        return campaign

    def category(self, campaign_id: str, key: str) -> tuple[CampaignRules, CategoryRules]:
        """The campaign and one of its categories, or the error naming what is wrong."""
        campaign = self.campaign(campaign_id)
        category = campaign.category(key)
        if category is None:
            raise InvalidArgument(
                f"campaign {campaign_id!r} has no category {key!r}",
                [FieldViolation("category", f"expected one of {campaign.category_keys()}")])
        return campaign, category


# -- the record of each definition ------------------------------------------------


def definition_stream(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


def evolve_digest(state: str | None, event: RecordedEvent) -> str | None:
    """The digest of the definition recorded last."""
    if event.type in (events.CAMPAIGN_DEFINED, events.CAMPAIGN_AMENDED):
        return str(event.payload["digest"])
    return state


RECORDED_DIGEST = Aggregate("campaign-definition", evolve_digest)


def record_definition(recorded_digest: str | None, campaign: CampaignRules) -> list[NewEvent]:
    """CampaignDefined the first time, CampaignAmended when the file changed."""
    if recorded_digest == campaign.digest:
        return []
    kind = events.CAMPAIGN_DEFINED if recorded_digest is None else events.CAMPAIGN_AMENDED
    return [events.campaign_recorded(kind, campaign.campaign_id, campaign.digest,
                                     campaign.as_data())]


@dataclass(frozen=True)
class RecordedDefinition:
    """A definition as intake's log recorded it, and when."""

    definition: CampaignDefinition
    digest: str
    recorded_at: datetime
    campaign_time: datetime


def recorded_definition(history: Sequence[RecordedEvent], campaign_id: str, *,
                        as_of: datetime | None = None,
                        recorded_as_of: datetime | None = None) -> RecordedDefinition:
    """The definition in force: the last recorded (by `recorded_as_of` on the
    wall clock, if given); or the last that counts by campaign time `as_of`,
    and before the first of them the first (a campaign is defined before
    anything happens in it; in development its clock may be set before the
    day the file was loaded). NotFound if none."""
    recorded = [e for e in history if e.type in (events.CAMPAIGN_DEFINED,
                                                 events.CAMPAIGN_AMENDED)]
    if recorded_as_of is not None:
        recorded = [e for e in recorded if e.recorded_at_time <= recorded_as_of]
    elif as_of is not None:
        recorded = counted_by(recorded, as_of) or recorded[:1]
    if not recorded:
        when = f" by {recorded_as_of.isoformat()}" if recorded_as_of else ""
        raise NotFound(f"no definition of campaign {campaign_id!r} was recorded{when}",
                       field="campaign_id")
    last = recorded[-1]
    return RecordedDefinition(
        campaign_from_data(last.payload["definition"], f"{last.type} {last.event_id}"),
        str(last.payload["digest"]), last.recorded_at_time, last.campaign_time)


# -- the campaign clock -------------------------------------------------------------


def clock_stream(campaign_id: str) -> str:
    return f"campaign-clock-{campaign_id}"


def evolve_clock(state: datetime | None, event: RecordedEvent) -> datetime | None:
    """The moment the campaign's clock was set to last."""
    if event.type == events.CLOCK_SET:
        return datetime.fromisoformat(event.payload["now"])
    return state


CLOCK = Aggregate("campaign-clock", evolve_clock)


def campaign_now(clock: datetime | None, wall_clock_now: datetime) -> datetime:
    """The campaign's "now": its clock if one was set, else the wall clock's."""
    return wall_clock_now if clock is None else clock


def set_clock(campaign: CampaignRules, moment: datetime, actor: Actor, *,
              development: bool) -> list[NewEvent]:
    if not development:
        raise PermissionDenied("the campaign clock can be set only in development mode")
    require_organizer_of(campaign.definition, actor)
    return [events.clock_set(campaign.campaign_id, moment.isoformat())]
