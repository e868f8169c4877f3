"""What review knows of nominations and results, as other services told it.

Intake's events say which nominations exist, where they sit (for conflicts)
and when they were received (reviewable); scoring's say which are ineligible
and which result version a round has. Review notes each as its own event,
naming the event it came from, so assignment, blind review and decisions can
be replayed from review's log alone.

Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from laurel.envelope import NewEvent, RecordedEvent
from laurel.review.assignment import Nominee as ConflictSubject

NOMINATION_NOTED = "NominationNoted"
ELIGIBILITY_NOTED = "EligibilityNoted"
RESULT_VERSION_NOTED = "ResultVersionNoted"

SUBMITTED = "NominationSubmitted"
AMENDED = "NominationAmended"
RESUBMITTED = "NominationResubmitted"
RECEIVED = "NominationReceived"
WITHDRAWN = "NominationWithdrawn"
MARKED_INELIGIBLE = "NominationMarkedIneligible"
TRACKED_TYPES = (SUBMITTED, AMENDED, RESUBMITTED, RECEIVED, WITHDRAWN,
                 MARKED_INELIGIBLE)
VERDICT_RECORDED = "EligibilityVerdictRecorded"
RESULT_COMPUTED = "ResultComputed"


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
        if self.nominee_kind == "manager":
            related.append(f"{self.hospital_id}/{self.nominee_name.strip()}")
        return ConflictSubject(self.nomination_id, self.hospital_id,
                               self.jurisdiction_id,
                               tuple(r for r in related if r))

    def to_payload(self) -> dict[str, Any]:
        data = asdict(self)
        data["fields"] = dict(sorted(self.fields.items()))
        return data

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Nomination:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def nomination_stream(nomination_id: str) -> str:
    return f"review-nomination-{nomination_id}"


def results_stream(round_id: str) -> str:
    return f"review-results-{round_id}"


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
    if event.type in (AMENDED, RESUBMITTED):
        fields = dict(current.fields)
        for key, change in (p.get("changes") or {}).items():
            if change.get("after") is None:
                fields.pop(key, None)
            else:
                fields[key] = change["after"]
        current = replace(current, fields=fields)
    if event.type == RECEIVED:
        current = replace(current, status="received")
    if event.type == WITHDRAWN:
        current = replace(current, status="withdrawn")
    if event.type == MARKED_INELIGIBLE:
        current = replace(current, intake_ineligible_reason=p.get("reason", "") or
                          p.get("rule", "ineligible"))
    return current


def noted(nomination: Nomination, source: RecordedEvent) -> NewEvent:
    return NewEvent(NOMINATION_NOTED, {
        "nomination_id": nomination.nomination_id, "source_type": source.type,
        "source_event_id": source.event_id, "nomination": nomination.to_payload()})


def eligibility_noted(verdict: RecordedEvent) -> NewEvent:
    p = verdict.payload
    return NewEvent(ELIGIBILITY_NOTED, {
        "nomination_id": p["nomination_id"], "rule": p["rule"],
        "decision": p["decision"], "reason": p["reason"],
        "source_event_id": verdict.event_id})


def result_noted(result: RecordedEvent) -> NewEvent:
    """The ranking in short: who is where, with which tier; scoring has the rest."""
    p = result.payload
    return NewEvent(RESULT_VERSION_NOTED, {
        "round_id": p["round_id"], "campaign_id": p["campaign_id"],
        "category": p["category"], "version": p["version"],
        "entries": [{k: e[k] for k in ("rank", "nomination_id", "score_display",
                                       "tier")} for e in p["entries"]],
        "ineligible": sorted(p.get("ineligible", {})),
        "source_event_id": result.event_id})
