"""What review does with intake's and scoring's events.

Each consumed event is applied once: its inbox mark commits with the fact it
notes. Intake says which nominations exist and are received (reviewable), with
the ids conflicts are checked against; scoring says which are ineligible and
which result version a round has, which the organizer's decisions must use.
"""

from __future__ import annotations

from collections.abc import Callable

from laurel.consumption import apply_once
from laurel.envelope import Actor, EventMetadata, RecordedEvent
from laurel.eventstore import EventStore, Transaction
from laurel.review import definitions, facts
from laurel.review.projection import ReviewProjection

CONSUMER = "review"
REVIEW_ACTOR = Actor("review", "service")
CAMPAIGN_TYPES = ("CampaignDefined", "CampaignAmended")

# The older handler form, until these handlers take the unit of work itself.
TxHandler = Callable[[Transaction, RecordedEvent, EventMetadata], None]


class ReviewInbox:
    def __init__(self, store: EventStore, projection: ReviewProjection) -> None:
        self.store = store
        self.projection = projection

    def on_intake_event(self, event: RecordedEvent) -> None:
        if event.type in CAMPAIGN_TYPES:
            self._once(event, self._campaign)
        elif event.type in facts.TRACKED_TYPES:
            self._once(event, self._nomination)

    def on_scoring_event(self, event: RecordedEvent) -> None:
        if event.type == facts.VERDICT_RECORDED:
            self._once(event, self._verdict)
        elif event.type == facts.RESULT_COMPUTED:
            self._once(event, self._result)

    def _campaign(self, tx: Transaction, event: RecordedEvent,
                  meta: EventMetadata) -> None:
        tx.append(definitions.stream_id(event.payload["campaign_id"]), None,
                  [definitions.noted(event)], meta)

    def _nomination(self, tx: Transaction, event: RecordedEvent,
                    meta: EventMetadata) -> None:
        nid = event.payload["nomination_id"]
        before = self.projection.nomination(tx.conn, nid)
        after = facts.track(before, event)
        if after is not None and after != before:
            tx.append(facts.nomination_stream(nid), None, [facts.noted(after, event)],
                      meta)

    def _verdict(self, tx: Transaction, event: RecordedEvent,
                 meta: EventMetadata) -> None:
        tx.append(facts.nomination_stream(event.payload["nomination_id"]), None,
                  [facts.eligibility_noted(event)], meta)

    def _result(self, tx: Transaction, event: RecordedEvent,
                meta: EventMetadata) -> None:
        tx.append(facts.results_stream(event.payload["round_id"]), None,
                  [facts.result_noted(event)], meta)

    def _once(self, event: RecordedEvent, handle: TxHandler) -> None:
        apply_once(self.store, CONSUMER, REVIEW_ACTOR, event,
                   lambda uow, e, m: handle(Transaction(uow), e, m))
