"""Notification's use cases: react to events once, approve batches, answer queries.

Reacting to an event is one transaction: the inbox mark of the event, the
directory update it implies, and every notification, held batch and queued
e-mail it calls for commit together, so a redelivered or replayed message
changes nothing and a crash leaves all or nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from laurel.auth import current_request, event_metadata
from laurel.campaigns import CampaignDefinition
from laurel.campaigns.access import require_organizer_of
from laurel.config import Topics
from laurel.envelope import Actor, EventMetadata, RecordedEvent
from laurel.errors import FieldViolation, InvalidArgument, PermissionDenied
from laurel.eventstore import AlreadyProcessed, EventStore, Publication, Transaction
from laurel.notification import approval, directory, domain, kinds
from laurel.notification.directory import DirectoryProjection
from laurel.notification.projection import (
    BatchProjection,
    DeliveryProjection,
    InboxProjection,
    cursor,
)
from laurel.notification.templates import Catalog
from laurel.telemetry import current_trace_carrier

CONSUMER = "notification"
SERVICE_ACTOR = Actor(id="service:notification", role="service")
READ_ANY_INBOX = {"organizer", "auditor"}
READ_OPERATIONS = {"organizer", "auditor"}
POSITION = re.compile(r"[0-9]{1,20}", re.ASCII)


@dataclass
class Projections:
    inbox: InboxProjection
    directory: DirectoryProjection
    batches: BatchProjection
    deliveries: DeliveryProjection

    def all(self) -> list:
        return [self.inbox, self.directory, self.batches, self.deliveries]


class NotificationApplication:
    def __init__(
        self,
        store: EventStore,
        projections: Projections,
        topics: Topics,
        catalog: Catalog,
        policy: domain.Policy,
        default_language: str = "zh-CN",
        on_change: Callable[[], None] = lambda: None,
        campaigns: Mapping[str, CampaignDefinition] | None = None,
    ) -> None:
        self.campaigns = dict(campaigns or {})
        self.store = store
        self.projections = projections
        self.inbox = projections.inbox
        self.topics = topics
        self.catalog = catalog
        self.policy = policy
        self.default_language = default_language
        self.on_change = on_change

    # -- reacting -------------------------------------------------------------

    def on_event(self, event: RecordedEvent) -> int:
        """Record what `event` calls for, exactly once; returns events appended."""
        metadata = EventMetadata(
            actor=SERVICE_ACTOR,
            correlation_id=event.metadata.get("correlation_id", ""),
            causation_id=event.event_id,
            trace=current_trace_carrier(),
        )
        with self.store.transaction() as tx:
            try:
                tx.mark_processed(CONSUMER, event.event_id)
            except AlreadyProcessed:
                return 0
            self._update_directory(tx, event, metadata)
            facts = self._facts(tx, event)
            items = kinds.intents_for(event, facts, self.catalog)
            ids = [domain.id_of(i) for i in items if isinstance(i, kinds.Intent)]
            already = self.inbox.existing(tx.conn, ids) | self.projections.batches.held(
                tx.conn, ids
            )
            appends = domain.decide(event, items, self.catalog, self.policy, already)
            self._append_all(tx, appends, metadata)
            count = len(tx.recorded)
        if count:
            self.on_change()
        return count

    on_intake_event = on_event  # the name the first slice used

    def _update_directory(
        self, tx: Transaction, event: RecordedEvent, metadata: EventMetadata
    ) -> None:
        p, d = event.payload, self.projections.directory
        if isinstance(p.get("nomination_id"), str):
            current = d.nomination(tx.conn, p["nomination_id"])
            updated = directory.nomination_contact_from(event, current)
            if updated is not None:
                tx.append(
                    directory.contact_stream(updated.nomination_id),
                    None,
                    [directory.recorded(updated)],
                    metadata,
                )
        if isinstance(p.get("reviewer_id"), str):
            reviewer = directory.reviewer_contact_from(
                event, d.reviewer(tx.conn, p["reviewer_id"])
            )
            if reviewer is not None:
                tx.append(
                    directory.reviewer_stream(reviewer.reviewer_id),
                    None,
                    [directory.recorded(reviewer)],
                    metadata,
                )
                self._append_all(tx, self._late_emails(tx, reviewer), metadata)

    def _late_emails(
        self, tx: Transaction, reviewer: directory.ReviewerContact
    ) -> list[domain.Append]:
        inbox = self.inbox.list(tx.conn, reviewer.reviewer_id, limit=10_000)
        emailed = self.projections.deliveries.known(
            tx.conn, [row["notification_id"] for row in inbox])
        return domain.late_emails(inbox, emailed, reviewer.email, self.policy)

    def _facts(self, tx: Transaction, event: RecordedEvent) -> kinds.Facts:
        nomination_ids, reviewer_ids = kinds.referenced_ids(event)
        d = self.projections.directory
        nominations = {
            n: c for n in nomination_ids if (c := d.nomination(tx.conn, n)) is not None
        }
        reviewers = {
            r: c for r in reviewer_ids if (c := d.reviewer(tx.conn, r)) is not None
        }
        return kinds.Facts(nominations, reviewers, self.default_language)

    def _append_all(
        self, tx: Transaction, appends: list[domain.Append], metadata: EventMetadata
    ) -> None:
        for append in appends:
            publish = (
                Publication(self.topics.notification, append.publish_key)
                if append.publish_key is not None
                else None
            )
            tx.append(append.stream_id, None, append.events, metadata, publish=publish)

    # -- approving ------------------------------------------------------------

    def approve_batch(self, batch_id: str) -> tuple[dict, int, bool]:
        """Release a held batch; (batch row, released, already approved before)."""
        actor = current_request().actor
        stream = domain.batch_stream(batch_id)
        with self.store.transaction() as tx:  # serialized: no double release
            batch = approval.fold(self.store.read_stream(stream))
            if batch is not None and batch.campaign_id in self.campaigns:
                require_organizer_of(self.campaigns[batch.campaign_id], actor)
            appends = approval.approve(batch, actor, self.policy)
            assert batch is not None
            if appends:
                self._append_all(tx, appends, event_metadata(batch.source_event_id))
        if appends:
            self.on_change()
        [row] = [b for b in self.list_batches(check=False) if b["batch_id"] == batch_id]
        return row, len(batch.held) if appends else 0, not appends

    def list_batches(
        self, status: str = "", campaign_id: str = "", *, check: bool = True
    ) -> list[dict]:
        if check:
            _require(READ_OPERATIONS, "only organizers and auditors see batches")
        with self.store.engine.connect() as conn:
            return self.projections.batches.list(conn, status, campaign_id)

    # -- reading --------------------------------------------------------------

    def inbox_owner(self, recipient_id: str) -> str:
        actor = current_request().actor
        recipient_id = recipient_id or actor.id
        if recipient_id != actor.id and actor.role not in READ_ANY_INBOX:
            raise PermissionDenied("you may read only your own notifications")
        return recipient_id

    def list_notifications(
        self, recipient_id: str, nomination_id: str, page_size: int, page_token: str
    ) -> tuple[list[dict], str]:
        recipient_id = self.inbox_owner(recipient_id)
        page_token = checked_cursor("page_token", page_token)
        limit = min(max(page_size, 1), 200) if page_size else 50
        with self.store.engine.connect() as conn:
            rows = self.inbox.list(conn, recipient_id, nomination_id, limit, page_token)
        next_token = rows[-1]["position"] if len(rows) == limit else ""
        return rows, next_token

    def notifications_since(
        self, recipient_id: str, nomination_id: str, after: str
    ) -> list[dict]:
        """For watchers (already authorized): entries after the cursor, oldest first."""
        with self.store.engine.connect() as conn:
            return self.inbox.since(conn, recipient_id, nomination_id, after)

    def current_cursor(self) -> str:
        return cursor(self.store.last_position())

    def list_deliveries(
        self, status: str, nomination_id: str, limit: int
    ) -> list[dict]:
        _require(READ_OPERATIONS, "only organizers and auditors see e-mail deliveries")
        limit = min(max(limit, 1), 500) if limit else 100
        with self.store.engine.connect() as conn:
            return self.projections.deliveries.list(conn, status, nomination_id, limit)


def checked_cursor(field: str, text: str) -> str:
    """A caller's cursor or page token as the inbox compares it ("" stays "").

    Cursors compare as fixed-width text, so anything else (a typo, "abc")
    would silently select nothing or everything: refuse it instead.
    """
    if not text:
        return ""
    if not POSITION.fullmatch(text):
        raise InvalidArgument(f"{field} is not a cursor", [FieldViolation(
            field, "expected a cursor from an earlier answer, or 0 for the start")])
    return cursor(int(text))


def _require(roles: set[str], message: str) -> None:
    if current_request().actor.role not in roles:
        raise PermissionDenied(message)
