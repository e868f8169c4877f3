"""Scoring's events: the contract its consumers read them by (pure).

Keys: a nomination's eligibility verdicts are keyed by its nomination id (a
nomination's verdicts arrive in order, beside nothing else); a result is
keyed by "<campaign_id>/<category>", because each round's result supersedes
the category's earlier ones and consumers must see a category's versions in
order, whichever round computed them. Everything else scoring records (the
facts it noted from intake and review, the compliance registry, refused
computations) stays in its store, never published: no consumer needs them, and
auditors read them in scoring's store.
"""

from __future__ import annotations

from typing import Any

from laurel.contracts.base import (
    EventPayload,
    by,
    clock_noted,
    contracts_of,
    event,
    joined,
    parking,
)

SERVICE = "scoring"

VERDICT_RECORDED = "EligibilityVerdictRecorded"
RESULT_COMPUTED = "ResultComputed"
NOMINATION_FACTS_NOTED = "NominationFactsNoted"
REVIEW_INPUT_NOTED = "ReviewInputNoted"
DEFINITION_NOTED = "CampaignDefinitionNoted"
RUBRIC_AMENDED = "RubricAmended"
COMPLAINT_RECORDED = "ComplaintRecorded"
PENALTY_RECORDED = "PenaltyRecorded"
ENTRY_WITHDRAWN = "ComplianceEntryWithdrawn"
COMPUTATION_REFUSED = "ResultComputationRefused"

ELIGIBLE, INELIGIBLE = "eligible", "ineligible"


class EligibilityVerdictRecorded(EventPayload):
    """One rule's verdict on one nomination, with what it saw."""

    nomination_id: str
    rule: str
    parameters: dict[str, Any]
    decision: str  # "eligible" or "ineligible"
    reason: str
    entries_seen: list[str]
    entries_counted: list[str]
    nominations_seen: list[str]
    cause: str


class ResultComputed(EventPayload):
    """A category's ranking for a round (a new version supersedes the last)."""

    campaign_id: str
    category: str
    round_id: str
    entries: list[dict[str, Any]]  # rank, nomination_id, score, score_display, tier, …
    unscored: list[str]
    shortlist: dict[str, Any] | None
    first_place_votes: dict[str, int]
    breakdowns: dict[str, dict[str, Any]]
    policy: dict[str, Any]
    ineligible: dict[str, dict[str, Any]]  # nomination id -> rules, reason: never ranked
    version: int
    supersedes: int | None
    cause: str


class NominationFactsNoted(EventPayload):
    nomination_id: str
    source_type: str
    source_event_id: str
    facts: dict[str, Any]


class ReviewInputNoted(EventPayload):
    round_id: str
    source_type: str
    source_event_id: str
    source_recorded_at: str
    data: dict[str, Any]


class CampaignDefinitionNoted(EventPayload):
    campaign_id: str
    digest: str
    definition: dict[str, Any]
    source_event_id: str
    source_type: str


class RubricAmended(EventPayload):
    campaign_id: str
    category: str
    digest: str


class ComplianceEntryRecorded(EventPayload):
    entry_id: str
    subject_kind: str
    subject_id: str
    occurred_on: str  # ISO date
    source: str
    summary: str


class ComplaintRecorded(ComplianceEntryRecorded):
    pass


class PenaltyRecorded(ComplianceEntryRecorded):
    pass


class ComplianceEntryWithdrawn(EventPayload):
    entry_id: str
    kind: str
    subject_id: str
    reason: str
    withdrawn_on: str  # ISO date


class ResultComputationRefused(EventPayload):
    round_id: str
    cause: str
    error: str
    message: str
    violations: list[list[str]]  # [field, description]



CONTRACTS = contracts_of(
    SERVICE,
    *parking(),
    clock_noted(),
    event(VERDICT_RECORDED, EligibilityVerdictRecorded,
          by("nomination_id", why="a nomination's verdicts arrive in order"),
          "A rule's verdict on a nomination changed (or was first decided)."),
    event(RESULT_COMPUTED, ResultComputed,
          joined("campaign_id", "category", why="a category's result versions "
                 "supersede each other across rounds and must arrive in order"),
          "A category's result for a round: the ranking without ineligible nominations."),
    event(NOMINATION_FACTS_NOTED, NominationFactsNoted, None,
          "What scoring knows of a nomination after an intake event."),
    event(REVIEW_INPUT_NOTED, ReviewInputNoted, None,
          "A review event a round's result depends on, as scoring noted it."),
    event(DEFINITION_NOTED, CampaignDefinitionNoted, None,
          "A campaign definition as scoring decides by it."),
    event(RUBRIC_AMENDED, RubricAmended, None,
          "An amendment changed a category's eligibility rules or rubric."),
    event(COMPLAINT_RECORDED, ComplaintRecorded, None,
          "The compliance registry recorded a complaint."),
    event(PENALTY_RECORDED, PenaltyRecorded, None,
          "The compliance registry recorded a penalty."),
    event(ENTRY_WITHDRAWN, ComplianceEntryWithdrawn, None,
          "A compliance entry was withdrawn."),
    event(COMPUTATION_REFUSED, ResultComputationRefused, None,
          "A result could not be computed from what was consumed, and why."),
)
