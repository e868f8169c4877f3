"""Scoring's own events that no rule module owns, and the upstream event
types its reactions listen for.

Verdicts and the registry's events are `eligibility`'s, results `ranking`'s,
the facts noted from intake `facts`' and from review `round_inputs`'. Here:
the campaign definition as scoring noted it (with the categories whose rules
an amendment changed) and a result computation that was refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from laurel.campaigns.lookup import DEFINITION_NOTED
from laurel.envelope import NewEvent, RecordedEvent
from laurel.errors import LaurelError
from laurel.scoring.domain.eligibility import RUBRIC_AMENDED

# intake's, as consumed
CAMPAIGN_DEFINED = "CampaignDefined"
CAMPAIGN_AMENDED = "CampaignAmended"
CAMPAIGN_TYPES = (CAMPAIGN_DEFINED, CAMPAIGN_AMENDED)

# scoring's
COMPUTATION_REFUSED = "ResultComputationRefused"


def campaign_stream(campaign_id: str) -> str:
    """Where scoring notes a campaign's definition (DefinitionsInForce reads it)."""
    return f"scoring-campaign-{campaign_id}"


def definition_noted(source: RecordedEvent, amended: Sequence[str]) -> list[NewEvent]:
    """The definition intake announced, then one RubricAmended per category
    whose eligibility rules or self-assessment it changed."""
    p = source.payload
    noted = NewEvent(DEFINITION_NOTED, {
        "campaign_id": p["campaign_id"], "digest": p["digest"],
        "definition": p["definition"], "source_event_id": source.event_id,
        "source_type": source.type})
    return [noted, *(NewEvent(RUBRIC_AMENDED, {
        "campaign_id": p["campaign_id"], "category": key, "digest": p["digest"]})
        for key in amended)]


def computation_refused(round_id: str, cause: str, error: LaurelError) -> NewEvent:
    """A result that could not be computed from what was consumed, and why."""
    violations: list[list[str]] = [[v.field, v.description]
                                   for v in getattr(error, "violations", [])]
    payload: dict[str, Any] = {
        "round_id": round_id, "cause": cause, "error": type(error).__name__,
        "message": error.message, "violations": violations}
    return NewEvent(COMPUTATION_REFUSED, payload)
