"""Campaign definitions as data: the schema, the loader, and form checking.

The shipped definitions (`henan-2021.yaml`, `innovation-year.yaml`) live in
this directory, which is the default `LAUREL_CAMPAIGNS_DIR`.
"""

from pathlib import Path

from laurel.campaigns.fields import Choice, FormField, SelfAssessment
from laurel.campaigns.forms import self_assessment_total, validate_form
from laurel.campaigns.loader import (
    CampaignDefinitionError,
    campaign_from_data,
    definition_digest,
    load_campaign,
    load_catalog,
    parse_campaign,
)
from laurel.campaigns.rules import QUOTA_NAMES, RULE_NAMES
from laurel.campaigns.schema import (
    CampaignDefinition,
    Category,
    Criterion,
    PanelGroup,
    PrizeTier,
    Routing,
    ScoringRubric,
    Stage,
)

SHIPPED_DIR = Path(__file__).parent

__all__ = [
    "QUOTA_NAMES",
    "RULE_NAMES",
    "SHIPPED_DIR",
    "CampaignDefinition",
    "CampaignDefinitionError",
    "Category",
    "Choice",
    "Criterion",
    "FormField",
    "PanelGroup",
    "PrizeTier",
    "Routing",
    "ScoringRubric",
    "SelfAssessment",
    "Stage",
    "campaign_from_data",
    "definition_digest",
    "load_campaign",
    "load_catalog",
    "parse_campaign",
    "self_assessment_total",
    "validate_form",
]
