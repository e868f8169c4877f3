"""What scoring does with the events of other services and the compliance feed.

Each consumed event is applied once: its inbox mark commits with its effect
(the facts noted, the verdicts and results they changed), so a redelivered
message finds the mark and changes nothing. Compliance reports from other
systems carry no Laurel event id; they need no mark, because recording the
same report twice records it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from laurel.consumption import apply_once
from laurel.envelope import Actor, EventMetadata, NewEvent, RecordedEvent
from laurel.errors import LaurelError
from laurel.eventstore import Transaction
from laurel.scoring import eligibility as el
from laurel.scoring import facts, policy, round_inputs
from laurel.scoring.engine import CAMPAIGN_NOTED, ScoringEngine, campaign_stream
from laurel.telemetry import current_trace_carrier

log = logging.getLogger("laurel.scoring.inbox")

CONSUMER = "scoring"
SCORING_ACTOR = Actor("scoring", "service")
FEED_ACTOR = Actor("compliance-feed", "service")
CAMPAIGN_DEFINED, CAMPAIGN_AMENDED = "CampaignDefined", "CampaignAmended"
RECOMPUTE_ON = (round_inputs.SCORE_RECORDED, round_inputs.REVIEWER_RECUSED)

# The older handler form, until these handlers take the unit of work itself.
TxHandler = Callable[[Transaction, RecordedEvent, EventMetadata], None]


class ScoringInbox:
    def __init__(self, engine: ScoringEngine) -> None:
        self.engine = engine
        self.store = engine.store
        self.projection = engine.projection

    # -- intake ----------------------------------------------------------------

    def on_intake_event(self, event: RecordedEvent) -> None:
        if event.type in (CAMPAIGN_DEFINED, CAMPAIGN_AMENDED):
            self._once(event, self._campaign)
        elif event.type in facts.TRACKED_TYPES:
            self._once(event, self._nomination)

    def _nomination(self, tx: Transaction, event: RecordedEvent,
                    meta: EventMetadata) -> None:
        nid = event.payload["nomination_id"]
        before = self.projection.tracked(tx.conn, [nid]).get(nid)
        after = facts.track(before, event)
        if after is None or after == before:
            return
        tx.append(facts.stream_id(nid), None, [facts.noted(after, event)], meta)
        targets = self._own_rules(after, event)
        if before is None or before.live != after.live:
            cause = (f"{el.FACT_BENCHMARK_WITHDRAWN}:{nid}"
                     if event.type == facts.WITHDRAWN
                     else f"benchmark_{'live' if after.live else 'not_live'}:{nid}")
            targets += self.engine.dependants(tx, after, cause)
        flipped, _ = self.engine.reevaluate(tx, targets, meta)
        if after.status == "withdrawn":
            flipped.append(nid)
        self.engine.recompute_rounds(tx, flipped, meta, f"{event.type}:{nid}")

    @staticmethod
    def _own_rules(after: facts.Tracked, event: RecordedEvent) -> list:
        if not after.evaluable:
            return []
        if event.type == facts.RECEIVED:
            return [(after, None, f"nomination_received:{event.event_id}")]
        if event.type in (facts.AMENDED, facts.RESUBMITTED):
            return [(after, (el.RULE_SELF_ASSESSMENT, policy.RULE_NAMES_MEASURES),
                     f"nomination_amended:{event.event_id}")]
        if event.type == facts.EVIDENCE_ATTACHED:
            return [(after, (policy.RULE_EVIDENCE,),
                     f"evidence_attached:{event.event_id}")]
        return []

    def _campaign(self, tx: Transaction, event: RecordedEvent,
                  meta: EventMetadata) -> None:
        """Note the definition; an amended rubric re-runs its category's rules."""
        p = event.payload
        campaign_id = p["campaign_id"]
        before = self.engine.definition(campaign_id)
        after = self.engine.parse(p)
        noted = NewEvent(CAMPAIGN_NOTED, {
            "campaign_id": campaign_id, "digest": p["digest"],
            "definition": p["definition"], "source_event_id": event.event_id,
            "source_type": event.type})
        amended = policy.amended_categories(before, after) if after else []
        events = [noted] + [NewEvent(el.RUBRIC_AMENDED, {
            "campaign_id": campaign_id, "category": key, "digest": p["digest"]})
            for key in amended]
        recorded = tx.append(campaign_stream(campaign_id), None, events, meta)
        for rec in recorded[1:]:
            category = rec.payload["category"]
            targets = [(t, None, f"{el.FACT_RUBRIC_AMENDED}:{rec.event_id}")
                       for t in self.projection.evaluable(tx.conn)
                       if (t.campaign_id, t.category) == (campaign_id, category)]
            flipped, _ = self.engine.reevaluate(tx, targets, meta,
                                                definitions={campaign_id: after})
            self.engine.recompute_rounds(tx, flipped, meta,
                                         f"{el.FACT_RUBRIC_AMENDED}:{rec.event_id}")

    # -- review ----------------------------------------------------------------

    def on_review_event(self, event: RecordedEvent) -> None:
        if event.type in round_inputs.USED_TYPES and "round_id" in event.payload:
            self._once(event, self._review_input)

    def _review_input(self, tx: Transaction, event: RecordedEvent,
                      meta: EventMetadata) -> None:
        round_id = event.payload["round_id"]
        stream = round_inputs.stream_id(round_id)
        before = self.engine.inputs_of(round_id)
        [rec] = tx.append(stream, None, [round_inputs.noted(event)], meta)
        state = round_inputs.apply(before, rec.payload)
        if not state.opened or state.published:
            return
        has_results = self.projection.results_version(tx.conn, round_id) > 0
        if event.type == round_inputs.ROUND_CLOSED or (
                has_results and event.type in RECOMPUTE_ON):
            self.engine.compute_quietly(tx, state, meta,
                                        f"{event.type}:{event.event_id}")

    # -- the compliance feed ------------------------------------------------------

    def on_compliance_report(self, body: Mapping[str, Any]) -> None:
        """{"kind": complaint|penalty|withdrawal, "entry_id", ...} from a feed."""
        meta = EventMetadata(FEED_ACTOR, correlation_id=str(body.get("entry_id", "")),
                             trace=current_trace_carrier())
        try:
            with self.store.transaction() as tx:
                registry = self.engine.registry()
                events = _decide_report(registry, body, self.engine.now().date())
                if events:
                    self.engine.record_entry(tx, events, registry, meta)
        except (LaurelError, KeyError, TypeError, ValueError) as error:
            log.warning("compliance report refused and skipped: %s (%s)", error,
                        dict(body))

    # -- plumbing -------------------------------------------------------------------

    def _once(self, event: RecordedEvent, handle: TxHandler) -> None:
        apply_once(self.store, CONSUMER, SCORING_ACTOR, event,
                   lambda uow, e, m: handle(Transaction(uow), e, m))


def _decide_report(registry: el.ComplianceRegistry, body: Mapping[str, Any],
                   today: date) -> list[NewEvent]:
    kind = body["kind"]
    if kind == "withdrawal":
        on = body.get("withdrawn_on") or today.isoformat()
        return el.withdraw_entry(registry, body["entry_id"], body.get("reason", ""),
                                 date.fromisoformat(on))
    report = el.ComplianceReport(
        str(body["entry_id"]), body["subject_kind"], body["subject_id"],
        date.fromisoformat(body["occurred_on"]), body.get("source", ""),
        body.get("summary", ""))
    if kind == el.COMPLAINT:
        return el.record_complaint(registry, report)
    if kind == el.PENALTY:
        return el.record_penalty(registry, report)
    raise ValueError(f"unknown kind {kind!r}: complaint, penalty or withdrawal")
