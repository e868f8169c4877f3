"""Reviewers, panels and assignment: who scores which nomination, and why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from laurel.auth import event_metadata
from laurel.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
)
from laurel.eventstore import Publication, Transaction
from laurel.review import assignment, campaigns, rounds
from laurel.review.cases import MANAGERS, REVIEWERS, ReviewBase
from laurel.review.facts import Nomination


class PanelCases(ReviewBase):
    def register_reviewer(self, reviewer: assignment.Reviewer,
                          contact: Mapping[str, str]) -> int:
        """`contact` (email, language) rides along for the notification service."""
        self._require(MANAGERS)
        with self.store.transaction() as tx:
            state = assignment.fold(self.store.read_stream(REVIEWERS))
            events = assignment.register_reviewer(state, reviewer)
            extra = {k: v for k, v in contact.items() if v}
            for event in events:
                event.payload.update(extra)
            return self._append_reviewers(tx, reviewer.reviewer_id, events)

    def declare_conflict(self, reviewer_id: str, subject_id: str, reason: str) -> int:
        actor = self._actor()
        if actor.role not in MANAGERS and not (
                actor.role == "reviewer" and actor.id == reviewer_id):
            raise PermissionDenied("an organizer, or the reviewer themself, declares "
                                   "a conflict")
        with self.store.transaction() as tx:
            state = assignment.fold(self.store.read_stream(REVIEWERS))
            events = assignment.declare_conflict(state, reviewer_id, subject_id, reason)
            return self._append_reviewers(tx, reviewer_id, events)

    def form_panel(self, spec: assignment.PanelSpec) -> int:
        self._require_organizer(spec.campaign_id)
        definition = self.definitions.get(spec.campaign_id)
        campaigns.category_of(definition, spec.category)
        mix = dict(spec.mix) or campaigns.default_mix(definition)
        _check_mix(mix, campaigns.groups(definition), spec.round_id)
        spec = assignment.PanelSpec(spec.panel_id or spec.round_id, spec.campaign_id,
                                    spec.category, spec.round_id, mix, spec.members,
                                    spec.seed)
        with self.store.transaction() as tx:
            state = self._assignment_state(spec.round_id)
            if any(p.round_id == spec.round_id for p in state.panels.values()):
                raise AlreadyExists(f"round {spec.round_id} has its panel already")
            events = assignment.form_panel(state, spec)
            return self._append_round(tx, spec.round_id, events)[-1].version

    def assign_reviewers(self, round_id: str, nomination_ids: Sequence[str]
                         ) -> list[dict[str, Any]]:
        """All or nothing; nominees already complete are left as they are."""
        self._require_round_organizer(round_id)
        with self.store.transaction() as tx:
            state = self._assignment_state(round_id)
            panel = self._panel(state, round_id)
            nominees = self._nominees(tx, panel, nomination_ids, self._round(round_id))
            events = assignment.assign_reviewers(
                state, panel.panel_id, [n.conflict_subject() for n in nominees])
            self._append_round(tx, round_id, events)
            return [e.payload for e in events]

    def explain_assignment(self, round_id: str, nomination_id: str
                           ) -> tuple[assignment.ReviewerExplanation, ...]:
        self._require_round_organizer(round_id)
        state = self._assignment_state(round_id)
        panel = self._panel(state, round_id)
        nominee = self._nomination(None, nomination_id)
        return assignment.explain_assignment(state, panel.panel_id,
                                             nominee.conflict_subject())

    def recuse(self, round_id: str, nomination_id: str, reviewer_id: str,
               reason: str) -> dict[str, Any]:
        """The reviewer steps out with a reason; the replacement's assignment."""
        actor = self._actor()
        reviewer_id = reviewer_id or actor.id
        if actor.role not in MANAGERS and not (
                actor.role == "reviewer" and actor.id == reviewer_id):
            raise PermissionDenied("a reviewer recuses themself; an organizer may "
                                   "recuse a reviewer")
        with self.store.transaction() as tx:
            current = self._round(round_id)
            if current is not None and current.status == rounds.CLOSED:
                raise FailedPrecondition(rounds.RULE_ROUND_CLOSED, f"round {round_id} "
                                         "is closed", round_id)
            state = self._assignment_state(round_id)
            panel = self._panel(state, round_id)
            nominee = self._nomination(tx, nomination_id)
            events = assignment.recuse(state, panel.panel_id,
                                       nominee.conflict_subject(), reviewer_id, reason)
            self._append_round(tx, round_id, events)
            return events[-1].payload

    # -- internals ----------------------------------------------------------------

    def _append_reviewers(self, tx: Transaction, reviewer_id: str, events: list
                          ) -> int:
        if not events:
            return self.store.stream_version(REVIEWERS)
        return tx.append(REVIEWERS, None, events, event_metadata(),
                         publish=Publication(self.topics.review, reviewer_id)
                         )[-1].version

    def _nominees(self, tx: Transaction, panel: assignment.Panel,
                  asked: Sequence[str], current: rounds.ReviewRound | None
                  ) -> list[Nomination]:
        """The asked nominations, checked; or every one that can be reviewed."""
        in_round = (set(current.nomination_ids)
                    if current is not None and current.status != rounds.FORMING
                    else None)
        if not asked:
            found = [n for n in self.projection.reviewable(
                tx.conn, panel.campaign_id, panel.category)
                if in_round is None or n.nomination_id in in_round]
            ineligible = self.projection.ineligible(
                tx.conn, [n.nomination_id for n in found])
            found = [n for n in found if n.nomination_id not in ineligible]
            if not found:
                raise FailedPrecondition(
                    "nothing_to_assign", f"no received, eligible {panel.category} "
                    "nomination is waiting for reviewers", panel.round_id)
            return found
        nominees = [self._nomination(tx, nid) for nid in dict.fromkeys(asked)]
        ineligible = self.projection.ineligible(tx.conn, list(asked))
        for n in nominees:
            _check_nominee(n, panel, ineligible, in_round)
        return nominees


def _check_nominee(n: Nomination, panel: assignment.Panel,
                   ineligible: Mapping[str, str], in_round: set[str] | None) -> None:
    nid = n.nomination_id
    if (n.campaign_id, n.category) != (panel.campaign_id, panel.category):
        raise InvalidArgument("a nomination of another category", [FieldViolation(
            "nomination_ids", f"{nid} is {n.campaign_id}/{n.category}, the panel "
            f"{panel.campaign_id}/{panel.category}")])
    if not n.reviewable:
        raise FailedPrecondition("not_received", f"{nid} is {n.status}; only "
                                 "nominations the center received are reviewed", nid)
    if nid in ineligible:
        raise FailedPrecondition("ineligible", f"{nid} is ineligible: "
                                 f"{ineligible[nid]}", nid)
    if in_round is not None and nid not in in_round:
        raise FailedPrecondition(rounds.RULE_ROUND_OPEN, f"round {panel.round_id} "
                                 f"is open without {nid}", nid)


def _check_mix(mix: Mapping[str, int], groups: Sequence[str], round_id: str) -> None:
    if not mix:
        raise InvalidArgument("the campaign sets no panel size; give the mix",
                              [FieldViolation("mix", "reviewers per group, e.g. "
                                                     f"{{{groups[0]!r}: 3}}")])
    unknown = [g for g in mix if g not in groups]
    if unknown:
        raise InvalidArgument("the mix names groups the campaign does not have", [
            FieldViolation(f"mix[{g}]", f"expected one of {groups}") for g in unknown])
