"""Scoring's use cases: the compliance registry, verdicts, results.

Each runs in one unit of work (`store.run(lambda uow: handler(cmd, uow,
ctx))`): every read and write goes through `uow`, so the fact recorded, the
verdicts it changed and the result versions they changed commit together or
not at all, on one connection. A refusal raises before anything is appended,
so a refused call stores nothing.

Who may call what is the policy table's (laurel.policy). What is checked here
depends on the data: a nominator sees their own hospital's verdicts, an
endorser their jurisdiction's, and only an organizer of the campaign computes
its results.

The steps after a fact changed — re-run the verdicts that read it, recompute
the results those verdicts changed — are shared with the reactions
(`laurel.scoring.reactions`), which end the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from laurel.auth import event_metadata
from laurel.campaigns.access import require_organizing
from laurel.campaigns.clock import CampaignClocks, stamped
from laurel.campaigns.in_force import DefinitionsInForce
from laurel.campaigns.schema import CampaignDefinition
from laurel.campaigns.stages import lookback_as_of, require_stage
from laurel.config import Topics
from laurel.envelope import Actor, EventMetadata, NewEvent, RecordedEvent, utcnow
from laurel.errors import FailedPrecondition, FieldViolation, InvalidArgument, LaurelError, NotFound
from laurel.eventstore import Publication
from laurel.scoring import read_models
from laurel.scoring.domain import commands, policy, ranking, round_inputs
from laurel.scoring.domain import eligibility as el
from laurel.scoring.domain.evaluation import World, changed_verdicts, evaluate
from laurel.scoring.domain.events import computation_refused
from laurel.scoring.domain.facts import Tracked
from laurel.scoring.domain.results import decide_results
from laurel.unit_of_work import UnitOfWork

log = logging.getLogger("laurel.scoring")
DECIDE = "decide"  # the act of `laurel.campaigns.vocabulary` computing results is

# (nomination, rules to run or None for all, cause)
Target = tuple[Tracked, Collection[str] | None, str]


@dataclass(frozen=True)
class Context:
    """What handlers and reactions share besides the unit of work: the
    definitions and the campaign clocks as scoring noted them (intake's), and
    the wall clock (when a registry entry was withdrawn)."""

    definitions: DefinitionsInForce
    topics: Topics
    clock: Callable[[], datetime] = utcnow

    @property
    def clocks(self) -> CampaignClocks:
        return CampaignClocks(self.clock)

    def lookback_day(self, uow: UnitOfWork, definition: CampaignDefinition) -> date | None:
        """The day "within three years" windows end on, inclusive: the
        definition's `lookback_reference` day (henan-2021: the last day of the
        expert evaluation), or the campaign clock's day if that is earlier, so
        an entry dated after the campaign's "now" does not count yet. None for
        a campaign that declares no reference (it has no look-back rule)."""
        if definition.lookback_reference is None:
            return None
        return lookback_as_of(definition, self.clocks.now(uow, definition.id))


@dataclass(frozen=True)
class Recorded:
    recorded: bool
    reevaluated: list[str]  # nominations a rule of which decided differently


@dataclass(frozen=True)
class Computed:
    version: int
    changed: bool


@dataclass(frozen=True)
class EligibilityView:
    nomination_id: str
    evaluated: bool
    eligible: bool
    latest: list[RecordedEvent]
    history: list[RecordedEvent]


@dataclass(frozen=True)
class BreakdownView:
    round_id: str
    version: int
    breakdown: Mapping[str, Any] | None
    entry: ranking.ResultEntry | None
    ineligible_reason: str


# -- the compliance registry ----------------------------------------------------------


def record_complaint(cmd: commands.RecordComplaint, uow: UnitOfWork, ctx: Context
                     ) -> Recorded:
    registry = registry_of(uow)
    return _recorded(uow, ctx, registry, el.record_complaint(registry, cmd.report),
                     event_metadata(caller=cmd.caller))


def record_penalty(cmd: commands.RecordPenalty, uow: UnitOfWork, ctx: Context
                   ) -> Recorded:
    registry = registry_of(uow)
    return _recorded(uow, ctx, registry, el.record_penalty(registry, cmd.report),
                     event_metadata(caller=cmd.caller))


def withdraw_compliance_entry(cmd: commands.WithdrawComplianceEntry, uow: UnitOfWork,
                              ctx: Context) -> Recorded:
    registry = registry_of(uow)
    events = el.withdraw_entry(registry, cmd.entry_id, cmd.reason,
                               cmd.withdrawn_on or ctx.clock().date())
    return _recorded(uow, ctx, registry, events, event_metadata(caller=cmd.caller))


def list_compliance_entries(cmd: commands.ListComplianceEntries, uow: UnitOfWork
                            ) -> list[dict[str, Any]]:
    if cmd.kind and cmd.kind not in (el.COMPLAINT, el.PENALTY):
        raise InvalidArgument("unknown kind", [FieldViolation(
            "kind", f"{el.COMPLAINT} or {el.PENALTY}")])
    return read_models.entries_about(uow.conn, cmd.subject_id, cmd.kind)


def _recorded(uow: UnitOfWork, ctx: Context, registry: el.ComplianceRegistry,
              events: list[NewEvent], meta: EventMetadata) -> Recorded:
    if not events:
        return Recorded(False, [])
    return Recorded(True, record_registry_events(uow, ctx, events, registry, meta))


# -- verdicts -----------------------------------------------------------------------


def get_eligibility(cmd: commands.GetEligibility, uow: UnitOfWork) -> EligibilityView:
    nid = cmd.nomination_id
    known = read_models.tracked(uow.conn, [nid]).get(nid)
    history = uow.read(el.verdict_stream_id(nid))
    if (known is None and not history) or not _may_read(cmd.caller.actor, known):
        raise NotFound(f"scoring knows no nomination {nid!r}", field="nomination_id")
    latest: dict[str, RecordedEvent] = {}
    for event in history:
        latest[event.payload["rule"]] = event
    state = el.fold_verdicts(history)
    return EligibilityView(nid, bool(history), state is None or state.eligible,
                           list(latest.values()), history)


def _may_read(actor: Actor, known: Tracked | None) -> bool:
    """Nominators see their hospital's verdicts, endorsers their jurisdiction's."""
    if actor.role == "nominator":
        return known is not None and actor.organization_id in (
            known.hospital_id, known.nominee_organization_id)
    if actor.role == "endorser":
        return known is not None and actor.organization_id == known.jurisdiction_id
    return True


# -- results ------------------------------------------------------------------------


def compute_results(cmd: commands.ComputeResults, uow: UnitOfWork, ctx: Context
                    ) -> Computed:
    """Asked for by an organizer of the campaign (or a co-organizer of the
    evaluation), while a stage permits deciding results."""
    definition = ctx.definitions.require(uow, cmd.campaign_id)
    require_organizing(definition, cmd.caller.actor, DECIDE)
    state = round_state(uow, cmd.round_id)
    _same_round(state, cmd.campaign_id, cmd.category)
    require_stage(definition, DECIDE, ctx.clocks.now(uow, definition.id), cmd.round_id)
    return compute(uow, ctx, state, event_metadata(caller=cmd.caller),
                   f"requested by {cmd.caller.actor.id}")


def get_ranking(cmd: commands.GetRanking, uow: UnitOfWork
                ) -> tuple[ranking.ResultVersion, int]:
    """(the version asked for, the latest version number)."""
    return _ranking(uow, cmd.campaign_id, cmd.category, cmd.round_id, cmd.version)


def get_score_breakdown(cmd: commands.GetScoreBreakdown, uow: UnitOfWork
                        ) -> BreakdownView:
    row = read_models.round_of(uow.conn, cmd.round_id)
    if row is None:
        raise NotFound(f"scoring has not seen round {cmd.round_id!r}", field="round_id")
    chosen, _ = _ranking(uow, row["campaign_id"], row["category"], cmd.round_id,
                         cmd.version)
    nid = cmd.nomination_id
    if nid not in chosen.payload["breakdowns"] and nid not in chosen.payload["unscored"]:
        raise NotFound(f"nomination {nid} is not in round {cmd.round_id}",
                       field="nomination_id")
    return BreakdownView(
        cmd.round_id, chosen.version, chosen.breakdown(nid), chosen.entry(nid),
        chosen.payload.get("ineligible", {}).get(nid, {}).get("reason", ""))


def _ranking(uow: UnitOfWork, campaign_id: str, category: str, round_id: str,
             version: int) -> tuple[ranking.ResultVersion, int]:
    results = uow.load(ranking.stream_id(campaign_id, category, round_id),
                       ranking.RESULTS)
    if results is None or results.latest is None:
        raise NotFound(f"no result yet for {campaign_id}/{category} round "
                       f"{round_id}", field="round_id")
    chosen = results.version(version) if version else results.latest
    return chosen, results.latest.version


def _same_round(state: round_inputs.RoundInputs, campaign_id: str, category: str
                ) -> None:
    found = [FieldViolation(name, f"round belongs to {have!r}")
             for name, have, asked in (("campaign_id", state.campaign_id, campaign_id),
                                       ("category", state.category, category))
             if asked and asked != have]
    if found:
        raise InvalidArgument("the round is of another campaign or category", found)


# -- what handlers and reactions share ------------------------------------------------


def registry_of(uow: UnitOfWork) -> el.ComplianceRegistry:
    return uow.load(el.REGISTRY_STREAM, el.REGISTRY) or el.ComplianceRegistry()


def record_registry_events(uow: UnitOfWork, ctx: Context, events: list[NewEvent],
                           registry: el.ComplianceRegistry, meta: EventMetadata
                           ) -> list[str]:
    """Append registry events; re-run the verdicts that read their subject and
    the results those verdicts changed. Returns the nominations some rule of
    which decided differently (the proto's `reevaluated_nomination_ids`)."""
    changed: list[str] = []
    for rec in uow.append(el.REGISTRY_STREAM, events, meta):
        registry = el.apply_registry(registry, rec)
        change = el.fact_change_from(rec)
        assert change is not None
        caused = replace(meta, causation_id=rec.event_id)
        flipped, decided = reevaluate(uow, ctx, selected(uow, ctx, change), caused,
                                      registry)
        recompute_rounds(uow, ctx, flipped, caused, f"{change.kind}:{change.ref}")
        changed += decided
    return sorted(set(changed))


def reevaluate(
    uow: UnitOfWork, ctx: Context, targets: Iterable[Target], meta: EventMetadata,
    registry: el.ComplianceRegistry | None = None,
    definitions: Mapping[str, CampaignDefinition | None] | None = None,
) -> tuple[list[str], list[str]]:
    """Run the rules; append the verdicts that changed (a decision, a reason,
    the entries seen or the day judged on). Returns (flipped: eligibility as
    a whole changed, decided: some rule's decision changed, or was given for
    the first time). Callers report `decided` as "re-evaluated": a verdict
    that only saw one more entry outside its window did not change."""
    flipped, decided = [], []
    for nomination, only, cause in targets:
        definition = (definitions or {}).get(nomination.campaign_id) or \
            ctx.definitions.get(uow, nomination.campaign_id)
        if definition is None or not nomination.evaluable:
            continue
        registry = registry if registry is not None else registry_of(uow)
        world = World(registry, [t.as_hospital_nomination() for t in
                                 read_models.of_hospital(uow.conn, nomination.hospital_id)],
                      ctx.lookback_day(uow, definition))
        rules = policy.rules_for(definition, nomination.category)
        nid = nomination.nomination_id
        state = read_models.verdicts_of(uow.conn, nid)
        fresh = changed_verdicts(state, evaluate(nomination, rules, world, cause, only))
        if not fresh:
            continue
        uow.append(el.verdict_stream_id(nid), fresh,
                   stamped(meta, ctx.clocks.now(uow, definition.id)),
                   publish=Publication(ctx.topics.scoring))
        if any(el.changes_decision(state, v) for v in fresh):
            decided.append(nid)
        after = read_models.verdicts_of(uow.conn, nid)
        if state is None or after is None or state.eligible != after.eligible:
            flipped.append(nid)
    return flipped, decided


def dependants(uow: UnitOfWork, ctx: Context, changed: Tracked, cause: str
               ) -> list[Target]:
    """Nominations of the same hospital whose live-benchmark rule may flip."""
    definition = ctx.definitions.get(uow, changed.campaign_id)
    categories = policy.benchmark_categories([definition] if definition else [])
    change = el.FactChange(el.FACT_BENCHMARK_WITHDRAWN, changed.nomination_id,
                           hospital_id=changed.hospital_id,
                           campaign_id=changed.campaign_id, category=changed.category)
    return selected(uow, ctx, change, categories, cause)


def selected(uow: UnitOfWork, ctx: Context, change: el.FactChange,
             categories: Collection[str] = el.BENCHMARK_CATEGORIES, cause: str = ""
             ) -> list[Target]:
    """The nominations whose verdicts `change` may have made stale."""
    if change.kind == el.FACT_BENCHMARK_WITHDRAWN and change.hospital_id:
        # only the same hospital's nominations lean on its benchmark
        pool = [t for t in read_models.of_hospital(uow.conn, change.hospital_id)
                if t.evaluable]
    else:
        pool = read_models.evaluable(uow.conn)
    candidates = {t.nomination_id: t for t in pool}
    names: dict[tuple[str, str], tuple[str, ...]] = {}  # one read per category
    for t in candidates.values():
        if (t.campaign_id, t.category) not in names:
            names[t.campaign_id, t.category] = _rule_names(uow, ctx, t)
    found = el.nominations_to_reevaluate(
        change, [t.for_reevaluation(names[t.campaign_id, t.category])
                 for t in candidates.values()], tuple(categories))
    return [(candidates[r.nomination_id], r.rules, cause or r.cause) for r in found]


def _rule_names(uow: UnitOfWork, ctx: Context, nomination: Tracked) -> tuple[str, ...]:
    definition = ctx.definitions.get(uow, nomination.campaign_id)
    if definition is None:
        return ()
    return tuple(r.rule for r in policy.rules_for(definition, nomination.category))


def round_state(uow: UnitOfWork, round_id: str) -> round_inputs.RoundInputs:
    state = uow.load(round_inputs.stream_id(round_id), round_inputs.ROUND_INPUTS)
    if state is None or not state.opened:
        raise NotFound(f"scoring has not seen round {round_id!r} open", field="round_id")
    return state


def recompute_rounds(uow: UnitOfWork, ctx: Context, nomination_ids: Iterable[str],
                     meta: EventMetadata, cause: str) -> None:
    """Rounds with results that include a nomination whose standing changed."""
    rounds = sorted({r for nid in nomination_ids
                     for r in read_models.rounds_with_results(uow.conn, nid)})
    for round_id in rounds:
        compute_quietly(uow, ctx, round_state(uow, round_id), meta, cause)


def compute_quietly(uow: UnitOfWork, ctx: Context, state: round_inputs.RoundInputs,
                    meta: EventMetadata, cause: str) -> None:
    """For consumed events: a refusal is recorded, never raised (it would
    stop the consumer on this message forever)."""
    try:
        compute(uow, ctx, state, meta, cause)
    except LaurelError as error:
        log.warning("result of round %s not computed: %s", state.round_id, error)
        uow.append(ranking.stream_id(state.campaign_id, state.category, state.round_id),
                   [computation_refused(state.round_id, cause, error)], meta)


# Why a nomination that left the competition is not ranked.
LEFT = {"withdrawn": "withdrawn by the nominator",
        "rejected": "rejected by its commission or the center"}


def compute(uow: UnitOfWork, ctx: Context, state: round_inputs.RoundInputs,
            meta: EventMetadata, cause: str) -> Computed:
    """The round's next result version, or the latest when nothing changed.

    Under the write lock: the verdicts and withdrawals it excludes by must not
    change between being read and the result being written."""
    uow.lock()
    definition = ctx.definitions.get(uow, state.campaign_id)
    if definition is None:
        raise NotFound(f"no campaign {state.campaign_id!r}", field="campaign_id")
    if state.published:
        raise FailedPrecondition("results_published", "the results of round "
                                 f"{state.round_id} are published", state.round_id)
    ids = list(state.nomination_ids)
    known = read_models.tracked(uow.conn, ids)
    excluded = read_models.ineligible(uow.conn, ids)
    excluded.update({nid: {"rules": [], "reason": LEFT[t.status]}
                     for nid, t in known.items() if t.out})
    inputs = ranking.ResultInputs(
        state.campaign_id, state.category, state.round_id, state.reviews(),
        policy.aggregation_policy(definition, state.category),
        policy.result_policy(definition, state.category),
        submitted_at={nid: t.submitted_at for nid, t in known.items()},
        nominations=state.nomination_ids, cause=cause)
    stream = ranking.stream_id(state.campaign_id, state.category, state.round_id)
    current = uow.load(stream, ranking.RESULTS)
    events = decide_results(current, inputs, excluded)
    latest = current.latest.version if current and current.latest else 0
    if not events:
        return Computed(latest, False)
    uow.append(stream, events, stamped(meta, ctx.clocks.now(uow, definition.id)),
               publish=Publication(ctx.topics.scoring))
    return Computed(events[0].payload["version"], True)
