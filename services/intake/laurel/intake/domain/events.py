"""Intake's events: each type's name, what its payload carries, and how a
payload stored under an older schema reads today.

The decisions (`nomination`, `organizations`, `campaigns`) build their events
here, so each event's shape is written once; names, payload models, keys and
upcasters are declared in intake's contract (`laurel.contracts.intake`), which
its tests check these builders against. Stored events are never
rewritten: v2 of NominationReturned and NominationEndorsed names the
commission as well as its id (so that a notification can say who returned
it); events written before carry only the id and read, through `UPCASTERS`,
with an empty name, which readers treat as "say the id".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from laurel.contracts.intake import (  # re-exported: the names decisions build with
    CAMPAIGN_AMENDED,
    CAMPAIGN_DEFINED,
    CLOCK_SET,
    DRAFT_SAVED,
    EVIDENCE_ATTACHED,
    MARKED_INELIGIBLE,
    NOMINATION_AMENDED,
    NOMINATION_DRAFTED,
    NOMINATION_ENDORSED,
    NOMINATION_FORWARDED,
    NOMINATION_RECEIVED,
    NOMINATION_REJECTED,
    NOMINATION_RESUBMITTED,
    NOMINATION_RETURNED,
    NOMINATION_SUBMITTED,
    NOMINATION_WITHDRAWN,
    ORGANIZATION_REGISTERED,
    REPORT_ATTACHED,
    UPCASTERS,
)
from laurel.envelope import NewEvent

if TYPE_CHECKING:  # types only: the modules that decide import this one
    from laurel.intake.domain.commands import NominationForm
    from laurel.intake.domain.evidence import Attachment
    from laurel.intake.domain.organizations import Organization, Placement

__all__ = [
    "CAMPAIGN_AMENDED",
    "CAMPAIGN_DEFINED",
    "CLOCK_SET",
    "COMMISSION_NAMED",
    "DRAFT_SAVED",
    "EVIDENCE_ATTACHED",
    "MARKED_INELIGIBLE",
    "NOMINATION_AMENDED",
    "NOMINATION_DRAFTED",
    "NOMINATION_ENDORSED",
    "NOMINATION_FORWARDED",
    "NOMINATION_RECEIVED",
    "NOMINATION_REJECTED",
    "NOMINATION_RESUBMITTED",
    "NOMINATION_RETURNED",
    "NOMINATION_SUBMITTED",
    "NOMINATION_WITHDRAWN",
    "ORGANIZATION_REGISTERED",
    "REPORT_ATTACHED",
    "UPCASTERS",
    "amended",
    "campaign_recorded",
    "clock_set",
    "draft_saved",
    "endorsed",
    "evidence_attached",
    "forwarded",
    "marked_ineligible",
    "nomination_opened",
    "organization_registered",
    "received",
    "rejected",
    "report_attached",
    "resubmitted",
    "returned",
    "withdrawn",
]

# Returns and endorsements name the commission from v2 on (the contract's
# upcasters read v1 as v2).
COMMISSION_NAMED = 2


# -- organizations -----------------------------------------------------------


def organization_registered(org: Organization) -> NewEvent:
    return NewEvent(ORGANIZATION_REGISTERED, {
        "organization_id": org.organization_id,
        "kind": org.kind,
        "name": org.name,
        "parent_id": org.parent_id,
        "jurisdiction_id": org.jurisdiction_id,
        "provincial_level": org.provincial_level,
    })


# -- nominations ---------------------------------------------------------------


def nomination_opened(type_: str, form: NominationForm, placement: Placement,
                      self_assessment_total: int | None = None) -> NewEvent:
    """NominationDrafted, or NominationSubmitted: the whole nomination as stated."""
    payload: dict[str, Any] = {
        "nomination_id": form.nomination_id,
        "campaign_id": form.campaign_id,
        "category": form.category,
        "nominee": {"kind": form.nominee.kind, "name": form.nominee.name,
                    "organization_id": form.nominee.organization_id},
        "hospital_id": placement.hospital_id,
        "jurisdiction_id": placement.jurisdiction_id,
        "route": {"to": placement.route.to,
                  "organization_id": placement.route.organization_id,
                  "receiver_id": placement.route.receiver_id},
        "fields": dict(form.fields),
    }
    return NewEvent(type_, _with_total(payload, self_assessment_total))


def draft_saved(nomination_id: str, changes: Mapping[str, Any]) -> NewEvent:
    return NewEvent(DRAFT_SAVED, {"nomination_id": nomination_id, "changes": dict(changes)})


def returned(nomination_id: str, commission_id: str, commission_name: str,
             reasons: Sequence[str]) -> NewEvent:
    return NewEvent(NOMINATION_RETURNED, {
        "nomination_id": nomination_id, "commission_id": commission_id,
        "commission_name": commission_name, "reasons": list(reasons),
    }, schema_version=COMMISSION_NAMED)


def resubmitted(nomination_id: str, changes: Mapping[str, Any],
                self_assessment_total: int | None) -> NewEvent:
    return NewEvent(NOMINATION_RESUBMITTED, _with_total(
        {"nomination_id": nomination_id, "changes": dict(changes)}, self_assessment_total))


def endorsed(nomination_id: str, commission_id: str, commission_name: str,
             opinion: str) -> NewEvent:
    return NewEvent(NOMINATION_ENDORSED, {
        "nomination_id": nomination_id, "commission_id": commission_id,
        "commission_name": commission_name, "opinion": opinion,
    }, schema_version=COMMISSION_NAMED)


def forwarded(nomination_id: str, commission_id: str, receiver_id: str) -> NewEvent:
    """`center_id` names the receiver it goes to (a center, an office...)."""
    return NewEvent(NOMINATION_FORWARDED, {
        "nomination_id": nomination_id, "commission_id": commission_id,
        "center_id": receiver_id,
    })


def received(nomination_id: str, receiver_id: str) -> NewEvent:
    """`center_id` names the receiver (the key kept from when only a center
    received)."""
    return NewEvent(NOMINATION_RECEIVED, {"nomination_id": nomination_id,
                                          "center_id": receiver_id})


def amended(nomination_id: str, changes: Mapping[str, Any], reason: str,
            self_assessment_total: int | None) -> NewEvent:
    return NewEvent(NOMINATION_AMENDED, _with_total(
        {"nomination_id": nomination_id, "changes": dict(changes), "reason": reason},
        self_assessment_total))


def rejected(nomination_id: str, rejected_by: str, reasons: Sequence[str], category: str,
             hospital_id: str) -> NewEvent:
    return NewEvent(NOMINATION_REJECTED, {
        "nomination_id": nomination_id, "rejected_by": rejected_by,
        "reasons": list(reasons), "category": category, "hospital_id": hospital_id,
    })


def withdrawn(nomination_id: str, reason: str, category: str, hospital_id: str) -> NewEvent:
    return NewEvent(NOMINATION_WITHDRAWN, {
        "nomination_id": nomination_id, "reason": reason, "category": category,
        "hospital_id": hospital_id,
    })


def marked_ineligible(nomination_id: str, rule: str, reason: str, caused_by: str) -> NewEvent:
    return NewEvent(MARKED_INELIGIBLE, {
        "nomination_id": nomination_id, "rule": rule, "reason": reason,
        "caused_by": caused_by,
    })


def evidence_attached(nomination_id: str, attachment: Attachment) -> NewEvent:
    return NewEvent(EVIDENCE_ATTACHED, {
        "nomination_id": nomination_id, "sha256": attachment.sha256,
        "filename": attachment.filename, "media_type": attachment.media_type,
        "size": attachment.size, "kind": attachment.kind,
    })


def report_attached(nomination_id: str, attachment: Attachment, title: str,
                    reporter_organization_id: str) -> NewEvent:
    """Stage-2 evidence: a journalist's (or the reporting newspaper's) article
    or report about the nomination; who attached it is the event's actor."""
    return NewEvent(REPORT_ATTACHED, {
        "nomination_id": nomination_id, "sha256": attachment.sha256,
        "filename": attachment.filename, "media_type": attachment.media_type,
        "size": attachment.size, "kind": attachment.kind, "title": title,
        "reporter_organization_id": reporter_organization_id,
    })


def _with_total(payload: dict[str, Any], total: int | None) -> dict[str, Any]:
    """The self-assessment total rides along where the category has a rubric."""
    if total is not None:
        payload["self_assessment_total"] = total
    return payload


# -- campaigns ------------------------------------------------------------------


def campaign_recorded(type_: str, campaign_id: str, digest: str,
                      definition: Mapping[str, Any]) -> NewEvent:
    """CampaignDefined or CampaignAmended: the whole definition as written."""
    return NewEvent(type_, {"campaign_id": campaign_id, "digest": digest,
                            "definition": dict(definition)})


def clock_set(campaign_id: str, now: str) -> NewEvent:
    return NewEvent(CLOCK_SET, {"campaign_id": campaign_id, "now": now})
