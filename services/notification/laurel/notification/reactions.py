"""What notification does with intake's, scoring's and review's events.

Each event is applied once (`apply_once`): its inbox mark commits with the
directory update it implies and every notification, held batch and queued
e-mail it calls for, so a redelivered or replayed message changes nothing and
a crash leaves all or nothing. Events are read by type name and payload keys
only; a type nobody hears about is not even marked.
"""

from __future__ import annotations

import logging

from laurel.campaigns import clock
from laurel.consumption import apply_once
from laurel.contracts import Declarations, ServiceContracts, declare
from laurel.contracts import intake as intake_contract
from laurel.contracts import review as review_contract
from laurel.contracts import scoring as scoring_contract
from laurel.envelope import Actor, EventMetadata, RecordedEvent
from laurel.eventstore import EventStore
from laurel.notification.domain import directory, kinds, notifications
from laurel.notification.domain.events import contact_stream, reviewer_stream
from laurel.notification.domain.templates import Catalog
from laurel.notification.handlers import Context, record
from laurel.unit_of_work import UnitOfWork

CONSUMER = "notification"
SERVICE_ACTOR = Actor(id="service:notification", role="service")
# Every upstream event type that can change the directory or tell someone.
TYPES = directory.TYPES | kinds.BUILDERS.keys() | {clock.CLOCK_SET}


def _handled(upstream: ServiceContracts) -> list[str]:
    return sorted(t for t in TYPES if t in upstream)


# What notification does with every type of the upstreams it reads: `TYPES`,
# and why it leaves the rest (the completeness tests hold this to the
# upstreams' contracts, and `TYPES` to it; the audit reads it).
DECLARATIONS: Declarations = {
    "intake": declare(intake_contract.CONTRACTS, _handled(intake_contract.CONTRACTS), {
        intake_contract.NOMINATION_DRAFTED: "nobody is told of a draft; its contact "
        "is taken from the submission",
        intake_contract.NOMINATION_FORWARDED: "the nominator is told of the "
        "endorsement; forwarding to the center follows it and needs no second message",
        intake_contract.NOMINATION_RECEIVED: "the nominator got a receipt at "
        "submission; the center's receipt changes nothing they must do",
        intake_contract.NOMINATION_WITHDRAWN: "the nominator withdrew it themselves",
        intake_contract.NOMINATION_REJECTED: "no rejection notice is defined in the "
        "shipped templates yet; the nominator sees the status in intake",
        intake_contract.EVIDENCE_ATTACHED: "the nominator attached it themselves",
        intake_contract.REPORT_ATTACHED: "the reporter attached it; the nominator is "
        "not asked to act on it",
        intake_contract.CAMPAIGN_DEFINED: "notification reads the campaign "
        "definitions it needs (approval rules) from its own catalog",
        intake_contract.CAMPAIGN_AMENDED: "as CampaignDefined",
    }),
    "scoring": declare(scoring_contract.CONTRACTS, _handled(scoring_contract.CONTRACTS), {
        scoring_contract.RESULT_COMPUTED: "results are told when review publishes "
        "them (ResultsPublished), never when first computed",
    }),
    "review": declare(review_contract.CONTRACTS, _handled(review_contract.CONTRACTS), {
        review_contract.CONFLICT_DECLARED: "the reviewer declared it themselves",
        review_contract.PANEL_FORMED: "reviewers are told of their assignments "
        "(ReviewerAssigned), not of the panel",
        review_contract.PANEL_MEMBERS_ADDED: "as PanelFormed",
        review_contract.REVIEWER_RECUSED: "the reviewer recused themselves; the "
        "replacement is told by its ReviewerAssigned",
        review_contract.ROUND_OPENED: "reviewers are told per assignment, with the "
        "deadline in their reminders",
        review_contract.SCORE_RECORDED: "the reviewer recorded it themselves",
        review_contract.ROUND_CLOSED: "nobody acts on a closed round until results "
        "are published",
        review_contract.ROUND_REOPENED: "reviewers with outstanding forms are reminded "
        "(ReviewDeadlineReminderDue)",
        review_contract.DECISION_RECORDED: "decisions are told once published, all at "
        "once (ResultsPublished)",
    }),
}
log = logging.getLogger("laurel.notification.reactions")


class Reactions:
    def __init__(self, store: EventStore, ctx: Context, catalog: Catalog,
                 default_language: str = "zh-CN") -> None:
        self.store = store
        self.ctx = ctx
        self.catalog = catalog
        self.default_language = default_language

    def on_event(self, event: RecordedEvent) -> int:
        """Record what `event` calls for, exactly once; returns how many events
        that took (0: nothing to do, or applied before)."""
        if event.type not in TYPES:
            return 0
        appended: list[int] = []

        def handle(uow: UnitOfWork, event: RecordedEvent, meta: EventMetadata) -> None:
            self._react(uow, event, meta)
            appended.append(len(uow.recorded))

        if not apply_once(self.store, CONSUMER, SERVICE_ACTOR, event, handle):
            return 0
        return appended[-1]

    def _react(self, uow: UnitOfWork, event: RecordedEvent, meta: EventMetadata) -> None:
        if event.type == clock.CLOCK_SET:  # approvals follow the campaign's stages
            clock.note(uow, event, meta)
            return
        self._note_contacts(uow, event, meta)
        try:
            items = kinds.intents_for(event, self._facts(uow, event), self.catalog)
        except kinds.MalformedEvent as error:
            log.warning("%s: nobody told", error)
            return
        read = self.ctx.read
        ids = [notifications.id_of(i) for i in items if isinstance(i, kinds.Intent)]
        already = read.inbox.existing(uow.conn, ids) | read.batches.held(uow.conn, ids)
        decided = notifications.decide(event, items, self.catalog, self.ctx.policy, already)
        record(uow, decided, meta, self.ctx.topic)

    def _note_contacts(self, uow: UnitOfWork, event: RecordedEvent,
                       meta: EventMetadata) -> None:
        """The directory after `event`; a reviewer's first address also sends
        the e-mails of what they were told before it was known."""
        p, read = event.payload, self.ctx.read
        if isinstance(p.get("nomination_id"), str):
            contact = directory.nomination_contact_from(
                event, read.directory.nomination(uow.conn, p["nomination_id"]))
            if contact is not None:
                uow.append(contact_stream(contact.nomination_id),
                           [directory.recorded(contact)], meta)
        if isinstance(p.get("reviewer_id"), str):
            reviewer = directory.reviewer_contact_from(
                event, read.directory.reviewer(uow.conn, p["reviewer_id"]))
            if reviewer is not None:
                uow.append(reviewer_stream(reviewer.reviewer_id),
                           [directory.recorded(reviewer)], meta)
                inbox = read.inbox.page(uow.conn, reviewer.reviewer_id, limit=10_000)
                emailed = read.deliveries.known(
                    uow.conn, [row["notification_id"] for row in inbox])
                late = notifications.late_emails(inbox, emailed, reviewer.email,
                                                 self.ctx.policy)
                record(uow, late, meta, self.ctx.topic)

    def _facts(self, uow: UnitOfWork, event: RecordedEvent) -> kinds.Facts:
        nomination_ids, reviewer_ids = kinds.referenced_ids(event)
        read = self.ctx.read.directory
        nominations = {n: contact for n in nomination_ids
                       if (contact := read.nomination(uow.conn, n)) is not None}
        reviewers = {r: known for r in reviewer_ids
                     if (known := read.reviewer(uow.conn, r)) is not None}
        return kinds.Facts(nominations, reviewers, self.default_language)
