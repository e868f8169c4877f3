"""Scoring's use cases over gRPC: the compliance registry, verdicts, results.

Writes run in one store transaction each; a refusal raises before anything is
appended, so a refused call stores nothing. Who may call what is checked here
(a later issue centralizes authorization): the registry is fed by other
systems and organizers, results are for organizers and auditors, and a
nominator sees the verdicts of their own organization's nominations only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from laurel.auth import current_request, event_metadata
from laurel.campaigns.access import require_organizer_of
from laurel.envelope import Actor, RecordedEvent
from laurel.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from laurel.scoring import eligibility as el
from laurel.scoring import ranking
from laurel.scoring.engine import Computed, ScoringEngine
from laurel.scoring.facts import Tracked

REGISTRY_WRITERS = ("service", "organizer")
REGISTRY_READERS = ("service", "organizer", "auditor")
RESULT_READERS = ("organizer", "auditor", "service")
VERDICT_READERS = ("organizer", "auditor", "service", "endorser", "nominator")


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


class ScoringApplication:
    def __init__(self, engine: ScoringEngine) -> None:
        self.engine = engine
        self.store = engine.store
        self.projection = engine.projection

    # -- the compliance registry ---------------------------------------------------

    def record_entry(self, kind: str, report: el.ComplianceReport
                     ) -> tuple[bool, list[str]]:
        """(recorded, nominations whose verdicts changed)."""
        _require(REGISTRY_WRITERS)
        decide = el.record_complaint if kind == el.COMPLAINT else el.record_penalty
        with self.store.transaction() as tx:
            registry = self.engine.registry()
            events = decide(registry, report)
            if not events:
                return False, []
            return True, self.engine.record_entry(tx, events, registry,
                                                  event_metadata())

    def withdraw_entry(self, entry_id: str, reason: str, withdrawn_on: date | None
                       ) -> tuple[bool, list[str]]:
        _require(REGISTRY_WRITERS)
        on = withdrawn_on or self.engine.now().date()
        with self.store.transaction() as tx:
            registry = self.engine.registry()
            events = el.withdraw_entry(registry, entry_id, reason, on)
            if not events:
                return False, []
            return True, self.engine.record_entry(tx, events, registry,
                                                  event_metadata())

    def entries(self, subject_id: str = "", kind: str = "") -> list[dict[str, Any]]:
        _require(REGISTRY_READERS)
        if kind and kind not in (el.COMPLAINT, el.PENALTY):
            raise InvalidArgument("unknown kind", [FieldViolation(
                "kind", f"{el.COMPLAINT} or {el.PENALTY}")])
        with self.store.engine.connect() as conn:
            return self.projection.entries_about(conn, subject_id, kind)

    # -- verdicts --------------------------------------------------------------------

    def eligibility(self, nomination_id: str) -> EligibilityView:
        actor = _require(VERDICT_READERS)
        with self.store.engine.connect() as conn:
            tracked = self.projection.tracked(conn, [nomination_id]).get(nomination_id)
        history = self.store.read_stream(el.verdict_stream_id(nomination_id))
        if tracked is None and not history:
            raise NotFound(f"scoring knows no nomination {nomination_id!r}",
                           field="nomination_id")
        if not _may_read(actor, tracked):
            raise NotFound(f"scoring knows no nomination {nomination_id!r}",
                           field="nomination_id")
        latest: dict[str, RecordedEvent] = {}
        for event in history:
            latest[event.payload["rule"]] = event
        state = el.fold_verdicts(history)
        return EligibilityView(nomination_id, bool(history),
                               state is None or state.eligible,
                               list(latest.values()), history)

    # -- results ---------------------------------------------------------------------

    def compute_results(self, campaign_id: str, category: str, round_id: str
                        ) -> Computed:
        actor = _require(("organizer",))
        definition = self.engine.definition(campaign_id)
        if definition is not None:
            require_organizer_of(definition, actor)
        with self.store.transaction() as tx:
            state = self.engine.round_state(round_id)
            _same_round(state.campaign_id, state.category, campaign_id, category)
            return self.engine.compute(tx, state, event_metadata(),
                                       f"requested by {actor.id}")

    def ranking(self, campaign_id: str, category: str, round_id: str,
                version: int = 0) -> tuple[ranking.ResultVersion, int]:
        """(the version asked for, the latest version number)."""
        _require(RESULT_READERS)
        results = ranking.fold(self.store.read_stream(
            ranking.stream_id(campaign_id, category, round_id)))
        if results is None or results.latest is None:
            raise NotFound(f"no result yet for {campaign_id}/{category} round "
                           f"{round_id}", field="round_id")
        chosen = results.version(version) if version else results.latest
        return chosen, results.latest.version

    def breakdown(self, nomination_id: str, round_id: str, version: int = 0
                  ) -> BreakdownView:
        with self.store.engine.connect() as conn:
            row = self.projection.round_of(conn, round_id)
        if row is None:
            raise NotFound(f"scoring has not seen round {round_id!r}",
                           field="round_id")
        chosen, _ = self.ranking(row["campaign_id"], row["category"], round_id,
                                 version)
        if nomination_id not in chosen.payload["breakdowns"] and nomination_id not in (
                chosen.payload["unscored"]):
            raise NotFound(f"nomination {nomination_id} is not in round {round_id}",
                           field="nomination_id")
        return BreakdownView(
            round_id, chosen.version, chosen.breakdown(nomination_id),
            chosen.entry(nomination_id),
            chosen.payload.get("ineligible", {}).get(nomination_id, {}).get(
                "reason", ""))


def _require(roles: tuple[str, ...]) -> Actor:
    actor = current_request().actor
    if actor.role not in roles:
        raise PermissionDenied(f"this is for the {' or '.join(roles)} role(s), "
                               f"not {actor.role}")
    return actor


def _same_round(have_campaign: str, have_category: str, campaign_id: str,
                category: str) -> None:
    found = [FieldViolation(name, f"round belongs to {have!r}")
             for name, have, asked in (("campaign_id", have_campaign, campaign_id),
                                       ("category", have_category, category))
             if asked and asked != have]
    if found:
        raise InvalidArgument("the round is of another campaign or category", found)


def _may_read(actor: Actor, tracked: Tracked | None) -> bool:
    """Nominators see their hospital's verdicts, endorsers their jurisdiction's."""
    if actor.role == "nominator":
        return tracked is not None and actor.organization_id in (
            tracked.hospital_id, tracked.nominee_organization_id)
    if actor.role == "endorser":
        return tracked is not None and actor.organization_id == tracked.jurisdiction_id
    return True
