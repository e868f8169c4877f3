"""The campaign definitions intake enforces, seen through the policies of `rules`.

An adapter over `laurel.campaigns`: intake's rules ask narrow questions (the
threshold, the quota, the categories a leader's hospital needs) and this
module answers them from the definition, so the rules stay free of the
definition's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from laurel.campaigns import (
    CampaignDefinition,
    Category,
    definition_digest,
    load_catalog,
    self_assessment_total,
    validate_form,
)
from laurel.errors import FieldViolation


@dataclass(frozen=True)
class CategoryRules:
    definition: Category

    @property
    def key(self) -> str:
        return self.definition.key

    @property
    def nominee_kind(self) -> str:
        return self.definition.nominee_kind

    def validate(self, fields: Mapping[str, str], *, partial: bool = False
                 ) -> list[FieldViolation]:
        return validate_form(self.definition, dict(fields), partial=partial)

    def self_assessment_total(self, fields: Mapping[str, str]) -> int | None:
        if self.definition.self_assessment is None:
            return None
        return self_assessment_total(self.definition, fields)

    def self_assessment_threshold(self) -> int | None:
        rule = self.definition.rule("self_assessment_threshold")
        return None if rule is None else rule.params.min_total

    def live_quota(self) -> int | None:
        quota = self.definition.quota("per_hospital_alive")
        return None if quota is None else quota.params.max

    def required_live_categories(self) -> list[str]:
        rule = self.definition.rule("requires_live_nomination")
        return [] if rule is None else list(rule.params.categories)


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


def load_campaign_catalog(directory: Path) -> CampaignCatalog:
    return CampaignCatalog(load_catalog(directory))
