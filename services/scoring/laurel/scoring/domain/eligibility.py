"""Eligibility: the compliance registry and the rules that read it.

Complaints and penalties arrive from other systems (gRPC, Kafka) and are kept
here as events, so that a verdict can always say which entries it saw and an
auditor can fold the registry to the moment the verdict was recorded. Entries
are never deleted: a complaint found baseless is withdrawn, and rules skip it
while still listing it as seen.

Each rule returns one `EligibilityVerdictRecorded` event: the rule's name, its
parameters, eligible or ineligible, the reason in words, and the ids it looked
at. `nominations_to_reevaluate` says which verdicts a changed fact may have
made stale, so the application re-runs exactly those rules.

Pure: dates (`as_of`) and the nominations' facts are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from laurel.envelope import Aggregate, NewEvent, RecordedEvent
from laurel.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound

COMPLAINT_RECORDED = "ComplaintRecorded"
PENALTY_RECORDED = "PenaltyRecorded"
ENTRY_WITHDRAWN = "ComplianceEntryWithdrawn"
VERDICT_RECORDED = "EligibilityVerdictRecorded"
NOMINATION_WITHDRAWN = "NominationWithdrawn"  # intake's event
RUBRIC_AMENDED = "RubricAmended"

COMPLAINT, PENALTY = "complaint", "penalty"
SUBJECT_KINDS = ("organization", "department", "person")
ELIGIBLE, INELIGIBLE = "eligible", "ineligible"

RULE_NO_COMPLAINT = "no_complaint_within_years"
RULE_NO_PENALTY = "no_penalty_within_years"
RULE_SELF_ASSESSMENT = "self_assessment_threshold"
RULE_LIVE_BENCHMARK = "requires_live_nomination"
BENCHMARK_CATEGORIES = ("ten_measures_benchmark", "single_measure_benchmark")

FACT_COMPLAINT, FACT_PENALTY = COMPLAINT, PENALTY
FACT_BENCHMARK_WITHDRAWN = "benchmark_withdrawn"
FACT_RUBRIC_AMENDED = "rubric_amended"

_KIND_OF_EVENT = {COMPLAINT_RECORDED: COMPLAINT, PENALTY_RECORDED: PENALTY}
_RULE_OF_KIND = {COMPLAINT: RULE_NO_COMPLAINT, PENALTY: RULE_NO_PENALTY}


@dataclass(frozen=True)
class ComplianceReport:
    """A complaint or penalty as another system reports it."""

    entry_id: str
    subject_kind: str
    subject_id: str
    occurred_on: date
    source: str = ""
    summary: str = ""


@dataclass(frozen=True)
class ComplianceEntry:
    entry_id: str
    kind: str
    subject_kind: str
    subject_id: str
    occurred_on: date
    source: str
    summary: str
    withdrawn: bool = False
    withdrawn_reason: str = ""


@dataclass(frozen=True)
class ComplianceRegistry:
    entries: Mapping[str, ComplianceEntry] = field(default_factory=dict)

    def about(self, kind: str, subject_ids: Iterable[str]) -> list[ComplianceEntry]:
        wanted = set(subject_ids)
        return [e for _, e in sorted(self.entries.items())
                if e.kind == kind and e.subject_id in wanted]


REGISTRY_STREAM = "compliance-registry"


def verdict_stream_id(nomination_id: str) -> str:
    return f"eligibility-{nomination_id}"


# -- the registry: deciding ----------------------------------------------------


def record_complaint(
    registry: ComplianceRegistry, report: ComplianceReport
) -> list[NewEvent]:
    return _record(registry, COMPLAINT_RECORDED, report)


def record_penalty(
    registry: ComplianceRegistry, report: ComplianceReport
) -> list[NewEvent]:
    return _record(registry, PENALTY_RECORDED, report)


def withdraw_entry(
    registry: ComplianceRegistry, entry_id: str, reason: str, withdrawn_on: date
) -> list[NewEvent]:
    """Withdrawing twice changes nothing, so a redelivered request is harmless."""
    entry = registry.entries.get(entry_id)
    if entry is None:
        raise NotFound(f"no compliance entry {entry_id}", field="entry_id")
    if not reason.strip():
        raise InvalidArgument("say why the entry is withdrawn",
                              [FieldViolation("reason", "required")])
    if entry.withdrawn:
        return []
    return [NewEvent(ENTRY_WITHDRAWN, {
        "entry_id": entry_id, "kind": entry.kind, "subject_id": entry.subject_id,
        "reason": reason.strip(), "withdrawn_on": withdrawn_on.isoformat(),
    })]


def _record(
    registry: ComplianceRegistry, event_type: str, report: ComplianceReport
) -> list[NewEvent]:
    """The same report twice records once; a different one under its id is refused."""
    _check_report(report)
    payload = {
        "entry_id": report.entry_id, "subject_kind": report.subject_kind,
        "subject_id": report.subject_id, "occurred_on": report.occurred_on.isoformat(),
        "source": report.source, "summary": report.summary,
    }
    known = registry.entries.get(report.entry_id)
    if known is None:
        return [NewEvent(event_type, payload)]
    if _entry_payload(known) == payload and known.kind == _KIND_OF_EVENT[event_type]:
        return []
    raise AlreadyExists(f"compliance entry {report.entry_id} exists with other content")


def _check_report(report: ComplianceReport) -> None:
    found = []
    if not report.entry_id.strip():
        found.append(FieldViolation("entry_id", "required"))
    if report.subject_kind not in SUBJECT_KINDS:
        found.append(FieldViolation("subject_kind", " or ".join(SUBJECT_KINDS)))
    if not report.subject_id.strip():
        found.append(FieldViolation("subject_id", "required"))
    if found:
        raise InvalidArgument(f"the compliance report has {len(found)} problem(s)",
                              found)


def _entry_payload(entry: ComplianceEntry) -> dict[str, Any]:
    return {
        "entry_id": entry.entry_id, "subject_kind": entry.subject_kind,
        "subject_id": entry.subject_id, "occurred_on": entry.occurred_on.isoformat(),
        "source": entry.source, "summary": entry.summary,
    }


FEED_KINDS = (COMPLAINT, PENALTY, "withdrawal")


def decide_feed_report(registry: ComplianceRegistry, body: Mapping[str, Any],
                       today: date) -> list[NewEvent]:
    """A report from another system's feed ({"kind": complaint|penalty|
    withdrawal, "entry_id", ...}, not a Laurel event): decided like the same
    request over gRPC. KeyError, TypeError or ValueError for a malformed one."""
    kind = body["kind"]
    if kind == "withdrawal":
        on = body.get("withdrawn_on") or today.isoformat()
        return withdraw_entry(registry, body["entry_id"], body.get("reason", ""),
                              date.fromisoformat(on))
    if kind not in (COMPLAINT, PENALTY):
        raise ValueError(f"unknown kind {kind!r}: {', '.join(FEED_KINDS)}")
    report = ComplianceReport(
        str(body["entry_id"]), body["subject_kind"], body["subject_id"],
        date.fromisoformat(body["occurred_on"]), body.get("source", ""),
        body.get("summary", ""))
    if kind == COMPLAINT:
        return record_complaint(registry, report)
    return record_penalty(registry, report)


# -- the registry: folding -----------------------------------------------------


def fold_registry(events: Iterable[RecordedEvent]) -> ComplianceRegistry:
    registry = ComplianceRegistry()
    for event in events:
        registry = apply_registry(registry, event)
    return registry


def apply_registry(
    registry: ComplianceRegistry, event: RecordedEvent
) -> ComplianceRegistry:
    p = event.payload
    if event.type in _KIND_OF_EVENT:
        entry = ComplianceEntry(
            p["entry_id"], _KIND_OF_EVENT[event.type], p["subject_kind"],
            p["subject_id"], date.fromisoformat(p["occurred_on"]), p["source"],
            p["summary"])
        return ComplianceRegistry({**registry.entries, entry.entry_id: entry})
    if event.type == ENTRY_WITHDRAWN:
        entry = replace(registry.entries[p["entry_id"]], withdrawn=True,
                        withdrawn_reason=p["reason"])
        return ComplianceRegistry({**registry.entries, entry.entry_id: entry})
    return registry


def _evolve_registry(registry: ComplianceRegistry | None, event: RecordedEvent
                     ) -> ComplianceRegistry:
    return apply_registry(registry or ComplianceRegistry(), event)


REGISTRY = Aggregate("scoring-compliance-registry", _evolve_registry)


# -- rules ---------------------------------------------------------------------


@dataclass(frozen=True)
class HospitalNomination:
    """One of a hospital's nominations, as intake last reported it."""

    nomination_id: str
    category: str
    hospital_id: str
    live: bool


def no_complaint_within(
    registry: ComplianceRegistry, nomination_id: str, subject_ids: Sequence[str],
    years: int, as_of: date, cause: str = "",
) -> NewEvent:
    """Warm service post: no patient complaint or report within `years` years."""
    return _clean_record(registry, COMPLAINT, nomination_id, subject_ids, years,
                         as_of, cause)


def no_penalty_within(
    registry: ComplianceRegistry, nomination_id: str, subject_ids: Sequence[str],
    years: int, as_of: date, cause: str = "",
) -> NewEvent:
    """Service leader: no penalty record within `years` years."""
    return _clean_record(registry, PENALTY, nomination_id, subject_ids, years,
                         as_of, cause)


def self_assessment_at_least(
    nomination_id: str, total: int | None, threshold: int, cause: str = ""
) -> NewEvent:
    """Ten-measures benchmark unit: the computed self-assessment reaches the bar."""
    ok = total is not None and total >= threshold
    if total is None:
        reason = f"no self-assessment total was recorded; the threshold is {threshold}"
    else:
        reason = (f"the self-assessment totals {total} points, "
                  f"{'at least' if ok else 'below'} the threshold of {threshold}")
    return _verdict(nomination_id, RULE_SELF_ASSESSMENT,
                    {"threshold": threshold, "total": total}, ok, reason, cause)


def hospital_has_live_benchmark(
    nomination_id: str, hospital_id: str, nominations: Iterable[HospitalNomination],
    categories: Sequence[str] = BENCHMARK_CATEGORIES, cause: str = "",
) -> NewEvent:
    """Service leader: their hospital has a live category-1 or -2 nomination."""
    own = sorted((n for n in nominations if n.hospital_id == hospital_id
                  and n.category in categories and n.nomination_id != nomination_id),
                 key=lambda n: n.nomination_id)
    live = [n.nomination_id for n in own if n.live]
    if live:
        reason = f"hospital {hospital_id} has live nomination(s) {', '.join(live)}"
    else:
        reason = (f"hospital {hospital_id} has no live nomination in "
                  f"{' or '.join(categories)}")
    return _verdict(nomination_id, RULE_LIVE_BENCHMARK,
                    {"hospital_id": hospital_id, "categories": list(categories)},
                    bool(live), reason, cause,
                    nominations_seen=[n.nomination_id for n in own])


def window_start(as_of: date, years: int) -> date:
    """The same calendar day `years` earlier; 29 February falls back to the 28th."""
    try:
        return as_of.replace(year=as_of.year - years)
    except ValueError:
        return as_of.replace(year=as_of.year - years, day=28)


def _clean_record(
    registry: ComplianceRegistry, kind: str, nomination_id: str,
    subject_ids: Sequence[str], years: int, as_of: date, cause: str,
) -> NewEvent:
    _check_rule_inputs(subject_ids, years)
    start = window_start(as_of, years)
    seen = registry.about(kind, subject_ids)
    counted = [e for e in seen if not e.withdrawn and start <= e.occurred_on <= as_of]
    parameters = {"years": years, "as_of": as_of.isoformat(),
                  "window_start": start.isoformat(), "subject_ids": sorted(subject_ids)}
    return _verdict(nomination_id, _RULE_OF_KIND[kind], parameters, not counted,
                    _clean_reason(kind, seen, counted, start, as_of), cause,
                    entries_seen=[e.entry_id for e in seen],
                    entries_counted=[e.entry_id for e in counted])


def _clean_reason(
    kind: str, seen: Sequence[ComplianceEntry], counted: Sequence[ComplianceEntry],
    start: date, as_of: date,
) -> str:
    span = f"between {start.isoformat()} and {as_of.isoformat()}"
    if counted:
        listed = "; ".join(f"{e.entry_id} about {e.subject_id} on "
                           f"{e.occurred_on.isoformat()}" for e in counted)
        return f"{len(counted)} {kind}(s) {span}: {listed}"
    ignored = [f"{e.entry_id} withdrawn" if e.withdrawn else
               f"{e.entry_id} on {e.occurred_on.isoformat()}, outside the window"
               for e in seen]
    tail = f" ({len(seen)} seen: {'; '.join(ignored)})" if seen else " (none seen)"
    return f"no {kind} {span}{tail}"


def _check_rule_inputs(subject_ids: Sequence[str], years: int) -> None:
    found = []
    if not [s for s in subject_ids if s.strip()]:
        found.append(FieldViolation("subject_ids", "at least one subject"))
    if years < 1:
        found.append(FieldViolation("years", "at least 1"))
    if found:
        raise InvalidArgument("the rule cannot be evaluated", found)


def _verdict(
    nomination_id: str, rule: str, parameters: Mapping[str, Any], eligible: bool,
    reason: str, cause: str, *, entries_seen: Sequence[str] = (),
    entries_counted: Sequence[str] = (), nominations_seen: Sequence[str] = (),
) -> NewEvent:
    return NewEvent(VERDICT_RECORDED, {
        "nomination_id": nomination_id,
        "rule": rule,
        "parameters": dict(parameters),
        "decision": ELIGIBLE if eligible else INELIGIBLE,
        "reason": reason,
        "entries_seen": list(entries_seen),
        "entries_counted": list(entries_counted),
        "nominations_seen": list(nominations_seen),
        "cause": cause,
    })


# -- verdicts: folding -----------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    rule: str
    decision: str
    reason: str
    parameters: Mapping[str, Any]
    recorded_at: str


@dataclass(frozen=True)
class NominationEligibility:
    """The latest verdict of each rule for one nomination, and all before it."""

    nomination_id: str
    latest: Mapping[str, Verdict] = field(default_factory=dict)
    history: tuple[Verdict, ...] = ()

    @property
    def eligible(self) -> bool:
        return all(v.decision == ELIGIBLE for v in self.latest.values())


def fold_verdicts(events: Iterable[RecordedEvent]) -> NominationEligibility | None:
    state: NominationEligibility | None = None
    for event in events:
        state = apply_verdict(state, event)
    return state


def apply_verdict(
    state: NominationEligibility | None, event: RecordedEvent
) -> NominationEligibility | None:
    if event.type != VERDICT_RECORDED:
        return state
    p = event.payload
    verdict = Verdict(p["rule"], p["decision"], p["reason"], p["parameters"],
                      event.recorded_at)
    current = state or NominationEligibility(p["nomination_id"])
    return replace(current, latest={**current.latest, verdict.rule: verdict},
                   history=(*current.history, verdict))


def changes_verdict(state: NominationEligibility | None, verdict: NewEvent) -> bool:
    """Whether a freshly evaluated verdict differs from the one on record."""
    if state is None:
        return True
    known = state.latest.get(verdict.payload["rule"])
    return known is None or (known.decision, known.reason, dict(known.parameters)) != (
        verdict.payload["decision"], verdict.payload["reason"],
        verdict.payload["parameters"])


def changes_decision(state: NominationEligibility | None, verdict: NewEvent) -> bool:
    """Whether a fresh verdict decides its rule differently from the one on
    record (or decides it for the first time)."""
    known = state.latest.get(verdict.payload["rule"]) if state is not None else None
    return known is None or known.decision != verdict.payload["decision"]


# -- re-evaluation -----------------------------------------------------------------


@dataclass(frozen=True)
class NominationFacts:
    """What re-evaluation needs to know of a nomination: where it sits, its rules."""

    nomination_id: str
    campaign_id: str
    category: str
    hospital_id: str
    subject_ids: tuple[str, ...]
    rules: tuple[str, ...]
    live: bool = True


@dataclass(frozen=True)
class FactChange:
    """A fact some verdicts depended on changed; `ref` names the event behind it."""

    kind: str
    ref: str
    subject_id: str = ""
    hospital_id: str = ""
    campaign_id: str = ""
    category: str = ""


@dataclass(frozen=True)
class Reevaluation:
    nomination_id: str
    rules: tuple[str, ...]
    cause: str


def nominations_to_reevaluate(
    change: FactChange, nominations: Iterable[NominationFacts],
    benchmark_categories: Sequence[str] = BENCHMARK_CATEGORIES,
) -> list[Reevaluation]:
    """Live nominations whose verdicts may be stale, each with the rules to re-run."""
    rule = _rule_for(change, benchmark_categories)
    if rule is None:
        return []
    cause = f"{change.kind}:{change.ref}"
    hits = [n for n in nominations
            if n.live and rule in n.rules and _affected(change, n)]
    return [Reevaluation(n.nomination_id, (rule,), cause)
            for n in sorted(hits, key=lambda n: n.nomination_id)]


def fact_change_from(event: RecordedEvent) -> FactChange | None:
    """The fact an event changed, if any eligibility rule reads it."""
    p = event.payload
    if event.type in _KIND_OF_EVENT:
        return FactChange(_KIND_OF_EVENT[event.type], p["entry_id"],
                          subject_id=p["subject_id"])
    if event.type == ENTRY_WITHDRAWN:
        return FactChange(p["kind"], p["entry_id"], subject_id=p["subject_id"])
    if event.type == NOMINATION_WITHDRAWN:
        return FactChange(FACT_BENCHMARK_WITHDRAWN, p["nomination_id"],
                          hospital_id=p.get("hospital_id", ""),
                          campaign_id=p.get("campaign_id", ""),
                          category=p.get("category", ""))
    if event.type == RUBRIC_AMENDED:
        return FactChange(FACT_RUBRIC_AMENDED, event.event_id,
                          campaign_id=p["campaign_id"], category=p.get("category", ""))
    return None


def _rule_for(change: FactChange, benchmark_categories: Sequence[str]) -> str | None:
    if change.kind in _RULE_OF_KIND:
        return _RULE_OF_KIND[change.kind]
    if change.kind == FACT_BENCHMARK_WITHDRAWN:
        return RULE_LIVE_BENCHMARK if change.category in benchmark_categories else None
    if change.kind == FACT_RUBRIC_AMENDED:
        return RULE_SELF_ASSESSMENT
    return None


def _affected(change: FactChange, nomination: NominationFacts) -> bool:
    """Empty campaign or category in a change means 'any'."""
    same_campaign = change.campaign_id in ("", nomination.campaign_id)
    if change.kind in _RULE_OF_KIND:
        return change.subject_id in nomination.subject_ids
    if change.kind == FACT_BENCHMARK_WITHDRAWN:
        return (same_campaign and change.hospital_id == nomination.hospital_id
                and change.ref != nomination.nomination_id)
    return same_campaign and change.category in ("", nomination.category)
