"""Notification's use cases: react to events once, answer inbox queries."""

from __future__ import annotations

from laurel.auth import current_request
from laurel.config import Topics
from laurel.envelope import Actor, EventMetadata, RecordedEvent
from laurel.errors import PermissionDenied
from laurel.eventstore import AlreadyProcessed, EventStore, Publication
from laurel.notification import domain
from laurel.notification.projection import InboxProjection
from laurel.telemetry import current_trace_carrier

CONSUMER = "notification"
SERVICE_ACTOR = Actor(id="service:notification", role="service")
READ_ANY_INBOX = {"organizer", "auditor"}


class NotificationApplication:
    def __init__(self, store: EventStore, inbox: InboxProjection, topics: Topics) -> None:
        self.store = store
        self.inbox = inbox
        self.topics = topics

    def on_intake_event(self, event: RecordedEvent) -> int:
        """Record the notifications `event` calls for, exactly once."""
        decided = domain.notifications_for(event)
        nomination_id = event.payload.get("nomination_id", "")
        metadata = EventMetadata(
            actor=SERVICE_ACTOR,
            correlation_id=event.metadata.get("correlation_id", ""),
            causation_id=event.event_id,
            trace=current_trace_carrier(),
        )
        try:
            self.store.append(
                domain.stream_id(nomination_id), None, decided, metadata,
                publish=Publication(self.topics.notification, nomination_id),
                consumed=(CONSUMER, event.event_id),
            )
        except AlreadyProcessed:
            return 0
        return len(decided)

    def list_notifications(
        self, recipient_id: str, nomination_id: str, page_size: int, page_token: str
    ) -> tuple[list[dict], str]:
        actor = current_request().actor
        recipient_id = recipient_id or actor.id
        if recipient_id != actor.id and actor.role not in READ_ANY_INBOX:
            raise PermissionDenied("you may read only your own notifications")
        limit = min(max(page_size, 1), 200) if page_size else 50
        with self.store.engine.connect() as conn:
            rows = self.inbox.list(conn, recipient_id, nomination_id, limit, page_token)
        next_token = rows[-1]["position"] if len(rows) == limit else ""
        return rows, next_token
