"""Read models, each rebuilt from the log at will: inbox, batches, deliveries.

Rows are written in the transaction of the events that change them. A table
whose shape changes gets a new name (`_v2`), and the bootstrap refills a
missing table from the log, so an existing store upgrades itself at start.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
)

from laurel.envelope import RecordedEvent
from laurel.notification import delivery
from laurel.notification.domain import (
    BATCH_APPROVED,
    BATCH_OPENED,
    EMAIL_QUEUED,
    ISSUED_TYPES,
    NOTIFICATION_HELD,
)
from laurel.notification.privacy import mask_email


def cursor(position: int) -> str:
    """Positions as fixed-width text: they sort and compare as strings."""
    return f"{position:020d}"


class InboxProjection:
    name = "notification_inbox"

    def __init__(self) -> None:
        self.metadata = MetaData()
        self.table = Table(
            "inbox_notifications_v2",
            self.metadata,
            Column("notification_id", String(36), primary_key=True),
            Column("recipient_id", String(200), nullable=False),
            Column("kind", String(50), nullable=False),
            Column("nomination_id", String(36), nullable=False),
            Column("title", Text, nullable=False),
            Column("body", Text, nullable=False),
            Column("source_event_id", String(36), nullable=False),
            Column("language", String(10), nullable=False),
            Column("template_version", Integer, nullable=False),
            Column("batch_id", String(36), nullable=False),
            Column("created_at", String(32), nullable=False),
            Column("position", String(20), nullable=False),
            Index("ix_inbox_v2_recipient", "recipient_id", "position"),
        )

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if event.type not in ISSUED_TYPES:
            return
        p = event.payload
        template = p.get("template") or {}
        conn.execute(
            self.table.insert(),
            {
                "notification_id": p["notification_id"],
                "recipient_id": p["recipient_id"],
                "kind": p["kind"],
                "nomination_id": p["nomination_id"],
                "title": p["title"],
                "body": p["body"],
                "source_event_id": p["source_event_id"],
                "language": template.get("language", "zh-CN"),
                "template_version": template.get("version", 0),
                "batch_id": p.get("batch_id", ""),
                "created_at": event.recorded_at,
                "position": cursor(event.position),
            },
        )

    def list(
        self,
        conn: Connection,
        recipient_id: str,
        nomination_id: str = "",
        limit: int = 50,
        before: str = "",
    ) -> list[dict]:
        """Newest first, for paging."""
        query = self._for(recipient_id, nomination_id)
        if before:
            query = query.where(self.table.c.position < before)
        query = query.order_by(self.table.c.position.desc()).limit(limit)
        return [dict(row) for row in conn.execute(query).mappings()]

    def since(
        self,
        conn: Connection,
        recipient_id: str,
        nomination_id: str,
        after: str,
        limit: int = 100,
    ) -> list[dict]:
        """Oldest first after a cursor, for watching."""
        query = (
            self._for(recipient_id, nomination_id)
            .where(self.table.c.position > after)
            .order_by(self.table.c.position)
            .limit(limit)
        )
        return [dict(row) for row in conn.execute(query).mappings()]

    def existing(self, conn: Connection, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        query = select(self.table.c.notification_id).where(
            self.table.c.notification_id.in_(ids)
        )
        return set(conn.execute(query).scalars())

    def _for(self, recipient_id: str, nomination_id: str):  # noqa: ANN202
        query = select(self.table).where(self.table.c.recipient_id == recipient_id)
        if nomination_id:
            query = query.where(self.table.c.nomination_id == nomination_id)
        return query


class BatchProjection:
    """Batches waiting for (or given) approval, and what each holds."""

    name = "notification_batches"

    def __init__(self) -> None:
        self.metadata = MetaData()
        self.batches = Table(
            "notification_batches",
            self.metadata,
            Column("batch_id", String(36), primary_key=True),
            Column("kind", String(50), nullable=False),
            Column("campaign_id", String(100), nullable=False),
            Column("source_event_id", String(36), nullable=False),
            Column("size", Integer, nullable=False),
            Column("status", String(20), nullable=False),
            Column("opened_at", String(32), nullable=False),
            Column("approved_by", String(200), nullable=False),
            Column("approved_at", String(32), nullable=False),
            Index("ix_batches_status", "status", "opened_at"),
        )
        self.items = Table(
            "notification_batch_items",
            self.metadata,
            Column("notification_id", String(36), primary_key=True),
            Column("batch_id", String(36), nullable=False),
            Column("recipient_id", String(200), nullable=False),
            Column("nomination_id", String(36), nullable=False),
            Index("ix_batch_items_batch", "batch_id"),
        )

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        p = event.payload
        if event.type == BATCH_OPENED:
            conn.execute(
                self.batches.insert(),
                {
                    "batch_id": p["batch_id"],
                    "kind": p["kind"],
                    "campaign_id": p["campaign_id"],
                    "source_event_id": p["source_event_id"],
                    "size": p["size"],
                    "status": "pending",
                    "opened_at": event.recorded_at,
                    "approved_by": "",
                    "approved_at": "",
                },
            )
        elif event.type == NOTIFICATION_HELD:
            conn.execute(
                self.items.insert(),
                {
                    "notification_id": p["notification_id"],
                    "batch_id": p["batch_id"],
                    "recipient_id": p["recipient_id"],
                    "nomination_id": p["nomination_id"],
                },
            )
        elif event.type == BATCH_APPROVED:
            conn.execute(
                self.batches.update()
                .where(self.batches.c.batch_id == p["batch_id"])
                .values(
                    status="approved",
                    approved_by=p["approved_by"],
                    approved_at=event.recorded_at,
                )
            )

    def list(
        self, conn: Connection, status: str = "", campaign_id: str = ""
    ) -> list[dict]:
        query = select(self.batches).order_by(self.batches.c.opened_at)
        if status:
            query = query.where(self.batches.c.status == status)
        if campaign_id:
            query = query.where(self.batches.c.campaign_id == campaign_id)
        batches = [dict(row) for row in conn.execute(query).mappings()]
        for batch in batches:
            batch["recipient_ids"] = sorted(
                set(
                    conn.execute(
                        select(self.items.c.recipient_id).where(
                            self.items.c.batch_id == batch["batch_id"]
                        )
                    ).scalars()
                )
            )
        return batches

    def held(self, conn: Connection, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        query = select(self.items.c.notification_id).where(
            self.items.c.notification_id.in_(ids)
        )
        return set(conn.execute(query).scalars())


class DeliveryProjection:
    """Each e-mail's state, so the worker finds due ones without folding all."""

    name = "notification_deliveries"

    def __init__(self) -> None:
        self.metadata = MetaData()
        self.table = Table(
            "email_deliveries",
            self.metadata,
            Column("notification_id", String(36), primary_key=True),
            Column("recipient_id", String(200), nullable=False),
            Column("nomination_id", String(36), nullable=False),
            Column("kind", String(50), nullable=False),
            Column("to_masked", String(320), nullable=False),
            Column("message_id", String(200), nullable=False),
            Column("status", String(20), nullable=False),
            Column("attempts", Integer, nullable=False),
            Column("next_attempt_at", String(32), nullable=False),
            Column("last_error", Text, nullable=False),
            Column("updated_at", String(32), nullable=False),
            Index("ix_deliveries_due", "status", "next_attempt_at"),
        )

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if event.type not in delivery.EMAIL_EVENTS:
            return
        p = event.payload
        if event.type == EMAIL_QUEUED:
            conn.execute(
                self.table.insert(),
                {
                    "notification_id": p["notification_id"],
                    "recipient_id": p["recipient_id"],
                    "nomination_id": p["nomination_id"],
                    "kind": p["kind"],
                    "to_masked": mask_email(p["to"]),
                    "message_id": p["message_id"],
                    "status": delivery.QUEUED,
                    "attempts": 0,
                    "next_attempt_at": event.recorded_at,
                    "last_error": "",
                    "updated_at": event.recorded_at,
                },
            )
            return
        state = delivery.apply(self._as_email(conn, p["notification_id"]), event)
        if state is None:
            return
        conn.execute(
            self.table.update()
            .where(self.table.c.notification_id == p["notification_id"])
            .values(
                status=state.status,
                attempts=state.attempts,
                next_attempt_at=state.next_attempt_at,
                last_error=state.last_error[:2000],
                updated_at=event.recorded_at,
            )
        )

    def known(self, conn: Connection, ids: list[str]) -> set[str]:
        """Which of these notifications have an e-mail, whatever its status."""
        if not ids:
            return set()
        query = select(self.table.c.notification_id).where(
            self.table.c.notification_id.in_(ids))
        return set(conn.execute(query).scalars())

    def due(self, conn: Connection, now: str, limit: int = 50) -> list[str]:
        query = (
            select(self.table.c.notification_id)
            .where(self.table.c.status.in_(delivery.SENDABLE))
            .where(self.table.c.next_attempt_at <= now)
            .order_by(self.table.c.next_attempt_at)
            .limit(limit)
        )
        return list(conn.execute(query).scalars())

    def in_status(self, conn: Connection, status: str) -> list[str]:
        query = select(self.table.c.notification_id).where(
            self.table.c.status == status
        )
        return list(conn.execute(query).scalars())

    def list(
        self,
        conn: Connection,
        status: str = "",
        nomination_id: str = "",
        limit: int = 100,
    ) -> list[dict]:
        query = select(self.table).order_by(self.table.c.updated_at.desc()).limit(limit)
        if status:
            query = query.where(self.table.c.status == status)
        if nomination_id:
            query = query.where(self.table.c.nomination_id == nomination_id)
        return [dict(row) for row in conn.execute(query).mappings()]

    def counts(self, conn: Connection) -> dict[str, int]:
        query = select(self.table.c.status, func.count()).group_by(self.table.c.status)
        return {status: count for status, count in conn.execute(query).all()}

    def _as_email(
        self, conn: Connection, notification_id: str
    ) -> delivery.Email | None:
        row = (
            conn.execute(
                select(self.table).where(
                    self.table.c.notification_id == notification_id
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return delivery.Email(
            row["notification_id"],
            row["message_id"],
            "",
            "",
            "",
            "",
            {},
            row["status"],
            row["attempts"],
            row["next_attempt_at"],
            row["last_error"],
        )
