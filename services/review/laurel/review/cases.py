"""What review's use cases share: the store, the state of a round, who calls.

Every write runs in one store transaction and decides through the pure
domain (`assignment`, `rounds`) before appending, so a refusal stores nothing.
Authorization basics live here until a later issue centralizes them:
organizers manage, a reviewer acts only on what is assigned to them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from laurel.auth import current_request, event_metadata
from laurel.campaigns.access import require_organizer_of
from laurel.config import Topics
from laurel.envelope import Actor, EventMetadata, NewEvent, RecordedEvent, utcnow
from laurel.errors import NotFound, PermissionDenied
from laurel.eventstore import EventStore, Publication, Transaction
from laurel.review import assignment, rounds
from laurel.review.definitions import Definitions
from laurel.review.facts import Nomination
from laurel.review.projection import ReviewProjection

REVIEWERS = assignment.reviewer_stream_id()
MANAGERS = ("organizer",)
READERS = ("organizer", "auditor")


class ReviewBase:
    def __init__(
        self, store: EventStore, projection: ReviewProjection,
        definitions: Definitions, topics: Topics, *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.projection = projection
        self.definitions = definitions
        self.topics = topics
        self.now = now
        # round stream -> (folded state, its version): each call folds only the
        # events recorded since, instead of the whole round again (a round of
        # 2,000 nominations gathers 10,000 forms).
        self._folded_rounds: dict[str, tuple[rounds.ReviewRound | None, int]] = {}

    # -- who calls -------------------------------------------------------------

    @staticmethod
    def _actor() -> Actor:
        return current_request().actor

    def _require_organizer(self, campaign_id: str) -> Actor:
        """An organizer of this campaign (any, when the campaign names none)."""
        actor = self._require(MANAGERS)
        if campaign_id:
            require_organizer_of(self.definitions.get(campaign_id), actor)
        return actor

    def _require_round_organizer(self, round_id: str) -> Actor:
        """The round's campaign is its panel's until the round opens."""
        state = self._round(round_id)
        campaign_id = state.campaign_id if state else ""
        if not campaign_id:
            panels = self._assignment_state(round_id).panels.values()
            campaign_id = next((p.campaign_id for p in panels if p.round_id == round_id),
                               "")
        return self._require_organizer(campaign_id)

    def _require(self, roles: Sequence[str]) -> Actor:
        actor = self._actor()
        if actor.role not in roles:
            raise PermissionDenied(f"this is for the {' or '.join(roles)} role(s), "
                                   f"not {actor.role}")
        return actor

    # -- state -------------------------------------------------------------------

    def _round_events(self, round_id: str) -> list[RecordedEvent]:
        return self.store.read_stream(rounds.stream_id(round_id))

    def _assignment_state(self, round_id: str) -> assignment.AssignmentState:
        return assignment.fold([*self.store.read_stream(REVIEWERS),
                                *self._round_events(round_id)])

    def _round(self, round_id: str) -> rounds.ReviewRound | None:
        stream = rounds.stream_id(round_id)
        state, version = self._folded_rounds.get(stream, (None, 0))
        newer = self.store.read_stream(stream, from_version=version + 1)
        for event in newer:
            state = rounds.apply(state, event)
        if newer:
            self._folded_rounds[stream] = (state, newer[-1].version)
        return state

    def _opened_round(self, round_id: str) -> rounds.ReviewRound:
        state = self._round(round_id)
        if state is None or state.status == rounds.FORMING:
            raise NotFound(f"no open or closed round {round_id!r}", field="round_id")
        return state

    @staticmethod
    def _panel(state: assignment.AssignmentState, round_id: str) -> assignment.Panel:
        for panel in state.panels.values():
            if panel.round_id == round_id:
                return panel
        raise NotFound(f"no panel was formed for round {round_id!r}", field="round_id")

    def _nomination(self, tx_or_none: Transaction | None, nomination_id: str
                    ) -> Nomination:
        if tx_or_none is not None:
            found = self.projection.nomination(tx_or_none.conn, nomination_id)
        else:
            with self.store.engine.connect() as conn:
                found = self.projection.nomination(conn, nomination_id)
        if found is None:
            raise NotFound(f"review knows no nomination {nomination_id!r}",
                           field="nomination_id")
        return found

    # -- writing -------------------------------------------------------------------

    def _append_round(self, tx: Transaction, round_id: str, events: list[NewEvent],
                      metadata: EventMetadata | None = None) -> list[RecordedEvent]:
        """Round events are keyed by round, so consumers see them in order."""
        if not events:
            return []
        return tx.append(rounds.stream_id(round_id), None, events,
                         metadata or event_metadata(),
                         publish=Publication(self.topics.review, round_id))
