"""The campaign definitions intake enforces, looked up by id and category key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from laurel.campaigns.forms import validate_form
from laurel.campaigns.loader import load_catalog
from laurel.errors import FieldViolation


@dataclass(frozen=True)
class CategoryRules:
    definition: Any

    @property
    def nominee_kind(self) -> str:
        return self.definition.nominee_kind

    def validate(self, fields: Mapping[str, str], *, partial: bool = False) -> list[FieldViolation]:
        return validate_form(self.definition, dict(fields), partial=partial)


@dataclass(frozen=True)
class CampaignRules:
    definition: Any

    def category(self, key: str) -> CategoryRules | None:
        for category in self.definition.categories:
            if category.key == key:
                return CategoryRules(category)
        return None

    def category_keys(self) -> list[str]:
        return [category.key for category in self.definition.categories]


class CampaignCatalog:
    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self._campaigns = {key: CampaignRules(d) for key, d in definitions.items()}

    def get(self, campaign_id: str) -> CampaignRules | None:
        return self._campaigns.get(campaign_id)

    def ids(self) -> list[str]:
        return list(self._campaigns)


def load_campaign_catalog(directory: Path) -> CampaignCatalog:
    return CampaignCatalog(load_catalog(directory))
