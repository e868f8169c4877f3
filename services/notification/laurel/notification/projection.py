"""The inbox read model: one row per notification, rebuilt from the log at will."""

from __future__ import annotations

from sqlalchemy import Column, Connection, Index, MetaData, String, Table, Text, select

from laurel.envelope import RecordedEvent
from laurel.notification.domain import RECEIPT_ISSUED

ISSUED_TYPES = {RECEIPT_ISSUED}


class InboxProjection:
    name = "notification_inbox"

    def __init__(self) -> None:
        self.metadata = MetaData()
        self.table = Table(
            "inbox_notifications",
            self.metadata,
            Column("notification_id", String(36), primary_key=True),
            Column("recipient_id", String(200), nullable=False),
            Column("kind", String(50), nullable=False),
            Column("nomination_id", String(36), nullable=False),
            Column("title", Text, nullable=False),
            Column("body", Text, nullable=False),
            Column("source_event_id", String(36), nullable=False),
            Column("created_at", String(32), nullable=False),
            Column("position", String(20), nullable=False),
            Index("ix_inbox_recipient", "recipient_id", "created_at"),
        )

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if event.type not in ISSUED_TYPES:
            return
        p = event.payload
        conn.execute(self.table.insert(), {
            "notification_id": p["notification_id"],
            "recipient_id": p["recipient_id"],
            "kind": p["kind"],
            "nomination_id": p["nomination_id"],
            "title": p["title"],
            "body": p["body"],
            "source_event_id": p["source_event_id"],
            "created_at": event.recorded_at,
            "position": f"{event.position:020d}",
        })

    def list(self, conn: Connection, recipient_id: str, nomination_id: str = "",
             limit: int = 50, before: str = "") -> list[dict]:
        query = select(self.table).where(self.table.c.recipient_id == recipient_id)
        if nomination_id:
            query = query.where(self.table.c.nomination_id == nomination_id)
        if before:
            query = query.where(self.table.c.position < before)
        query = query.order_by(self.table.c.position.desc()).limit(limit)
        return [dict(row) for row in conn.execute(query).mappings()]
