"""Intake's events: the contract its consumers read them by (pure).

Keys: a nomination's events are keyed by its nomination id, so each
nomination's history arrives in order on one partition; a campaign's
definition events are keyed by the campaign id (they belong to no
nomination, and the definitions of one campaign must arrive in order).
Organizations and the campaign clock stay in intake's store: nothing
downstream reads them (auditors read them in intake's store).

NominationReturned and NominationEndorsed name the commission from v2 on;
v1 events carry only its id and read, through `UPCASTERS`, with an empty
name, which readers treat as "say the id".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from laurel.contracts.base import EventPayload, by, contracts_of, event
from laurel.upcasting import Payload, Upcasters

SERVICE = "intake"

# A nomination in one of these statuses still competes: it counts against
# quotas and keeps a leader nomination of its hospital eligible.
LIVE_STATUSES = ("submitted", "returned", "endorsed", "forwarded", "received")


def apply_field_changes(fields: Mapping[str, str],
                        changes: Mapping[str, Mapping[str, Any]] | None) -> dict[str, str]:
    """The form fields after an event's `changes` ({key: {before, after}};
    an `after` of None removes the field)."""
    merged = dict(fields)
    for key, change in (changes or {}).items():
        if change["after"] is None:
            merged.pop(key, None)
        else:
            merged[key] = change["after"]
    return merged


# -- type names ---------------------------------------------------------------------

ORGANIZATION_REGISTERED = "OrganizationRegistered"
NOMINATION_DRAFTED = "NominationDrafted"
DRAFT_SAVED = "NominationDraftSaved"
NOMINATION_SUBMITTED = "NominationSubmitted"
NOMINATION_RETURNED = "NominationReturned"
NOMINATION_RESUBMITTED = "NominationResubmitted"
NOMINATION_ENDORSED = "NominationEndorsed"
NOMINATION_FORWARDED = "NominationForwarded"
NOMINATION_RECEIVED = "NominationReceived"
NOMINATION_AMENDED = "NominationAmended"
NOMINATION_WITHDRAWN = "NominationWithdrawn"
MARKED_INELIGIBLE = "NominationMarkedIneligible"
NOMINATION_REJECTED = "NominationRejected"
EVIDENCE_ATTACHED = "EvidenceAttached"
REPORT_ATTACHED = "ReportAttached"
CAMPAIGN_DEFINED = "CampaignDefined"
CAMPAIGN_AMENDED = "CampaignAmended"
CLOCK_SET = "CampaignClockSet"

# -- upcasters: older schemas read as today's -----------------------------------------

UPCASTERS = Upcasters()


@UPCASTERS.register(NOMINATION_RETURNED, 1)
def returned_names_its_commission(payload: Payload) -> Payload:
    return {**payload, "commission_name": payload.get("commission_name", "")}


@UPCASTERS.register(NOMINATION_ENDORSED, 1)
def endorsed_names_its_commission(payload: Payload) -> Payload:
    return {**payload, "commission_name": payload.get("commission_name", "")}


# -- payloads -------------------------------------------------------------------------


class Nominee(EventPayload):
    kind: str
    name: str
    organization_id: str = ""


class Route(EventPayload):
    to: str  # "commission" or "center"
    organization_id: str
    receiver_id: str = ""  # who receives it there; absent in events before 2026-12


class FieldChange(EventPayload):
    before: str | None
    after: str | None


class OrganizationRegistered(EventPayload):
    organization_id: str
    kind: str
    name: str
    parent_id: str
    jurisdiction_id: str
    provincial_level: bool


class NominationOpened(EventPayload):
    """NominationDrafted and NominationSubmitted: the whole nomination as stated."""

    nomination_id: str
    campaign_id: str
    category: str
    nominee: Nominee
    hospital_id: str
    jurisdiction_id: str
    route: Route
    fields: dict[str, str]
    self_assessment_total: int | None = None  # where the category has a rubric


class NominationDrafted(NominationOpened):
    pass


class NominationSubmitted(NominationOpened):
    pass


class NominationDraftSaved(EventPayload):
    nomination_id: str
    changes: dict[str, FieldChange]


class NominationReturned(EventPayload):
    nomination_id: str
    commission_id: str
    commission_name: str  # v2; "" when upcast from v1
    reasons: list[str]


class NominationResubmitted(EventPayload):
    nomination_id: str
    changes: dict[str, FieldChange]
    self_assessment_total: int | None = None


class NominationEndorsed(EventPayload):
    nomination_id: str
    commission_id: str
    commission_name: str  # v2; "" when upcast from v1
    opinion: str


class NominationForwarded(EventPayload):
    nomination_id: str
    commission_id: str
    center_id: str


class NominationReceived(EventPayload):
    nomination_id: str
    center_id: str


class NominationAmended(EventPayload):
    nomination_id: str
    changes: dict[str, FieldChange]
    reason: str
    self_assessment_total: int | None = None


class NominationRejected(EventPayload):
    """A commission or the center refused the nomination: it no longer competes."""

    nomination_id: str
    rejected_by: str
    reasons: list[str]
    category: str
    hospital_id: str


class NominationWithdrawn(EventPayload):
    nomination_id: str
    reason: str
    category: str
    hospital_id: str


class NominationMarkedIneligible(EventPayload):
    nomination_id: str
    rule: str
    reason: str
    caused_by: str  # the event id that made it so


class EvidenceAttached(EventPayload):
    nomination_id: str
    sha256: str
    filename: str
    media_type: str
    size: int
    kind: str


class ReportAttached(EventPayload):
    """Stage-2 evidence: a journalist's article or report about the nomination."""

    nomination_id: str
    sha256: str
    filename: str
    media_type: str
    size: int
    kind: str
    title: str
    reporter_organization_id: str


class CampaignRecorded(EventPayload):
    campaign_id: str
    digest: str
    definition: dict[str, Any]  # the definition file as validated by its schema


class CampaignDefined(CampaignRecorded):
    pass


class CampaignAmended(CampaignRecorded):
    pass


class CampaignClockSet(EventPayload):
    campaign_id: str
    now: str  # ISO 8601 with its offset


# -- the contract ----------------------------------------------------------------------

_NOMINATION = by("nomination_id", why="a nomination's events stay in order on one "
                 "partition; consumers fold them per nomination")
_CAMPAIGN = by("campaign_id", why="a campaign's definitions and clock moves belong to no "
               "nomination and must arrive in the order they were recorded")

CONTRACTS = contracts_of(
    SERVICE,
    event(ORGANIZATION_REGISTERED, OrganizationRegistered, None,
          "An organization (center, commission, hospital) is known to intake."),
    event(NOMINATION_DRAFTED, NominationDrafted, _NOMINATION,
          "A nominator started a nomination (not yet submitted)."),
    event(DRAFT_SAVED, NominationDraftSaved, _NOMINATION, "A draft's fields changed."),
    event(NOMINATION_SUBMITTED, NominationSubmitted, _NOMINATION,
          "A nomination was submitted on its route (commission or center)."),
    event(NOMINATION_RETURNED, NominationReturned, _NOMINATION,
          "A commission returned a nomination for correction.", upcasters=UPCASTERS),
    event(NOMINATION_RESUBMITTED, NominationResubmitted, _NOMINATION,
          "A returned nomination was corrected and submitted again."),
    event(NOMINATION_ENDORSED, NominationEndorsed, _NOMINATION,
          "A commission endorsed a nomination.", upcasters=UPCASTERS),
    event(NOMINATION_FORWARDED, NominationForwarded, _NOMINATION,
          "A commission forwarded a nomination to the center."),
    event(NOMINATION_RECEIVED, NominationReceived, _NOMINATION,
          "The center received a nomination: it enters evaluation."),
    event(NOMINATION_AMENDED, NominationAmended, _NOMINATION,
          "A submitted nomination's fields were amended."),
    event(NOMINATION_WITHDRAWN, NominationWithdrawn, _NOMINATION,
          "The nominator withdrew a nomination."),
    event(MARKED_INELIGIBLE, NominationMarkedIneligible, _NOMINATION,
          "Intake found a nomination ineligible (e.g. its hospital's benchmark left)."),
    event(NOMINATION_REJECTED, NominationRejected, _NOMINATION,
          "A commission or the center rejected a nomination."),
    event(EVIDENCE_ATTACHED, EvidenceAttached, _NOMINATION,
          "Evidence (a file, by its digest) was attached to a nomination."),
    event(REPORT_ATTACHED, ReportAttached, _NOMINATION,
          "A journalist's report on a nomination was attached (interviews and reporting)."),
    event(CAMPAIGN_DEFINED, CampaignDefined, _CAMPAIGN,
          "A campaign definition was recorded for the first time."),
    event(CAMPAIGN_AMENDED, CampaignAmended, _CAMPAIGN,
          "A campaign definition changed (a new digest)."),
    event(CLOCK_SET, CampaignClockSet, _CAMPAIGN,
          "An organizer moved a campaign's clock (demonstrations and tests); review, "
          "scoring and notification keep to it."),
)
