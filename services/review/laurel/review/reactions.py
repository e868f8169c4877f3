"""What review does with intake's and scoring's events: it notes them.

Each consumed event is applied once: its inbox mark commits with the note,
in one unit of work. Intake says which campaigns are in force, where each
campaign's clock stands (`laurel.campaigns.clock`), and which
nominations exist and are received (reviewable), with the ids conflicts are
checked against; scoring says which are ineligible and which result version
a round has, which the organizer's decisions must use.
"""

from __future__ import annotations

from collections.abc import Mapping

from laurel.campaigns import clock
from laurel.consumption import Handler, apply_once
from laurel.contracts import Declarations, declare
from laurel.contracts import intake as intake_contract
from laurel.contracts import scoring as scoring_contract
from laurel.envelope import Actor, EventMetadata, RecordedEvent
from laurel.eventstore import EventStore
from laurel.review.domain import events, facts
from laurel.unit_of_work import UnitOfWork

CONSUMER = "review"
REVIEW_ACTOR = Actor("review", "service")


def note_campaign(uow: UnitOfWork, event: RecordedEvent, meta: EventMetadata) -> None:
    uow.append(events.campaign_stream(event.payload["campaign_id"]),
               [events.campaign_noted(event)], meta)


def note_clock(uow: UnitOfWork, event: RecordedEvent, meta: EventMetadata) -> None:
    """Intake moved the campaign clock: the stages review checks follow it."""
    clock.note(uow, event, meta)


def note_nomination(uow: UnitOfWork, event: RecordedEvent, meta: EventMetadata) -> None:
    stream = events.nomination_stream(event.payload["nomination_id"])
    before = uow.load(stream, facts.NOMINATION)
    after = facts.track(before, event)
    if after is not None and after != before:
        uow.append(stream, [events.nomination_noted(after, event)], meta)


def note_verdict(uow: UnitOfWork, event: RecordedEvent, meta: EventMetadata) -> None:
    uow.append(events.nomination_stream(event.payload["nomination_id"]),
               [events.eligibility_noted(event)], meta)


def note_result(uow: UnitOfWork, event: RecordedEvent, meta: EventMetadata) -> None:
    uow.append(events.results_stream(event.payload["round_id"]),
               [events.result_noted(event)], meta)


FROM_INTAKE: Mapping[str, Handler] = {
    "CampaignDefined": note_campaign, "CampaignAmended": note_campaign,
    clock.CLOCK_SET: note_clock,
    **dict.fromkeys(facts.TRACKED_TYPES, note_nomination),
}
FROM_SCORING: Mapping[str, Handler] = {
    facts.VERDICT_RECORDED: note_verdict, facts.RESULT_COMPUTED: note_result,
}

# What review does with every type of the upstreams it reads: the handlers
# above, and why it leaves the rest (the completeness tests hold this to the
# upstreams' contracts; the audit reads it).
DECLARATIONS: Declarations = {
    "intake": declare(intake_contract.CONTRACTS, handled=FROM_INTAKE, ignored={
        intake_contract.NOMINATION_DRAFTED: "a draft is not reviewed: review's facts "
        "start with the submission, which states the whole nomination",
        intake_contract.DRAFT_SAVED: "a draft's changes are restated by its submission",
        intake_contract.NOMINATION_RETURNED: "only received nominations are reviewed; "
        "the commission's back-and-forth before that changes nothing here",
        intake_contract.NOMINATION_ENDORSED: "as NominationReturned: review waits for "
        "the center's receipt",
        intake_contract.NOMINATION_FORWARDED: "as NominationReturned: review waits for "
        "the center's receipt",
        intake_contract.EVIDENCE_ATTACHED: "reviewers read evidence from intake; "
        "assignment and scoring do not depend on it",
        intake_contract.REPORT_ATTACHED: "as EvidenceAttached: reviewers read reports "
        "in intake",
    }),
    "scoring": declare(scoring_contract.CONTRACTS, handled=FROM_SCORING, ignored={}),
}


class Reactions:
    """The subscribers' entry points: one per upstream topic."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def on_intake_event(self, event: RecordedEvent) -> None:
        self._react(FROM_INTAKE, event)

    def on_scoring_event(self, event: RecordedEvent) -> None:
        self._react(FROM_SCORING, event)

    def _react(self, handlers: Mapping[str, Handler], event: RecordedEvent) -> None:
        handle = handlers.get(event.type)
        if handle is not None:
            apply_once(self.store, CONSUMER, REVIEW_ACTOR, event, handle)
