"""Campaign definitions as data: the schema, the loader, and form checking.

The shipped definitions (`henan-2021.yaml`, `innovation-year.yaml`) live in
this directory, which is the default `LAUREL_CAMPAIGNS_DIR`.

Beside the schema: `access` (who organizes, co-organizes, receives, nominates,
reports), `stages` (the campaign clock: `require_stage`), `forms` (normalize
and check a nomination's fields; which cells an endorsement fills),
`vocabulary` (nominee kinds and acts, old words read), `upcast` (definitions
recorded before issue 16).
"""

from pathlib import Path

from laurel.campaigns.fields import Choice, FormField, SelfAssessment
from laurel.campaigns.forms import (
    endorsement_opinion_field,
    endorsement_values,
    fillable_fields,
    normalize_form,
    self_assessment_total,
    validate_form,
)
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
    CategoryPanel,
    CoOrganizer,
    Criterion,
    LookbackReference,
    Nominators,
    PanelGroup,
    PrizeTier,
    Receiver,
    Reporting,
    Route,
    Routing,
    ScoringRubric,
    Stage,
)
from laurel.campaigns.stages import lookback_as_of, require_stage
from laurel.campaigns.vocabulary import ACTIONS, NOMINEE_KINDS, canonical_nominee_kind

SHIPPED_DIR = Path(__file__).parent

__all__ = [
    "ACTIONS",
    "NOMINEE_KINDS",
    "QUOTA_NAMES",
    "RULE_NAMES",
    "SHIPPED_DIR",
    "CampaignDefinition",
    "CampaignDefinitionError",
    "Category",
    "CategoryPanel",
    "Choice",
    "CoOrganizer",
    "Criterion",
    "FormField",
    "LookbackReference",
    "Nominators",
    "PanelGroup",
    "PrizeTier",
    "Receiver",
    "Reporting",
    "Route",
    "Routing",
    "ScoringRubric",
    "SelfAssessment",
    "Stage",
    "campaign_from_data",
    "canonical_nominee_kind",
    "definition_digest",
    "endorsement_opinion_field",
    "endorsement_values",
    "fillable_fields",
    "load_campaign",
    "load_catalog",
    "lookback_as_of",
    "normalize_form",
    "parse_campaign",
    "require_stage",
    "self_assessment_total",
    "validate_form",
]
