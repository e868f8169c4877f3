"""Rounds: opening, blind scoring, closing, reminders, decisions, publication."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from laurel.envelope import Actor, EventMetadata
from laurel.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from laurel.review import campaigns, rounds
from laurel.review.cases import READERS, ReviewBase
from laurel.review.facts import Nomination
from laurel.telemetry import current_trace_carrier

REVIEWER = "reviewer"
RULE_NO_RESULT = "no_result"
RULE_STALE = "decisions_stale"
RULE_INELIGIBLE = "ineligible"
BLIND = ("blind review: others' forms show once you submitted yours for the "
         "nomination and the round is closed")
REMINDER_ACTOR = Actor("review-reminders", "service")


@dataclass(frozen=True)
class ForReview:
    round: rounds.ReviewRound
    nomination: Nomination
    own: rounds.ReviewForm | None


@dataclass(frozen=True)
class RoundView:
    round: rounds.ReviewRound
    manager: bool
    result_version: int
    ineligible: list[str]


class RoundCases(ReviewBase):
    def open_round(self, round_id: str, deadline: datetime,
                   nomination_ids: Sequence[str], number: int = 1,
                   previous_round_id: str = "") -> int:
        self._require_round_organizer(round_id)
        if deadline <= self.now():
            raise InvalidArgument("the deadline has passed", [FieldViolation(
                "deadline", "must be in the future")])
        with self.store.transaction() as tx:
            panel = self._panel(self._assignment_state(round_id), round_id)
            criteria = campaigns.criteria(self.definitions.get(panel.campaign_id),
                                          panel.category)
            ids = list(nomination_ids) or sorted(
                nid for nid, assigned in panel.assignments.items() if assigned)
            events = rounds.open_round(self._round(round_id), rounds.RoundSpec(
                round_id, panel.campaign_id, panel.category, number or 1, deadline,
                criteria, tuple(ids), previous_round_id))
            return self._append_round(tx, round_id, events)[-1].version

    def round_view(self, round_id: str) -> RoundView:
        """The round; for organizers also its result version and exclusions."""
        actor = self._require((*READERS, REVIEWER))
        state = self._opened_round(round_id)
        if actor.role == REVIEWER:
            return RoundView(self._reviewers_view(state, actor.id), False, 0, [])
        with self.store.engine.connect() as conn:
            row = self.projection.round(conn, round_id) or {}
            ineligible = self.projection.ineligible(conn, list(state.nomination_ids))
        return RoundView(state, True, row.get("result_version", 0), sorted(ineligible))

    def _reviewers_view(self, state: rounds.ReviewRound, reviewer_id: str
                        ) -> rounds.ReviewRound:
        """A reviewer sees a round they serve in, their nominations only, and
        decisions once published."""
        with self.store.engine.connect() as conn:
            mine = {row["nomination_id"] for row in self.projection.assignments_of(
                conn, reviewer_id, state.round_id)}
        if not mine:
            raise NotFound(f"you have no assignments in round {state.round_id}",
                           field="round_id")
        return replace(
            state, nomination_ids=tuple(n for n in state.nomination_ids if n in mine),
            decisions=state.decisions if state.published_version is not None else {})

    def my_assignments(self, round_id: str = "") -> list[dict[str, Any]]:
        actor = self._actor()
        with self.store.engine.connect() as conn:
            rows = self.projection.assignments_of(conn, actor.id, round_id)
            for row in rows:
                known = self.projection.nomination(conn, row["nomination_id"])
                row["nominee_name"] = known.nominee_name if known else ""
                row["campaign_id"] = known.campaign_id if known else ""
                row["category"] = known.category if known else ""
        return rows

    def nomination_for_review(self, round_id: str, nomination_id: str) -> ForReview:
        """A reviewer reads only what is assigned to them (else: not found)."""
        actor = self._require((*READERS, REVIEWER))
        if actor.role == REVIEWER:
            with self.store.engine.connect() as conn:
                mine = self.projection.is_assigned(conn, round_id, nomination_id,
                                                   actor.id)
            if not mine:
                raise NotFound(f"{nomination_id} is not among your assignments in "
                               f"round {round_id}", field="nomination_id")
        state = self._opened_round(round_id)
        if nomination_id not in state.nomination_ids:
            raise NotFound(f"{nomination_id} is not in round {round_id}",
                           field="nomination_id")
        return ForReview(state, self._nomination(None, nomination_id),
                         state.form(nomination_id, actor.id))

    def submit_review(self, round_id: str, nomination_id: str,
                      scores: Mapping[str, Any], comment: str) -> tuple[int, bool]:
        """(form version, changed): a reviewer's form, or its amendment."""
        actor = self._require((REVIEWER,))
        with self.store.transaction() as tx:
            state = self._round(round_id)
            if state is None:
                raise NotFound(f"no round {round_id!r}", field="round_id")
            events = rounds.record_score(state, nomination_id, actor.id, scores,
                                         comment, self.now())
            if not events:
                return state.form(nomination_id, actor.id).version, False
            self._append_round(tx, round_id, events)
            return events[0].payload["form_version"], True

    def reviews(self, round_id: str, nomination_id: str = ""
                ) -> tuple[list[rounds.ReviewForm], int]:
        """(forms the caller may read, how many others' are withheld)."""
        actor = self._require((*READERS, REVIEWER))
        state = self._opened_round(round_id)
        forms = [f for f in state.current_forms()
                 if not nomination_id or f.nomination_id == nomination_id]
        if actor.role != REVIEWER:
            return forms, 0
        visible = [f for f in rounds.visible_reviews(state, actor.id)
                   if not f.recused and (not nomination_id
                                         or f.nomination_id == nomination_id)]
        return visible, len(forms) - len(visible)

    def close_round(self, round_id: str, reason: str) -> dict[str, Any] | None:
        self._require_round_organizer(round_id)
        with self.store.transaction() as tx:
            events = rounds.close_round(self._round(round_id), self.now(), reason)
            self._append_round(tx, round_id, events)
            return events[0].payload if events else None

    def reopen_round(self, round_id: str, reason: str, deadline: datetime) -> int:
        self._require_round_organizer(round_id)
        with self.store.transaction() as tx:
            events = rounds.reopen_round(self._round(round_id), reason, deadline,
                                         self.now())
            return self._append_round(tx, round_id, events)[-1].version

    def send_due_reminders(self, now: datetime | None = None) -> int:
        """ReviewDeadlineReminderDue for reviewers with forms still to submit."""
        now = now or self.now()
        with self.store.engine.connect() as conn:
            open_ids = self.projection.open_rounds(conn)
        sent = 0
        for round_id in open_ids:
            with self.store.transaction() as tx:
                events = rounds.reminders_due(self._round(round_id), now)
                meta = EventMetadata(REMINDER_ACTOR, f"reminders-{uuid.uuid4()}",
                                     trace=current_trace_carrier())
                sent += len(self._append_round(tx, round_id, events, meta))
        return sent

    # -- decisions -----------------------------------------------------------------

    def record_decision(self, round_id: str, nomination_id: str, outcome: str,
                        tier: str, reason: str, result_version: int = 0) -> int:
        self._require_round_organizer(round_id)
        with self.store.transaction() as tx:
            state = self._round(round_id)
            latest = self._result_version(tx.conn, round_id)
            version = result_version or latest
            events = rounds.record_decision(state, nomination_id, outcome, tier,
                                            reason, version or 1)
            if version == 0 or version > latest:
                raise FailedPrecondition(
                    RULE_NO_RESULT, f"scoring has reported result version {latest} "
                    f"for round {round_id}, not {version}", round_id)
            if outcome != rounds.NOT_AWARDED:
                why = self.projection.ineligible(tx.conn, [nomination_id])
                if why:
                    raise FailedPrecondition(
                        RULE_INELIGIBLE, f"{nomination_id} cannot be awarded: "
                        f"{why[nomination_id]}", nomination_id)
            tiers = campaigns.tier_keys(self.definitions.get(state.campaign_id),
                                        state.category)
            if outcome == rounds.TIER and tier not in tiers:
                raise InvalidArgument("not a prize tier of the category", [
                    FieldViolation("tier", f"expected one of {tiers}")])
            return self._append_round(tx, round_id, events)[-1].version

    def publish_results(self, round_id: str) -> tuple[int, int]:
        """(result version, decisions published): every decision at once."""
        self._require_round_organizer(round_id)
        with self.store.transaction() as tx:
            state = self._round(round_id)
            latest = self._result_version(tx.conn, round_id)
            events = rounds.publish_results(state, latest)
            if not events:
                return latest, len(state.decisions)
            if latest == 0:
                raise FailedPrecondition(RULE_NO_RESULT, "scoring has reported no "
                                         f"result for round {round_id}", round_id)
            stale = sorted(d.nomination_id for d in state.decisions.values()
                           if d.result_version != latest)
            if stale:
                raise FailedPrecondition(
                    RULE_STALE, f"result version {latest} came after the decisions "
                    f"on {', '.join(stale)}: decide them again on it", round_id)
            self._append_round(tx, round_id, events)
            return latest, len(events[0].payload["decisions"])

    def _result_version(self, conn: Any, round_id: str) -> int:
        row = self.projection.round(conn, round_id)
        return row["result_version"] if row else 0
