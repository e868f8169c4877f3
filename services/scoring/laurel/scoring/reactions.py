"""What scoring does with the events of other services and the compliance feed.

Each consumed event is applied once (`apply_once`): its inbox mark commits
with its effect — the facts noted, the verdicts and results they changed — in
one unit of work, so a redelivered message finds the mark and changes
nothing. Compliance reports from other systems carry no Laurel event id; they
need no mark, because recording the same report twice records it once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from laurel.campaigns import clock
from laurel.consumption import Handler, apply_once
from laurel.contracts import Declarations, declare
from laurel.contracts import intake as intake_contract
from laurel.contracts import review as review_contract
from laurel.envelope import Actor, EventMetadata, RecordedEvent
from laurel.errors import LaurelError
from laurel.eventstore import EventStore
from laurel.scoring import read_models
from laurel.scoring.domain import eligibility as el
from laurel.scoring.domain import events, facts, policy, round_inputs
from laurel.scoring.handlers import (
    Context,
    Target,
    compute_quietly,
    dependants,
    recompute_rounds,
    record_registry_events,
    reevaluate,
    registry_of,
)
from laurel.telemetry import current_trace_carrier
from laurel.unit_of_work import StaleRead, UnitOfWork

log = logging.getLogger("laurel.scoring.reactions")

CONSUMER = "scoring"
SCORING_ACTOR = Actor("scoring", "service")
FEED_ACTOR = Actor("compliance-feed", "service")
RECOMPUTE_ON = (round_inputs.SCORE_RECORDED, round_inputs.REVIEWER_RECUSED)
# The rules whose verdicts depend on the day they judge on.
LOOKING_BACK = (el.RULE_NO_COMPLAINT, el.RULE_NO_PENALTY)

# What scoring does with every type of the upstreams it reads (the
# completeness tests hold this to their contracts; the audit reads it).
DECLARATIONS: Declarations = {
    "intake": declare(intake_contract.CONTRACTS,
                      handled=(*events.CAMPAIGN_TYPES, *facts.TRACKED_TYPES, clock.CLOCK_SET),
                      ignored={
        intake_contract.NOMINATION_DRAFTED: "a draft competes for nothing: scoring's "
        "facts start with the submission, which states the whole nomination",
        intake_contract.DRAFT_SAVED: "a draft's changes are restated whole by its "
        "submission",
        intake_contract.REPORT_ATTACHED: "interview reports are read by reviewers; no "
        "eligibility rule counts them",
    }),
    "review": declare(review_contract.CONTRACTS, handled=round_inputs.USED_TYPES, ignored={
        review_contract.REVIEWER_REGISTERED: "who a reviewer is changes no score: a "
        "result counts each form by the group it names",
        review_contract.CONFLICT_DECLARED: "conflicts decide assignment, which is "
        "review's; scoring sees the forms and recusals that follow",
        review_contract.PANEL_FORMED: "a panel's make-up is review's; results count "
        "the forms recorded in the round",
        review_contract.PANEL_MEMBERS_ADDED: "as PanelFormed: membership adds no score",
        review_contract.REVIEWER_ASSIGNED: "an assignment without a form adds no score",
        review_contract.REMINDER_DUE: "reminders tell reviewers; no result input changes",
        review_contract.DECISION_RECORDED: "the organizer's decision on a result is "
        "review's; the computed result stands as it is",
        review_contract.FORUM_INVITATIONS_ISSUED: "forum invitations follow published "
        "results and change none",
    }),
}


class ScoringReactions:
    def __init__(self, store: EventStore, ctx: Context) -> None:
        self.store = store
        self.ctx = ctx

    # -- intake ----------------------------------------------------------------

    def on_intake_event(self, event: RecordedEvent) -> None:
        if event.type in events.CAMPAIGN_TYPES:
            self._once(event, self._campaign)
        elif event.type == clock.CLOCK_SET:
            self._once(event, self._clock)
        elif event.type in facts.TRACKED_TYPES:
            self._once(event, self._nomination)

    def _nomination(self, uow: UnitOfWork, event: RecordedEvent,
                    meta: EventMetadata) -> None:
        """Note the facts; re-run the rules they feed, the hospital's
        live-benchmark rules if it went (not) live, and the results they change."""
        nid = event.payload["nomination_id"]
        stream = facts.stream_id(nid)
        before = uow.load(stream, facts.FACTS)
        after = facts.track(before, event)
        if after is None or after == before:
            return
        uow.append(stream, [facts.noted(after, event)], meta)
        targets = _own_rules(after, event)
        if before is None or before.live != after.live:
            cause = (f"{el.FACT_BENCHMARK_WITHDRAWN}:{nid}"
                     if event.type == facts.WITHDRAWN
                     else f"benchmark_rejected:{nid}" if event.type == facts.REJECTED
                     else f"benchmark_{'live' if after.live else 'not_live'}:{nid}")
            targets += dependants(uow, self.ctx, after, cause)
        flipped, _ = reevaluate(uow, self.ctx, targets, meta)
        if after.out:  # withdrawn or rejected: its rounds' results drop it
            flipped.append(nid)
        recompute_rounds(uow, self.ctx, flipped, meta, f"{event.type}:{nid}")

    def _campaign(self, uow: UnitOfWork, event: RecordedEvent,
                  meta: EventMetadata) -> None:
        """Note the definition; an amended rubric re-runs its category's rules."""
        campaign_id = event.payload["campaign_id"]
        before = self.ctx.definitions.get(uow, campaign_id)
        after = self.ctx.definitions.parse(event.payload)
        amended = policy.amended_categories(before, after) if after else []
        recorded = uow.append(events.campaign_stream(campaign_id),
                              events.definition_noted(event, amended), meta)
        for rec in recorded[1:]:
            cause = f"{el.FACT_RUBRIC_AMENDED}:{rec.event_id}"
            category = rec.payload["category"]
            targets: list[Target] = [
                (t, None, cause) for t in read_models.evaluable(uow.conn)
                if (t.campaign_id, t.category) == (campaign_id, category)]
            flipped, _ = reevaluate(uow, self.ctx, targets, meta,
                                    definitions={campaign_id: after})
            recompute_rounds(uow, self.ctx, flipped, meta, cause)

    def _clock(self, uow: UnitOfWork, event: RecordedEvent, meta: EventMetadata) -> None:
        """Note the campaign clock; the look-back verdicts of the campaign's
        nominations are judged again on the day it now gives (an entry dated
        after the old "now" may count from the new one), and the results
        they change are recomputed."""
        campaign_id = event.payload["campaign_id"]
        clock.note(uow, event, meta)
        cause = f"campaign_clock:{event.payload['now']}"
        targets: list[Target] = [(t, LOOKING_BACK, cause)
                                 for t in read_models.evaluable(uow.conn)
                                 if t.campaign_id == campaign_id]
        flipped, _ = reevaluate(uow, self.ctx, targets, meta)
        recompute_rounds(uow, self.ctx, flipped, meta, cause)

    # -- review ----------------------------------------------------------------

    def on_review_event(self, event: RecordedEvent) -> None:
        if event.type in round_inputs.USED_TYPES and "round_id" in event.payload:
            self._once(event, self._review_input)

    def _review_input(self, uow: UnitOfWork, event: RecordedEvent,
                      meta: EventMetadata) -> None:
        """Note the review event; a closed round (or a changed review of a
        round with results) gets its result computed."""
        round_id = event.payload["round_id"]
        stream = round_inputs.stream_id(round_id)
        before = uow.load(stream, round_inputs.ROUND_INPUTS)
        [rec] = uow.append(stream, [round_inputs.noted(event)], meta)
        state = round_inputs.apply(before, rec.payload)
        if not state.opened or state.published:
            return
        has_results = read_models.results_version(uow.conn, round_id) > 0
        if event.type == round_inputs.ROUND_CLOSED or (
                has_results and event.type in RECOMPUTE_ON):
            compute_quietly(uow, self.ctx, state, meta, f"{event.type}:{event.event_id}")

    # -- the compliance feed ------------------------------------------------------

    def on_compliance_report(self, body: Mapping[str, Any]) -> None:
        """A report from another system's feed (its raw body, not an envelope).
        A malformed or refused one is logged and skipped: it would stop the
        consumer on this message forever."""
        meta = EventMetadata(FEED_ACTOR, correlation_id=str(body.get("entry_id", "")),
                             trace=current_trace_carrier())

        def record(uow: UnitOfWork) -> None:
            registry = registry_of(uow)
            decided = el.decide_feed_report(registry, body, self.ctx.clock().date())
            if decided:
                record_registry_events(uow, self.ctx, decided, registry, meta)

        try:
            self.store.run(record)
        except StaleRead:
            raise  # overtaken on every attempt: the message is redelivered, not lost
        except (LaurelError, KeyError, TypeError, ValueError) as error:
            log.warning("compliance report refused and skipped: %s (%s)", error,
                        dict(body))

    # -- plumbing -------------------------------------------------------------------

    def _once(self, event: RecordedEvent, handle: Handler) -> None:
        apply_once(self.store, CONSUMER, SCORING_ACTOR, event, handle)


def _own_rules(after: facts.Tracked, event: RecordedEvent) -> list[Target]:
    """The nomination's own rules an intake event may have changed."""
    if not after.evaluable:
        return []
    if event.type == facts.RECEIVED:
        return [(after, None, f"nomination_received:{event.event_id}")]
    if event.type in (facts.AMENDED, facts.RESUBMITTED):
        return [(after, (el.RULE_SELF_ASSESSMENT, policy.RULE_NAMES_MEASURES),
                 f"nomination_amended:{event.event_id}")]
    if event.type == facts.EVIDENCE_ATTACHED:
        return [(after, (policy.RULE_EVIDENCE,), f"evidence_attached:{event.event_id}")]
    return []
