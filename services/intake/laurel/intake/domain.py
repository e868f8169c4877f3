"""Intake's domain: the nomination lifecycle as commands deciding events.

Pure functions only (no I/O, no clock reads): the application loads the
stream, the campaign in force and the facts rules need, passes them in, and
appends what comes back. Each step of the seed's process is one named event:

    draft -> save -> submit -> (returned -> resubmitted)* -> endorsed
          -> forwarded -> received          (via the local health commission)
    submit -> received                      (provincial-level hospitals)
    amend (while the nomination stage is open), withdraw (before a decision)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from laurel.envelope import NewEvent, RecordedEvent
from laurel.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)

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

# Returns and endorsements name the commission from v2 on (see upcasters.py).
COMMISSION_NAMED = 2
LIVE = ("submitted", "returned", "endorsed", "forwarded", "received")


@dataclass(frozen=True)
class Nominee:
    kind: str
    name: str
    organization_id: str


@dataclass(frozen=True)
class Route:
    to: str  # "commission" or "center"
    organization_id: str


@dataclass(frozen=True)
class Placement:
    """Where the nominating hospital sits: facts looked up before deciding."""

    hospital_id: str
    jurisdiction_id: str
    route: Route


@dataclass(frozen=True)
class Attachment:
    sha256: str
    filename: str
    media_type: str
    size: int
    kind: str


@dataclass(frozen=True)
class Nomination:
    nomination_id: str
    campaign_id: str
    category: str
    nominee: Nominee
    hospital_id: str = ""
    jurisdiction_id: str = ""
    route: Route = Route("center", "")
    fields: dict[str, str] = field(default_factory=dict)
    status: str = "draft"
    eligible: bool = True
    ineligible_reason: str = ""
    return_reasons: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    version: int = 0
    created_at: str = ""
    submitted_at: str = ""
    submitted_by: str = ""
    updated_at: str = ""

    @property
    def live(self) -> bool:
        return self.status in LIVE


@dataclass(frozen=True)
class NominationDraft:
    """What a nominator states: used to draft, or to submit in one step."""

    nomination_id: str
    campaign_id: str
    category: str
    nominee: Nominee
    fields: Mapping[str, str]


def stream_id(nomination_id: str) -> str:
    return f"nomination-{nomination_id}"


# -- deciding --------------------------------------------------------------


def draft_nomination(
    current: Nomination | None,
    draft: NominationDraft,
    placement: Placement,
    violations: Iterable[FieldViolation],
) -> list[NewEvent]:
    """A draft may be incomplete, but what it holds must be well-formed."""
    _check_new(current, draft.nomination_id)
    _refuse_invalid(violations, "the draft")
    return [NewEvent(NOMINATION_DRAFTED, _opening_payload(draft, placement))]


def save_draft(
    current: Nomination | None, changes: Mapping[str, str],
    violations: Iterable[FieldViolation],
) -> list[NewEvent]:
    nomination = _existing(current)
    _require_status(nomination, ("draft",), "save_draft")
    _refuse_invalid(violations, "the draft")
    diff = field_changes(nomination.fields, changes)
    if not diff:
        return []
    return [NewEvent(DRAFT_SAVED, {"nomination_id": nomination.nomination_id,
                                   "changes": diff})]


def submit_nomination(
    current: Nomination | None,
    draft: NominationDraft | None,
    placement: Placement,
    violations: Iterable[FieldViolation],
    self_assessment_total: int | None = None,
) -> list[NewEvent]:
    """Submit a draft (draft=None) or a whole nomination in one step."""
    if draft is not None:
        _check_new(current, draft.nomination_id)
        payload = _opening_payload(draft, placement)
    else:
        nomination = _existing(current)
        _require_status(nomination, ("draft",), "submit")
        payload = _state_payload(nomination)
    _refuse_invalid(violations, "the nomination")
    if self_assessment_total is not None:
        payload["self_assessment_total"] = self_assessment_total
    return [NewEvent(NOMINATION_SUBMITTED, payload)]


def return_nomination(
    current: Nomination | None, commission_id: str, reasons: list[str],
    commission_name: str = "",
) -> list[NewEvent]:
    nomination = _existing(current)
    _require_route_holder(nomination, "commission", commission_id)
    _require_status(nomination, ("submitted",), "return")
    cleaned = [r.strip() for r in reasons if r.strip()]
    if not cleaned:
        raise InvalidArgument("say why the nomination is returned",
                              [FieldViolation("reasons", "at least one reason is required")])
    return [NewEvent(NOMINATION_RETURNED, {
        "nomination_id": nomination.nomination_id, "commission_id": commission_id,
        "commission_name": commission_name, "reasons": cleaned,
    }, schema_version=COMMISSION_NAMED)]


def resubmit_nomination(
    current: Nomination | None, changes: Mapping[str, str],
    violations: Iterable[FieldViolation], self_assessment_total: int | None = None,
) -> list[NewEvent]:
    nomination = _existing(current)
    _require_status(nomination, ("returned",), "resubmit")
    _refuse_invalid(violations, "the corrected nomination")
    payload: dict[str, Any] = {
        "nomination_id": nomination.nomination_id,
        "changes": field_changes(nomination.fields, changes),
    }
    if self_assessment_total is not None:
        payload["self_assessment_total"] = self_assessment_total
    return [NewEvent(NOMINATION_RESUBMITTED, payload)]


def endorse_nomination(
    current: Nomination | None, commission_id: str, opinion: str,
    commission_name: str = "",
) -> list[NewEvent]:
    nomination = _existing(current)
    _require_route_holder(nomination, "commission", commission_id)
    _require_status(nomination, ("submitted",), "endorse")
    if not opinion.strip():
        raise InvalidArgument("the commission's opinion (所属卫生健康委意见) is required",
                              [FieldViolation("opinion", "required")])
    return [NewEvent(NOMINATION_ENDORSED, {
        "nomination_id": nomination.nomination_id, "commission_id": commission_id,
        "commission_name": commission_name, "opinion": opinion.strip(),
    }, schema_version=COMMISSION_NAMED)]


def forward_nomination(
    current: Nomination | None, commission_id: str, center_id: str
) -> list[NewEvent]:
    nomination = _existing(current)
    _require_route_holder(nomination, "commission", commission_id)
    _require_status(nomination, ("endorsed",), "forward")
    return [NewEvent(NOMINATION_FORWARDED, {
        "nomination_id": nomination.nomination_id, "commission_id": commission_id,
        "center_id": center_id,
    })]


def receive_nomination(current: Nomination | None, center_id: str) -> list[NewEvent]:
    nomination = _existing(current)
    ready = "forwarded" if nomination.route.to == "commission" else "submitted"
    _require_status(nomination, (ready,), "receive")
    return [NewEvent(NOMINATION_RECEIVED, {
        "nomination_id": nomination.nomination_id, "center_id": center_id,
    })]


def amend_nomination(
    current: Nomination | None, changes: Mapping[str, str], reason: str,
    violations: Iterable[FieldViolation], stage_open: bool,
    self_assessment_total: int | None = None,
) -> list[NewEvent]:
    nomination = _existing(current)
    _require_status(nomination, LIVE, "amend")
    if not stage_open:
        raise FailedPrecondition(
            "stage_window", "the nomination stage has closed; amendments are no "
            "longer accepted", nomination.nomination_id)
    _refuse_invalid(violations, "the amendment")
    diff = field_changes(nomination.fields, changes)
    if not diff:
        raise InvalidArgument("the amendment changes nothing",
                              [FieldViolation("fields", "no field differs")])
    payload: dict[str, Any] = {"nomination_id": nomination.nomination_id,
                               "changes": diff, "reason": reason.strip()}
    if self_assessment_total is not None:
        payload["self_assessment_total"] = self_assessment_total
    return [NewEvent(NOMINATION_AMENDED, payload)]


def reject_nomination(
    current: Nomination | None, organization_id: str, center_id: str, reasons: list[str],
) -> list[NewEvent]:
    """不同意推荐: the commission declines to endorse, or the center declines to accept.

    Terminal, unlike a return: the hospital cannot resubmit it.
    """
    nomination = _existing(current)
    if organization_id == center_id:
        ready = ("forwarded", "received") if nomination.route.to == "commission" else (
            "submitted", "received")
    else:
        _require_route_holder(nomination, "commission", organization_id)
        ready = ("submitted", "endorsed")
    _require_status(nomination, ready, "reject")
    cleaned = [r.strip() for r in reasons if r.strip()]
    if not cleaned:
        raise InvalidArgument("say why the nomination is rejected",
                              [FieldViolation("reasons", "at least one reason is required")])
    return [NewEvent(NOMINATION_REJECTED, {
        "nomination_id": nomination.nomination_id, "rejected_by": organization_id,
        "reasons": cleaned, "category": nomination.category,
        "hospital_id": nomination.hospital_id,
    })]


def withdraw_nomination(current: Nomination | None, reason: str) -> list[NewEvent]:
    nomination = _existing(current)
    _require_status(nomination, ("draft", *LIVE), "withdraw")
    return [NewEvent(NOMINATION_WITHDRAWN, {
        "nomination_id": nomination.nomination_id, "reason": reason.strip(),
        "category": nomination.category, "hospital_id": nomination.hospital_id,
    })]


def mark_ineligible(
    current: Nomination | None, rule: str, reason: str, cause: str
) -> list[NewEvent]:
    """A rule now fails for a live nomination: record it once, with the cause."""
    nomination = _existing(current)
    if not nomination.live or not nomination.eligible:
        return []
    return [NewEvent(MARKED_INELIGIBLE, {
        "nomination_id": nomination.nomination_id, "rule": rule, "reason": reason,
        "caused_by": cause,
    })]


def attach_evidence(current: Nomination | None, attachment: Attachment) -> list[NewEvent]:
    nomination = _existing(current)
    _require_status(nomination, ("draft", *LIVE), "attach_evidence")
    if any(a.sha256 == attachment.sha256 for a in nomination.attachments):
        raise AlreadyExists(f"this file ({attachment.sha256[:12]}…) is already attached")
    return [NewEvent(EVIDENCE_ATTACHED, {
        "nomination_id": nomination.nomination_id, "sha256": attachment.sha256,
        "filename": attachment.filename, "media_type": attachment.media_type,
        "size": attachment.size, "kind": attachment.kind,
    })]


def field_changes(before: Mapping[str, str], changes: Mapping[str, str]) -> dict[str, Any]:
    """{key: {before, after}} for each key whose value differs; '' clears a field."""
    diff = {}
    for key, value in sorted(changes.items()):
        old = before.get(key)
        new = value if value != "" else None
        if old != new:
            diff[key] = {"before": old, "after": new}
    return diff


def merged_fields(before: Mapping[str, str], changes: Mapping[str, str]) -> dict[str, str]:
    merged = dict(before)
    for key, value in changes.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _opening_payload(draft: NominationDraft, placement: Placement) -> dict[str, Any]:
    return {
        "nomination_id": draft.nomination_id,
        "campaign_id": draft.campaign_id,
        "category": draft.category,
        "nominee": {"kind": draft.nominee.kind, "name": draft.nominee.name,
                    "organization_id": draft.nominee.organization_id},
        "hospital_id": placement.hospital_id,
        "jurisdiction_id": placement.jurisdiction_id,
        "route": {"to": placement.route.to,
                  "organization_id": placement.route.organization_id},
        "fields": dict(draft.fields),
    }


def _state_payload(nomination: Nomination) -> dict[str, Any]:
    return _opening_payload(
        NominationDraft(nomination.nomination_id, nomination.campaign_id,
                        nomination.category, nomination.nominee, nomination.fields),
        Placement(nomination.hospital_id, nomination.jurisdiction_id, nomination.route),
    )


def _check_new(current: Nomination | None, nomination_id: str) -> None:
    if current is not None:
        raise AlreadyExists(f"nomination {nomination_id} already exists")


def _existing(current: Nomination | None) -> Nomination:
    if current is None:
        raise NotFound("no such nomination", field="nomination_id")
    return current


def _require_status(nomination: Nomination, allowed: Iterable[str], action: str) -> None:
    allowed = tuple(allowed)
    if nomination.status not in allowed:
        raise FailedPrecondition(
            "nomination_status",
            f"cannot {action} a nomination that is {nomination.status}; "
            f"it must be {' or '.join(allowed)}",
            nomination.nomination_id,
        )


def _require_route_holder(nomination: Nomination, to: str, organization_id: str) -> None:
    if nomination.route.to != to:
        raise FailedPrecondition(
            "routing", "this nomination goes straight to the provincial center; "
            "no local commission acts on it", nomination.nomination_id)
    if nomination.route.organization_id != organization_id:
        raise PermissionDenied(
            f"only {nomination.route.organization_id} acts on this nomination")


def _refuse_invalid(violations: Iterable[FieldViolation], what: str) -> None:
    found = list(violations)
    if found:
        raise InvalidArgument(
            f"{what} has {len(found)} invalid field(s); nothing was stored", found)


# -- folding ---------------------------------------------------------------


def fold(events: Iterable[RecordedEvent]) -> Nomination | None:
    state: Nomination | None = None
    for event in events:
        state = apply(state, event)
    return state


def apply(state: Nomination | None, event: RecordedEvent) -> Nomination | None:
    p = event.payload
    if event.type in (NOMINATION_DRAFTED, NOMINATION_SUBMITTED) and (
        state is None or event.type == NOMINATION_DRAFTED
    ):
        state = _opened(p, event)
    assert state is not None, f"{event.type} before the nomination was opened"
    state = replace(state, version=event.version, updated_at=event.recorded_at)
    if event.type == NOMINATION_SUBMITTED:
        return replace(state, status="submitted", submitted_at=event.recorded_at,
                       submitted_by=event.actor.id)
    if event.type in (DRAFT_SAVED, NOMINATION_AMENDED):
        return replace(state, fields=_after(state.fields, p["changes"]))
    if event.type == NOMINATION_RETURNED:
        return replace(state, status="returned", return_reasons=tuple(p["reasons"]))
    if event.type == NOMINATION_REJECTED:
        return replace(state, status="rejected", return_reasons=tuple(p["reasons"]))
    if event.type == NOMINATION_RESUBMITTED:
        return replace(state, status="submitted", return_reasons=(),
                       fields=_after(state.fields, p["changes"]))
    simple = {NOMINATION_ENDORSED: "endorsed", NOMINATION_FORWARDED: "forwarded",
              NOMINATION_RECEIVED: "received", NOMINATION_WITHDRAWN: "withdrawn"}
    if event.type in simple:
        return replace(state, status=simple[event.type])
    if event.type == MARKED_INELIGIBLE:
        return replace(state, eligible=False, ineligible_reason=p["reason"])
    if event.type == EVIDENCE_ATTACHED:
        attachment = Attachment(p["sha256"], p["filename"], p["media_type"], p["size"],
                                p["kind"])
        return replace(state, attachments=(*state.attachments, attachment))
    return state


def _opened(p: Mapping[str, Any], event: RecordedEvent) -> Nomination:
    nominee = p["nominee"]
    route = p.get("route", {"to": "center", "organization_id": ""})
    return Nomination(
        nomination_id=p["nomination_id"],
        campaign_id=p["campaign_id"],
        category=p["category"],
        nominee=Nominee(nominee["kind"], nominee["name"], nominee["organization_id"]),
        hospital_id=p.get("hospital_id", nominee["organization_id"]),
        jurisdiction_id=p.get("jurisdiction_id", ""),
        route=Route(route["to"], route["organization_id"]),
        fields=dict(p["fields"]),
        status="draft",
        created_at=event.recorded_at,
    )


def _after(fields: Mapping[str, str], changes: Mapping[str, Any]) -> dict[str, str]:
    merged = dict(fields)
    for key, change in changes.items():
        if change["after"] is None:
            merged.pop(key, None)
        else:
            merged[key] = change["after"]
    return merged
