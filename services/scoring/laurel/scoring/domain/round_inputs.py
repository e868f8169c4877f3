"""The reviews of a round as scoring received them from the review service.

Each review event scoring uses is noted in its own store (`ReviewInputNoted`,
one stream per round, carrying the review event's payload and id), so a result
can be recomputed, and checked, from scoring's log alone. Folding them gives
the forms that count: each reviewer's latest form per nomination, without the
reviewers who recused.

Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from laurel.envelope import Aggregate, NewEvent, RecordedEvent
from laurel.scoring.domain.aggregation import Review

REVIEW_INPUT_NOTED = "ReviewInputNoted"

ROUND_OPENED = "ReviewRoundOpened"
SCORE_RECORDED = "ReviewScoreRecorded"
REVIEWER_RECUSED = "ReviewerRecused"
ROUND_CLOSED = "ReviewRoundClosed"
ROUND_REOPENED = "ReviewRoundReopened"
RESULTS_PUBLISHED = "ResultsPublished"
USED_TYPES = (ROUND_OPENED, SCORE_RECORDED, REVIEWER_RECUSED, ROUND_CLOSED,
              ROUND_REOPENED, RESULTS_PUBLISHED)


@dataclass(frozen=True)
class RoundInputs:
    round_id: str
    campaign_id: str = ""
    category: str = ""
    nomination_ids: tuple[str, ...] = ()
    status: str = "forming"
    forms: Mapping[tuple[str, str], Review] = field(default_factory=dict)
    recused: frozenset[tuple[str, str]] = frozenset()
    published: bool = False

    @property
    def opened(self) -> bool:
        return bool(self.campaign_id)

    def reviews(self) -> tuple[Review, ...]:
        return tuple(r for key, r in sorted(self.forms.items())
                     if key not in self.recused)


def stream_id(round_id: str) -> str:
    return f"review-inputs-{round_id}"


def noted(source: RecordedEvent) -> NewEvent:
    return NewEvent(REVIEW_INPUT_NOTED, {
        "round_id": source.payload["round_id"], "source_type": source.type,
        "source_event_id": source.event_id, "source_recorded_at": source.recorded_at,
        "data": source.payload})


def evolve(state: RoundInputs | None, event: RecordedEvent) -> RoundInputs | None:
    if event.type == REVIEW_INPUT_NOTED:
        return apply(state, event.payload)
    return state


ROUND_INPUTS = Aggregate("scoring-round-inputs", evolve)


def fold(events: Iterable[RecordedEvent]) -> RoundInputs | None:
    state: RoundInputs | None = None
    for event in events:
        state = evolve(state, event)
    return state


def apply(state: RoundInputs | None, noted_payload: Mapping[str, Any]
          ) -> RoundInputs:
    kind, p = noted_payload["source_type"], noted_payload["data"]
    state = state or RoundInputs(noted_payload["round_id"])
    if kind == ROUND_OPENED:
        return replace(state, campaign_id=p["campaign_id"], category=p["category"],
                       nomination_ids=tuple(p["nomination_ids"]), status="open")
    if kind == SCORE_RECORDED:
        key = (p["nomination_id"], p["reviewer_id"])
        review = Review(p["nomination_id"], p["reviewer_id"], p["group"],
                        dict(p["scores"]), noted_payload["source_recorded_at"])
        return replace(state, forms={**state.forms, key: review})
    if kind == REVIEWER_RECUSED:
        return replace(state, recused=state.recused | {(p["nomination_id"],
                                                         p["reviewer_id"])})
    if kind == ROUND_CLOSED:
        return replace(state, status="closed")
    if kind == ROUND_REOPENED:
        return replace(state, status="open")
    if kind == RESULTS_PUBLISHED:
        return replace(state, published=True)
    return state
