"""A nomination: its state, how its events fold into it, and the decisions on it.

Each step of the seed's process is one named event:

    draft -> save -> submit -> (returned -> resubmitted)* -> endorsed
          -> forwarded -> received          (via the local health commission)
    submit -> received                      (provincial-level hospitals)
    amend (while the nomination stage is open), withdraw (before a decision),
    reject (不同意推荐, by the commission or the center: final)

A decision takes the current state (None: no such stream yet) and the facts
the handler looked up, and returns the events to append or raises the error
a caller can act on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from laurel.campaigns.vocabulary import canonical_nominee_kind
from laurel.contracts.intake import LIVE_STATUSES, apply_field_changes
from laurel.envelope import Aggregate, NewEvent, RecordedEvent, format_time, state_updater
from laurel.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from laurel.intake.domain import events
from laurel.intake.domain.commands import NominationForm, Nominee
from laurel.intake.domain.evidence import Attachment
from laurel.intake.domain.organizations import Placement, Route


@dataclass(frozen=True)
class Endorsement:
    """The commission's act: what fills the form's cells that belong to it
    (附件2's 所属卫生健康委意见: the opinion, the commission, the day)."""

    opinion: str
    commission_id: str
    commission_name: str
    endorsed_on: str  # the campaign's day, YYYY-MM-DD


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
    endorsement: Endorsement | None = None
    version: int = 0
    created_at: str = ""
    submitted_at: str = ""  # on the campaign's clock
    submitted_recorded_at: str = ""  # on the wall clock
    submitted_by: str = ""
    updated_at: str = ""

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def form(self) -> NominationForm:
        """What the nominator stated, as it stands now."""
        return NominationForm(self.nomination_id, self.campaign_id, self.category,
                              self.nominee, self.fields)

    @property
    def placement(self) -> Placement:
        return Placement(self.hospital_id, self.jurisdiction_id, self.route)


def stream_id(nomination_id: str) -> str:
    return f"nomination-{nomination_id}"


# -- deciding --------------------------------------------------------------


def draft_nomination(
    current: Nomination | None,
    form: NominationForm,
    placement: Placement,
    violations: Iterable[FieldViolation],
) -> list[NewEvent]:
    """A draft may be incomplete, but what it holds must be well-formed."""
    _check_new(current, form.nomination_id)
    _refuse_invalid(violations, "the draft")
    return [events.nomination_opened(events.NOMINATION_DRAFTED, form, placement)]


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
    return [events.draft_saved(nomination.nomination_id, diff)]


def submit_nomination(
    current: Nomination | None,
    form: NominationForm | None,
    placement: Placement,
    violations: Iterable[FieldViolation],
    self_assessment_total: int | None = None,
) -> list[NewEvent]:
    """Submit a draft (form=None) or a whole nomination in one step."""
    if form is not None:
        _check_new(current, form.nomination_id)
    else:
        nomination = _existing(current)
        _require_status(nomination, ("draft",), "submit")
        form, placement = nomination.form, nomination.placement
    _refuse_invalid(violations, "the nomination")
    return [events.nomination_opened(events.NOMINATION_SUBMITTED, form, placement,
                                     self_assessment_total)]


def return_nomination(
    current: Nomination | None, commission_id: str, reasons: Sequence[str],
    commission_name: str = "",
) -> list[NewEvent]:
    nomination = _existing(current)
    _require_route_holder(nomination, "commission", commission_id)
    _require_status(nomination, ("submitted",), "return")
    cleaned = _reasons(reasons, "say why the nomination is returned")
    return [events.returned(nomination.nomination_id, commission_id, commission_name,
                            cleaned)]


def resubmit_nomination(
    current: Nomination | None, changes: Mapping[str, str],
    violations: Iterable[FieldViolation], self_assessment_total: int | None = None,
) -> list[NewEvent]:
    nomination = _existing(current)
    _require_status(nomination, ("returned",), "resubmit")
    _refuse_invalid(violations, "the corrected nomination")
    return [events.resubmitted(nomination.nomination_id,
                               field_changes(nomination.fields, changes),
                               self_assessment_total)]


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
    return [events.endorsed(nomination.nomination_id, commission_id, commission_name,
                            opinion.strip())]


def forward_nomination(current: Nomination | None, commission_id: str) -> list[NewEvent]:
    nomination = _existing(current)
    _require_route_holder(nomination, "commission", commission_id)
    _require_status(nomination, ("endorsed",), "forward")
    return [events.forwarded(nomination.nomination_id, commission_id,
                             nomination.route.receiver_id)]


def receive_nomination(current: Nomination | None, receiver_id: str) -> list[NewEvent]:
    nomination = _existing(current)
    ready = "forwarded" if nomination.route.to == "commission" else "submitted"
    _require_status(nomination, (ready,), "receive")
    return [events.received(nomination.nomination_id, receiver_id)]


def amend_nomination(
    current: Nomination | None, changes: Mapping[str, str], reason: str,
    violations: Iterable[FieldViolation], self_assessment_total: int | None = None,
) -> list[NewEvent]:
    """The stage that permits amending is the handler's to check (the
    campaign clock, `laurel.campaigns.require_stage`), before this."""
    nomination = _existing(current)
    _require_status(nomination, LIVE_STATUSES, "amend")
    _refuse_invalid(violations, "the amendment")
    diff = field_changes(nomination.fields, changes)
    if not diff:
        raise InvalidArgument("the amendment changes nothing",
                              [FieldViolation("fields", "no field differs")])
    return [events.amended(nomination.nomination_id, diff, reason.strip(),
                           self_assessment_total)]


def reject_nomination(
    current: Nomination | None, organization_id: str, reasons: Sequence[str],
) -> list[NewEvent]:
    """不同意推荐: the commission declines to endorse, or the receiver (the
    center) declines to accept.

    Terminal, unlike a return: the hospital cannot resubmit it.
    """
    nomination = _existing(current)
    if organization_id == nomination.route.receiver_id:
        ready = ("forwarded", "received") if nomination.route.to == "commission" else (
            "submitted", "received")
    else:
        _require_route_holder(nomination, "commission", organization_id)
        ready = ("submitted", "endorsed")
    _require_status(nomination, ready, "reject")
    cleaned = _reasons(reasons, "say why the nomination is rejected")
    return [events.rejected(nomination.nomination_id, organization_id, cleaned,
                            nomination.category, nomination.hospital_id)]


def withdraw_nomination(current: Nomination | None, reason: str) -> list[NewEvent]:
    nomination = _existing(current)
    _require_status(nomination, ("draft", *LIVE_STATUSES), "withdraw")
    return [events.withdrawn(nomination.nomination_id, reason.strip(),
                             nomination.category, nomination.hospital_id)]


def mark_ineligible(
    current: Nomination | None, rule: str, reason: str, cause: str
) -> list[NewEvent]:
    """A rule now fails for a live nomination: record it once, with the cause."""
    nomination = _existing(current)
    if not nomination.live or not nomination.eligible:
        return []
    return [events.marked_ineligible(nomination.nomination_id, rule, reason, cause)]


def lost_support(dependant: Nomination | None, ended: Nomination, cause: RecordedEvent,
                 required_categories: Sequence[str]) -> list[NewEvent]:
    """A leader nomination whose hospital no longer has the live nomination it
    needs (`ended` was withdrawn or rejected by `cause`) becomes ineligible."""
    word = "rejected" if cause.type == events.NOMINATION_REJECTED else "withdrawn"
    return mark_ineligible(
        dependant, "requires_live_nomination",
        f"its hospital's {ended.category} nomination {ended.nomination_id} was {word}, "
        f"and no live {' or '.join(required_categories)} nomination remains",
        cause.event_id)


def attach_evidence(current: Nomination | None, attachment: Attachment) -> list[NewEvent]:
    nomination = _existing(current)
    _require_status(nomination, ("draft", *LIVE_STATUSES), "attach_evidence")
    if any(a.sha256 == attachment.sha256 for a in nomination.attachments):
        raise AlreadyExists(f"this file ({attachment.sha256[:12]}…) is already attached")
    return [events.evidence_attached(nomination.nomination_id, attachment)]


def attach_report(current: Nomination | None, attachment: Attachment, title: str,
                  reporter_organization_id: str) -> list[NewEvent]:
    """A journalist's article or report about a live nomination (stage 2)."""
    nomination = _existing(current)
    _require_status(nomination, LIVE_STATUSES, "attach a report to")
    if not title.strip():
        raise InvalidArgument("give the article's or report's title",
                              [FieldViolation("title", "required")])
    if any(a.sha256 == attachment.sha256 for a in nomination.attachments):
        raise AlreadyExists(f"this file ({attachment.sha256[:12]}…) is already attached")
    return [events.report_attached(nomination.nomination_id, attachment, title.strip(),
                                   reporter_organization_id)]


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
    """The form as it would read with `changes` (as a caller states them) applied."""
    return apply_field_changes(before, field_changes(before, changes))


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
            "routing", f"this nomination goes straight to "
            f"{nomination.route.receiver_id or 'its receiver'}; no local commission "
            "acts on it", nomination.nomination_id)
    if nomination.route.organization_id != organization_id:
        raise PermissionDenied(
            f"only {nomination.route.organization_id} acts on this nomination")


def _reasons(reasons: Sequence[str], ask: str) -> list[str]:
    cleaned = [r.strip() for r in reasons if r.strip()]
    if not cleaned:
        raise InvalidArgument(ask, [FieldViolation("reasons",
                                                   "at least one reason is required")])
    return cleaned


def _refuse_invalid(violations: Iterable[FieldViolation], what: str) -> None:
    found = list(violations)
    if found:
        raise InvalidArgument(
            f"{what} has {len(found)} invalid field(s); nothing was stored", found)


# -- folding ---------------------------------------------------------------

def _submitted(state: Nomination, event: RecordedEvent) -> dict[str, Any]:
    return {"status": "submitted", "submitted_at": format_time(event.campaign_time),
            "submitted_recorded_at": event.recorded_at, "submitted_by": event.actor.id}


def _endorsed(state: Nomination, event: RecordedEvent) -> dict[str, Any]:
    p = event.payload
    return {"status": "endorsed", "endorsement": Endorsement(
        p["opinion"], p["commission_id"], p.get("commission_name", ""),
        event.campaign_time.date().isoformat())}


def _fields_changed(state: Nomination, event: RecordedEvent) -> dict[str, Any]:
    return {"fields": apply_field_changes(state.fields, event.payload["changes"])}


def _returned(state: Nomination, event: RecordedEvent) -> dict[str, Any]:
    return {"status": "returned", "return_reasons": tuple(event.payload["reasons"])}


def _rejected(state: Nomination, event: RecordedEvent) -> dict[str, Any]:
    return {"status": "rejected", "return_reasons": tuple(event.payload["reasons"])}


def _resubmitted(state: Nomination, event: RecordedEvent) -> dict[str, Any]:
    return {"status": "submitted", "return_reasons": (),
            "fields": apply_field_changes(state.fields, event.payload["changes"])}


def _status(status: str) -> Callable[[Nomination, RecordedEvent], dict[str, Any]]:
    return lambda state, event: {"status": status}


def _marked_ineligible(state: Nomination, event: RecordedEvent) -> dict[str, Any]:
    return {"eligible": False, "ineligible_reason": event.payload["reason"]}


def _attached(state: Nomination, event: RecordedEvent) -> dict[str, Any]:
    p = event.payload
    attachment = Attachment(p["sha256"], p["filename"], p["media_type"], p["size"],
                            p["kind"])
    return {"attachments": (*state.attachments, attachment)}


# What each event changes in a state, besides its version and time, looked
# up by the event's type (an event of another type changes only those two).
_CHANGES: dict[str, Callable[[Nomination, RecordedEvent], dict[str, Any]]] = {
    events.NOMINATION_SUBMITTED: _submitted,
    events.NOMINATION_ENDORSED: _endorsed,
    events.DRAFT_SAVED: _fields_changed,
    events.NOMINATION_AMENDED: _fields_changed,
    events.NOMINATION_RETURNED: _returned,
    events.NOMINATION_REJECTED: _rejected,
    events.NOMINATION_RESUBMITTED: _resubmitted,
    events.NOMINATION_FORWARDED: _status("forwarded"),
    events.NOMINATION_RECEIVED: _status("received"),
    events.NOMINATION_WITHDRAWN: _status("withdrawn"),
    events.MARKED_INELIGIBLE: _marked_ineligible,
    events.EVIDENCE_ATTACHED: _attached,
    events.REPORT_ATTACHED: _attached,
}
_updated = state_updater(Nomination)


def evolve(state: Nomination | None, event: RecordedEvent) -> Nomination | None:
    """The state after `event`: one copy per event (the version and time it
    was updated, with whatever the event changes), filled at once by
    `state_updater` and its changes found by the event's type."""
    kind = event.type
    if kind == events.NOMINATION_DRAFTED or (
        state is None and kind == events.NOMINATION_SUBMITTED
    ):
        state = _opened(event.payload, event)
    if state is None:
        raise ValueError(f"{kind} before nomination {event.stream_id} was opened")
    change = _CHANGES.get(kind)
    changes = change(state, event) if change is not None else {}
    changes["version"] = event.version
    changes["updated_at"] = event.recorded_at
    return _updated(state, changes)


NOMINATION = Aggregate("nomination", evolve)


def fold(history: Iterable[RecordedEvent]) -> Nomination | None:
    """A stream's events folded from the start (a unit of work's `load` does
    this through the fold cache; tools and tests fold what they read)."""
    state: Nomination | None = None
    for event in history:
        state = evolve(state, event)
    return state


def _opened(p: Mapping[str, Any], event: RecordedEvent) -> Nomination:
    nominee = p["nominee"]
    route = p.get("route", {"to": "center", "organization_id": ""})
    # Before routing was campaign data, a route straight through named its
    # receiver only as organization_id; one through a commission left it to
    # the campaign's one receiver (`receiver_id` "" here: see the handlers).
    receiver_id = route.get("receiver_id") or (
        route["organization_id"] if route["to"] == "center" else "")
    return Nomination(
        nomination_id=p["nomination_id"],
        campaign_id=p["campaign_id"],
        category=p["category"],
        nominee=Nominee(canonical_nominee_kind(nominee["kind"]) or nominee["kind"],
                        nominee["name"], nominee["organization_id"]),
        hospital_id=p.get("hospital_id", nominee["organization_id"]),
        jurisdiction_id=p.get("jurisdiction_id", ""),
        route=Route(route["to"], route["organization_id"], receiver_id),
        fields=dict(p["fields"]),
        status="draft",
        created_at=event.recorded_at,
    )
