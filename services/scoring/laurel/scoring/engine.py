"""What every scoring use case shares: the rules in force, re-evaluation, results.

A gRPC call (a complaint recorded) and a consumed event (a nomination
withdrawn, a round closed) end the same way: some verdicts may be stale, some
results may change. Both run the steps here inside their one store
transaction, so the fact, the verdicts it changed and the result versions they
changed commit together or not at all.

Reads inside a transaction go through the transaction's connection (the
projection) wherever the transaction may have written already: a second
connection would not see those writes yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from laurel.campaigns import CampaignDefinition, campaign_from_data
from laurel.config import Topics
from laurel.envelope import EventMetadata, NewEvent, RecordedEvent, utcnow
from laurel.errors import FailedPrecondition, LaurelError, NotFound
from laurel.eventstore import EventStore, Publication, Transaction
from laurel.scoring import eligibility as el
from laurel.scoring import facts, policy, ranking, round_inputs
from laurel.scoring.evaluation import World, changed_verdicts, evaluate
from laurel.scoring.facts import Tracked
from laurel.scoring.projection import ScoringProjection
from laurel.scoring.results import decide_results

log = logging.getLogger("laurel.scoring")

CAMPAIGN_NOTED = "CampaignDefinitionNoted"
COMPUTATION_REFUSED = "ResultComputationRefused"

# (nomination, rules to run or None for all, cause)
Target = tuple[Tracked, Collection[str] | None, str]


def campaign_stream(campaign_id: str) -> str:
    return f"scoring-campaign-{campaign_id}"


@dataclass(frozen=True)
class Computed:
    version: int
    changed: bool


class ScoringEngine:
    def __init__(
        self, store: EventStore, projection: ScoringProjection,
        catalog: Mapping[str, CampaignDefinition], topics: Topics,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.projection = projection
        self.catalog = dict(catalog)
        self.topics = topics
        self.now = now
        self._parsed: dict[str, CampaignDefinition | None] = {}
        # round inputs stream -> (folded state, its version): each review event
        # folds only what is new, not the round's every earlier input again.
        self._folded_inputs: dict[str, tuple[round_inputs.RoundInputs | None, int]] = {}

    # -- campaigns ---------------------------------------------------------

    def definition(self, campaign_id: str) -> CampaignDefinition | None:
        """The definition intake last announced, else the one in our files."""
        noted = [e for e in self.store.read_stream(campaign_stream(campaign_id))
                 if e.type == CAMPAIGN_NOTED]
        if noted:
            parsed = self.parse(noted[-1].payload)
            if parsed is not None:
                return parsed
        return self.catalog.get(campaign_id)

    def parse(self, payload: Mapping) -> CampaignDefinition | None:
        """The announced definition, or None (then the file stands in).

        A failure is remembered per digest: definitions are read for every
        nomination evaluated, and one that does not parse never will.
        """
        digest = payload["digest"]
        if digest not in self._parsed:
            try:
                self._parsed[digest] = campaign_from_data(payload["definition"])
            except LaurelError as error:
                log.warning("campaign %s (%s) does not parse here, the file in "
                            "LAUREL_CAMPAIGNS_DIR stands in: %s",
                            payload["campaign_id"], digest[:12], error)
                self._parsed[digest] = None
        return self._parsed[digest]

    def today(self, definition: CampaignDefinition) -> date:
        return self.now().astimezone(ZoneInfo(definition.timezone)).date()

    # -- the registry --------------------------------------------------------

    def registry(self) -> el.ComplianceRegistry:
        return el.fold_registry(self.store.read_stream(el.REGISTRY_STREAM))

    def record_entry(self, tx: Transaction, events: list[NewEvent],
                     registry: el.ComplianceRegistry, meta: EventMetadata
                     ) -> list[str]:
        """Append registry events; re-run the verdicts that read their subject."""
        changed: list[str] = []
        for rec in tx.append(el.REGISTRY_STREAM, None, events, meta):
            registry = el.apply_registry(registry, rec)
            change = el.fact_change_from(rec)
            assert change is not None
            targets = self._selected(tx, change)
            flipped, touched = self.reevaluate(
                tx, targets, _caused(meta, rec.event_id), registry)
            self.recompute_rounds(tx, flipped, _caused(meta, rec.event_id),
                                  f"{change.kind}:{change.ref}")
            changed += touched
        return sorted(set(changed))

    # -- verdicts ------------------------------------------------------------

    def reevaluate(
        self, tx: Transaction, targets: Iterable[Target], meta: EventMetadata,
        registry: el.ComplianceRegistry | None = None,
        definitions: Mapping[str, CampaignDefinition] | None = None,
    ) -> tuple[list[str], list[str]]:
        """Run the rules; append changed verdicts. Returns (flipped, touched)."""
        flipped, touched = [], []
        for nomination, only, cause in targets:
            definition = (definitions or {}).get(nomination.campaign_id) or \
                self.definition(nomination.campaign_id)
            if definition is None or not nomination.evaluable:
                continue
            registry = registry if registry is not None else self.registry()
            world = World(registry, [t.as_hospital_nomination() for t in
                                     self.projection.of_hospital(
                                         tx.conn, nomination.hospital_id)],
                          policy.evaluation_date(definition, self.today(definition)))
            rules = policy.rules_for(definition, nomination.category)
            state = self.projection.verdicts_of(tx.conn, nomination.nomination_id)
            fresh = changed_verdicts(state, evaluate(nomination, rules, world, cause,
                                                     only))
            if not fresh:
                continue
            nid = nomination.nomination_id
            tx.append(el.verdict_stream_id(nid), None, fresh, meta,
                      publish=Publication(self.topics.scoring, nid))
            touched.append(nid)
            after = self.projection.verdicts_of(tx.conn, nid)
            if state is None or state.eligible != after.eligible:
                flipped.append(nid)
        return flipped, touched

    def rule_names(self, nomination: Tracked) -> tuple[str, ...]:
        definition = self.definition(nomination.campaign_id)
        if definition is None:
            return ()
        return tuple(r.rule for r in policy.rules_for(definition, nomination.category))

    def dependants(self, tx: Transaction, changed: Tracked, cause: str
                   ) -> list[Target]:
        """Nominations of the same hospital whose live-benchmark rule may flip."""
        definition = self.definition(changed.campaign_id)
        categories = policy.benchmark_categories([definition] if definition else [])
        change = el.FactChange(el.FACT_BENCHMARK_WITHDRAWN, changed.nomination_id,
                               hospital_id=changed.hospital_id,
                               campaign_id=changed.campaign_id,
                               category=changed.category)
        return self._selected(tx, change, categories, cause)

    def _selected(self, tx: Transaction, change: el.FactChange,
                  categories: Collection[str] = el.BENCHMARK_CATEGORIES,
                  cause: str = "") -> list[Target]:
        if change.kind == el.FACT_BENCHMARK_WITHDRAWN and change.hospital_id:
            # only the same hospital's nominations lean on its benchmark
            pool = [t for t in self.projection.of_hospital(tx.conn, change.hospital_id)
                    if t.evaluable]
        else:
            pool = self.projection.evaluable(tx.conn)
        candidates = {t.nomination_id: t for t in pool}
        names: dict[tuple[str, str], tuple[str, ...]] = {}  # one read per category
        for t in candidates.values():
            if (t.campaign_id, t.category) not in names:
                names[t.campaign_id, t.category] = self.rule_names(t)
        found = el.nominations_to_reevaluate(
            change, [t.for_reevaluation(names[t.campaign_id, t.category])
                     for t in candidates.values()], tuple(categories))
        return [(candidates[r.nomination_id], r.rules, cause or r.cause)
                for r in found]

    # -- results -------------------------------------------------------------

    def inputs_of(self, round_id: str) -> round_inputs.RoundInputs | None:
        """The round's inputs as committed so far."""
        stream = round_inputs.stream_id(round_id)
        state, version = self._folded_inputs.get(stream, (None, 0))
        newer = self.store.read_stream(stream, from_version=version + 1)
        for event in newer:
            if event.type == round_inputs.REVIEW_INPUT_NOTED:
                state = round_inputs.apply(state, event.payload)
        if newer:
            self._folded_inputs[stream] = (state, newer[-1].version)
        return state

    def round_state(self, round_id: str) -> round_inputs.RoundInputs:
        state = self.inputs_of(round_id)
        if state is None or not state.opened:
            raise NotFound(f"scoring has not seen round {round_id!r} open",
                           field="round_id")
        return state

    def recompute_rounds(self, tx: Transaction, nomination_ids: Iterable[str],
                         meta: EventMetadata, cause: str) -> None:
        """Rounds with results that include a nomination whose standing changed."""
        rounds = sorted({r for nid in nomination_ids
                         for r in self.projection.rounds_with_results(tx.conn, nid)})
        for round_id in rounds:
            self.compute_quietly(tx, self.round_state(round_id), meta, cause)

    def compute_quietly(self, tx: Transaction, state: round_inputs.RoundInputs,
                        meta: EventMetadata, cause: str) -> None:
        """For consumed events: a refusal is recorded, never raised (it would
        stop the consumer on this message forever)."""
        try:
            self.compute(tx, state, meta, cause)
        except LaurelError as error:
            log.warning("result of round %s not computed: %s", state.round_id, error)
            tx.append(ranking.stream_id(state.campaign_id, state.category,
                                        state.round_id), None,
                      [NewEvent(COMPUTATION_REFUSED, {
                          "round_id": state.round_id, "cause": cause,
                          "error": type(error).__name__, "message": error.message,
                          "violations": [[v.field, v.description] for v in
                                         getattr(error, "violations", [])]})], meta)

    def compute(self, tx: Transaction, state: round_inputs.RoundInputs,
                meta: EventMetadata, cause: str) -> Computed:
        definition = self.definition(state.campaign_id)
        if definition is None:
            raise NotFound(f"no campaign {state.campaign_id!r}", field="campaign_id")
        if state.published:
            raise FailedPrecondition("results_published", "the results of round "
                                     f"{state.round_id} are published", state.round_id)
        ids = list(state.nomination_ids)
        tracked = self.projection.tracked(tx.conn, ids)
        excluded = self.projection.ineligible(tx.conn, ids)
        excluded.update({nid: {"rules": [], "reason": "withdrawn by the nominator"}
                         for nid, t in tracked.items() if t.status == "withdrawn"})
        inputs = ranking.ResultInputs(
            state.campaign_id, state.category, state.round_id, state.reviews(),
            policy.aggregation_policy(definition, state.category),
            policy.result_policy(definition, state.category),
            submitted_at={nid: t.submitted_at for nid, t in tracked.items()},
            nominations=state.nomination_ids, cause=cause)
        stream = ranking.stream_id(state.campaign_id, state.category, state.round_id)
        current = ranking.fold(self.store.read_stream(stream))
        events = decide_results(current, inputs, excluded)
        latest = current.latest.version if current and current.latest else 0
        if not events:
            return Computed(latest, False)
        key = f"{state.campaign_id}/{state.category}"
        tx.append(stream, None, events, meta,
                  publish=Publication(self.topics.scoring, key))
        return Computed(events[0].payload["version"], True)


def _caused(meta: EventMetadata, event_id: str) -> EventMetadata:
    return replace(meta, causation_id=event_id)


def noted_facts(tx: Transaction, after: Tracked, source: RecordedEvent,
                meta: EventMetadata) -> None:
    tx.append(facts.stream_id(after.nomination_id), None, [facts.noted(after, source)],
              meta)
