"""What review knows of nominations and results, as other services told it.

Intake's events say which nominations exist, where they sit (for conflicts)
and when they were received (reviewable); scoring's say which are ineligible
and which result version a round has. Review notes each as its own event
(`events.nomination_noted` …), and a nomination's stream folds back into what
review knows of it (`NOMINATION`).

Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from laurel.campaigns.vocabulary import canonical_nominee_kind
from laurel.contracts.intake import apply_field_changes
from laurel.envelope import RecordedEvent, state_updater
from laurel.review.domain.assignment import Nominee as ConflictSubject
from laurel.review.domain.events import NOMINATION_NOTED
from laurel.unit_of_work import Aggregate

# Intake's and scoring's events that review notes.
SUBMITTED = "NominationSubmitted"
AMENDED = "NominationAmended"
RESUBMITTED = "NominationResubmitted"
RECEIVED = "NominationReceived"
WITHDRAWN = "NominationWithdrawn"
MARKED_INELIGIBLE = "NominationMarkedIneligible"
REJECTED = "NominationRejected"
TRACKED_TYPES = (SUBMITTED, AMENDED, RESUBMITTED, RECEIVED, WITHDRAWN,
                 MARKED_INELIGIBLE, REJECTED)
VERDICT_RECORDED = "EligibilityVerdictRecorded"
RESULT_COMPUTED = "ResultComputed"
# What a nomination's status becomes after these (a rejection, by a commission
# or the center, leaves it unreviewed).
_STATUS = {RECEIVED: "received", WITHDRAWN: "withdrawn", REJECTED: "rejected"}


@dataclass(frozen=True)
class Nomination:
    nomination_id: str
    campaign_id: str
    category: str
    hospital_id: str
    jurisdiction_id: str
    nominee_kind: str
    nominee_name: str
    nominee_organization_id: str
    fields: Mapping[str, str] = field(default_factory=dict)
    status: str = "submitted"
    intake_ineligible_reason: str = ""

    @property
    def reviewable(self) -> bool:
        return self.status == "received"

    def conflict_subject(self) -> ConflictSubject:
        """The ids a reviewer may conflict with: hospital, jurisdiction, nominee."""
        related = [self.nominee_organization_id]
        if canonical_nominee_kind(self.nominee_kind) == "person":  # "manager" too
            related.append(f"{self.hospital_id}/{self.nominee_name.strip()}")
        return ConflictSubject(self.nomination_id, self.hospital_id,
                               self.jurisdiction_id,
                               tuple(r for r in related if r))

    def to_payload(self) -> dict[str, Any]:
        """The fields by name, written directly: `dataclasses.asdict` deep-copies
        every value (each form field), which cost a fifth of a consumer's CPU
        per event; the only non-scalars are the mappings, copied sorted here."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["fields"] = dict(sorted(self.fields.items()))
        return data

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Nomination:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def track(current: Nomination | None, event: RecordedEvent) -> Nomination | None:
    """The nomination after an intake event; None while no submission was seen."""
    p = event.payload
    if event.type == SUBMITTED:
        nominee = p["nominee"]
        return Nomination(
            p["nomination_id"], p["campaign_id"], p["category"],
            p.get("hospital_id", ""), p.get("jurisdiction_id", ""), nominee["kind"],
            nominee["name"], nominee.get("organization_id", ""),
            dict(p.get("fields", {})))
    if current is None:
        return None
    kind = event.type
    changes: dict[str, Any] = {}
    if kind in (AMENDED, RESUBMITTED):
        changes["fields"] = apply_field_changes(current.fields, p.get("changes"))
    if kind in _STATUS:
        changes["status"] = _STATUS[kind]
    if kind == MARKED_INELIGIBLE:
        changes["intake_ineligible_reason"] = (p.get("reason", "")
                                               or p.get("rule", "ineligible"))
    # One copy per event, with all it changes; an event that changes nothing
    # gives `current` itself.
    return _updated(current, changes) if changes else current


def evolve(state: Nomination | None, event: RecordedEvent) -> Nomination | None:
    """A nomination's stream in review: the latest NominationNoted counts."""
    if event.type == NOMINATION_NOTED:
        return Nomination.from_payload(event.payload["nomination"])
    return state


NOMINATION = Aggregate("review-nomination", evolve)
_updated = state_updater(Nomination)
