"""What scoring knows of each nomination, as intake's events told it.

Scoring never asks intake: it notes the facts its rules need (where the
nomination sits, its nominee, its form, its evidence, whether it is live) as
its own `NominationFactsNoted` events, each naming the intake event it came
from. So a verdict can be replayed from scoring's log alone, and an auditor
sees which intake event scoring had seen when it decided.

Pure: `track` folds one intake event into the facts; `FACTS` folds scoring's
own notes of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from laurel.campaigns.vocabulary import canonical_nominee_kind
from laurel.contracts.intake import LIVE_STATUSES, apply_field_changes
from laurel.envelope import Aggregate, NewEvent, RecordedEvent, state_updater
from laurel.scoring.domain.eligibility import HospitalNomination, NominationFacts

NOMINATION_FACTS_NOTED = "NominationFactsNoted"

SUBMITTED = "NominationSubmitted"
RESUBMITTED = "NominationResubmitted"
RETURNED = "NominationReturned"
ENDORSED = "NominationEndorsed"
FORWARDED = "NominationForwarded"
RECEIVED = "NominationReceived"
AMENDED = "NominationAmended"
WITHDRAWN = "NominationWithdrawn"
MARKED_INELIGIBLE = "NominationMarkedIneligible"
REJECTED = "NominationRejected"
EVIDENCE_ATTACHED = "EvidenceAttached"
TRACKED_TYPES = (SUBMITTED, RESUBMITTED, RETURNED, ENDORSED, FORWARDED, RECEIVED,
                 AMENDED, WITHDRAWN, MARKED_INELIGIBLE, REJECTED, EVIDENCE_ATTACHED)

_STATUS = {RETURNED: "returned", ENDORSED: "endorsed", FORWARDED: "forwarded",
           RECEIVED: "received", WITHDRAWN: "withdrawn", RESUBMITTED: "submitted",
           REJECTED: "rejected"}
# A nomination that left the competition (by its nominator, or refused by a
# commission or the center): never evaluable, never ranked.
OUT = ("withdrawn", "rejected")


@dataclass(frozen=True)
class Tracked:
    nomination_id: str
    campaign_id: str
    category: str
    hospital_id: str
    jurisdiction_id: str
    nominee_kind: str
    nominee_name: str
    nominee_organization_id: str
    fields: Mapping[str, str] = field(default_factory=dict)
    self_assessment_total: int | None = None
    evidence: Mapping[str, int] = field(default_factory=dict)
    status: str = "submitted"
    intake_eligible: bool = True
    received: bool = False
    submitted_at: str = ""

    @property
    def live(self) -> bool:
        """Counts as a live nomination for rules that need one (intake's sense)."""
        return self.status in LIVE_STATUSES and self.intake_eligible

    @property
    def evaluable(self) -> bool:
        """Received by the center and still competing: its verdicts matter."""
        return self.received and self.status not in OUT

    @property
    def out(self) -> bool:
        """Withdrawn or rejected: it left the competition for good."""
        return self.status in OUT

    def subject_ids(self) -> tuple[str, ...]:
        """Who the compliance registry must be asked about.

        A department or ward answers for itself, a manager for themself (a
        person is `<hospital>/<name>`), anything else for its hospital.
        """
        kind = canonical_nominee_kind(self.nominee_kind)  # old words read too
        if kind in ("department", "ward", "innovation_project"):
            return (self.nominee_organization_id or self.hospital_id,)
        if kind == "person":
            return (person_id(self.hospital_id, self.nominee_name),)
        return (self.hospital_id,)

    def as_hospital_nomination(self) -> HospitalNomination:
        return HospitalNomination(self.nomination_id, self.category, self.hospital_id,
                                  self.live)

    def for_reevaluation(self, rules: Iterable[str]) -> NominationFacts:
        return NominationFacts(self.nomination_id, self.campaign_id, self.category,
                               self.hospital_id, self.subject_ids(), tuple(rules),
                               live=self.evaluable)

    def to_payload(self) -> dict[str, Any]:
        """The fields by name, written directly: `dataclasses.asdict` deep-copies
        every value (each form field), which cost a fifth of a consumer's CPU
        per event; the only non-scalars are the mappings, copied sorted here."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["fields"] = dict(sorted(self.fields.items()))
        data["evidence"] = dict(sorted(self.evidence.items()))
        return data

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Tracked:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def person_id(hospital_id: str, name: str) -> str:
    return f"{hospital_id}/{name.strip()}"


def stream_id(nomination_id: str) -> str:
    return f"scoring-nomination-{nomination_id}"


# -- noting -------------------------------------------------------------------


def track(current: Tracked | None, event: RecordedEvent) -> Tracked | None:
    """The facts after an intake event; None while no submission was seen.

    One copy per event, with all it changes (`state_updater`); an event that
    changes nothing gives `current` itself."""
    p = event.payload
    kind = event.type
    if kind == SUBMITTED:
        return _opened(p, event.recorded_at, current)
    if current is None:
        return None
    changes: dict[str, Any] = {}
    if kind in (AMENDED, RESUBMITTED):
        changes["fields"] = apply_field_changes(current.fields, p.get("changes"))
        changes["self_assessment_total"] = p.get("self_assessment_total",
                                                 current.self_assessment_total)
    if kind in _STATUS:
        changes["status"] = _STATUS[kind]
        changes["received"] = current.received or kind == RECEIVED
    if kind == MARKED_INELIGIBLE:
        changes["intake_eligible"] = False
    if kind == EVIDENCE_ATTACHED:
        evidence_kind = p.get("kind", "")
        changes["evidence"] = {**current.evidence,
                               evidence_kind: current.evidence.get(evidence_kind, 0) + 1}
    return _updated(current, changes) if changes else current


def noted(facts: Tracked, source: RecordedEvent) -> NewEvent:
    return NewEvent(NOMINATION_FACTS_NOTED, {
        "nomination_id": facts.nomination_id, "source_type": source.type,
        "source_event_id": source.event_id, "facts": facts.to_payload()})


def evolve(state: Tracked | None, event: RecordedEvent) -> Tracked | None:
    """The facts as last noted: each note carries them whole."""
    if event.type == NOMINATION_FACTS_NOTED:
        return Tracked.from_payload(event.payload["facts"])
    return state


FACTS = Aggregate("scoring-nomination-facts", evolve)
_updated = state_updater(Tracked)


def _opened(p: Mapping[str, Any], recorded_at: str, current: Tracked | None
            ) -> Tracked:
    nominee = p["nominee"]
    evidence = current.evidence if current else {}
    return Tracked(
        nomination_id=p["nomination_id"], campaign_id=p["campaign_id"],
        category=p["category"], hospital_id=p.get("hospital_id", ""),
        jurisdiction_id=p.get("jurisdiction_id", ""), nominee_kind=nominee["kind"],
        nominee_name=nominee["name"],
        nominee_organization_id=nominee.get("organization_id", ""),
        fields=dict(p.get("fields", {})),
        self_assessment_total=p.get("self_assessment_total"), evidence=evidence,
        submitted_at=recorded_at)
