"""Read models, each rebuilt from the log at will: inbox, directory, batches,
deliveries; and their queries, which take the unit of work's connection.

Rows are written in the transaction of the events that change them. A table
whose shape changes gets a new name (`_v2`), and the bootstrap refills a
missing table from the log, so an existing store upgrades itself at start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    func,
    select,
)

from laurel.envelope import RecordedEvent
from laurel.eventstore import Projection
from laurel.notification.domain import delivery
from laurel.notification.domain.directory import NominationContact, ReviewerContact
from laurel.notification.domain.events import (
    BATCH_APPROVED,
    BATCH_OPENED,
    EMAIL_EVENTS,
    EMAIL_QUEUED,
    ISSUED_TYPES,
    NOMINATION_CONTACT_RECORDED,
    NOTIFICATION_HELD,
    REVIEWER_CONTACT_RECORDED,
)
from laurel.notification.domain.privacy import mask_email
from laurel.projections import upsert

Row = dict[str, Any]


def cursor(position: int) -> str:
    """Positions as fixed-width text: they sort and compare as strings."""
    return f"{position:020d}"


def _strings(length: int, *names: str) -> list[Column[str]]:
    return [Column(name, String(length), nullable=False) for name in names]


def _picked(payload: Mapping[str, Any], *keys: str) -> Row:
    return {key: payload[key] for key in keys}


class _ReadModel:
    """A read model's tables, in a MetaData of its own (rebuilt on its own)."""

    def __init__(self) -> None:
        self.metadata = MetaData()

    def _table(self, name: str, key: str, key_length: int,
               *rest: Column[Any] | Index) -> Table:
        return Table(name, self.metadata,
                     Column(key, String(key_length), primary_key=True), *rest)


def _rows(conn: Connection, query: Select[Any]) -> list[Row]:
    return [dict(row) for row in conn.execute(query).mappings()]


def _present(conn: Connection, column: ColumnElement[str], ids: list[str]) -> set[str]:
    """Which of `ids` the column holds."""
    if not ids:
        return set()
    return set(conn.execute(select(column).where(column.in_(ids))).scalars())


class InboxProjection(_ReadModel):
    name = "notification_inbox"

    def __init__(self) -> None:
        super().__init__()
        self.table = self._table(
            "inbox_notifications_v2", "notification_id", 36,
            *_strings(200, "recipient_id"),
            *_strings(50, "kind"),
            *_strings(36, "nomination_id"),
            Column("title", Text, nullable=False),
            Column("body", Text, nullable=False),
            *_strings(36, "source_event_id"),
            *_strings(10, "language"),
            Column("template_version", Integer, nullable=False),
            *_strings(36, "batch_id"),
            *_strings(32, "created_at"),
            *_strings(20, "position"),
            Index("ix_inbox_v2_recipient", "recipient_id", "position"),
        )

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if event.type not in ISSUED_TYPES:
            return
        p = event.payload
        template = p.get("template") or {}
        conn.execute(self.table.insert(), {
            **_picked(p, "notification_id", "recipient_id", "kind", "nomination_id",
                      "title", "body", "source_event_id"),
            "language": template.get("language", "zh-CN"),
            "template_version": template.get("version", 0),
            "batch_id": p.get("batch_id", ""),
            "created_at": event.recorded_at,
            "position": cursor(event.position),
        })

    def page(self, conn: Connection, recipient_id: str, nomination_id: str = "",
             limit: int = 50, before: str = "") -> list[Row]:
        """Newest first, for paging."""
        query = self._for(recipient_id, nomination_id)
        if before:
            query = query.where(self.table.c.position < before)
        return _rows(conn, query.order_by(self.table.c.position.desc()).limit(limit))

    def since(self, conn: Connection, recipient_id: str, nomination_id: str, after: str,
              limit: int = 100) -> list[Row]:
        """Oldest first after a cursor, for watching."""
        query = (self._for(recipient_id, nomination_id)
                 .where(self.table.c.position > after)
                 .order_by(self.table.c.position).limit(limit))
        return _rows(conn, query)

    def last_cursor(self, conn: Connection) -> str:
        """The cursor of the newest entry of any inbox: a watch opened now
        shows what comes after it (positions grow in commit order)."""
        newest = conn.execute(select(func.max(self.table.c.position))).scalar()
        return str(newest) if newest else cursor(0)

    def existing(self, conn: Connection, ids: list[str]) -> set[str]:
        return _present(conn, self.table.c.notification_id, ids)

    def _for(self, recipient_id: str, nomination_id: str) -> Select[Any]:
        query = select(self.table).where(self.table.c.recipient_id == recipient_id)
        if nomination_id:
            query = query.where(self.table.c.nomination_id == nomination_id)
        return query


class DirectoryProjection(_ReadModel):
    """The latest contact per nomination and per reviewer."""

    name = "notification_directory"

    def __init__(self) -> None:
        super().__init__()
        self.nominations = self._table(
            "notification_nomination_contacts", "nomination_id", 36,
            *_strings(320, "campaign_id", "category", "nominee_name", "nominator_id",
                      "email", "language", "commission_id"),
        )
        self.reviewers = self._table(
            "notification_reviewer_contacts", "reviewer_id", 200,
            *_strings(320, "name", "email", "language"),
        )

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if event.type == NOMINATION_CONTACT_RECORDED:
            table, key = self.nominations, "nomination_id"
        elif event.type == REVIEWER_CONTACT_RECORDED:
            table, key = self.reviewers, "reviewer_id"
        else:
            return
        values = {c.name: str(event.payload.get(c.name) or "") for c in table.columns
                  if c.name != key}
        upsert(conn, table, {key: event.payload[key]}, values)

    def nomination(self, conn: Connection, nomination_id: str) -> NominationContact | None:
        table = self.nominations
        row = conn.execute(select(table).where(table.c.nomination_id == nomination_id)
                           ).mappings().first()
        return NominationContact(**row) if row else None

    def reviewer(self, conn: Connection, reviewer_id: str) -> ReviewerContact | None:
        table = self.reviewers
        row = conn.execute(select(table).where(table.c.reviewer_id == reviewer_id)
                           ).mappings().first()
        return ReviewerContact(**row) if row else None


class BatchProjection(_ReadModel):
    """Batches waiting for (or given) approval, and what each holds."""

    name = "notification_batches"

    def __init__(self) -> None:
        super().__init__()
        self.batches = self._table(
            "notification_batches", "batch_id", 36,
            *_strings(50, "kind"),
            *_strings(100, "campaign_id"),
            *_strings(36, "source_event_id"),
            Column("size", Integer, nullable=False),
            *_strings(20, "status"),
            *_strings(32, "opened_at"),
            *_strings(200, "approved_by"),
            *_strings(32, "approved_at"),
            Index("ix_batches_status", "status", "opened_at"),
        )
        self.items = self._table(
            "notification_batch_items", "notification_id", 36,
            *_strings(36, "batch_id"),
            *_strings(200, "recipient_id"),
            *_strings(36, "nomination_id"),
            Index("ix_batch_items_batch", "batch_id"),
        )

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        p = event.payload
        if event.type == BATCH_OPENED:
            conn.execute(self.batches.insert(), {
                **_picked(p, "batch_id", "kind", "campaign_id", "source_event_id", "size"),
                "status": "pending", "opened_at": event.recorded_at,
                "approved_by": "", "approved_at": "",
            })
        elif event.type == NOTIFICATION_HELD:
            conn.execute(self.items.insert(), _picked(
                p, "notification_id", "batch_id", "recipient_id", "nomination_id"))
        elif event.type == BATCH_APPROVED:
            conn.execute(
                self.batches.update()
                .where(self.batches.c.batch_id == p["batch_id"])
                .values(status="approved", approved_by=p["approved_by"],
                        approved_at=event.recorded_at))

    def find(self, conn: Connection, status: str = "", campaign_id: str = "",
             batch_id: str = "") -> list[Row]:
        """Oldest first, each with the recipients it holds notifications for."""
        query = select(self.batches).order_by(self.batches.c.opened_at)
        for column, wanted in (("status", status), ("campaign_id", campaign_id),
                               ("batch_id", batch_id)):
            if wanted:
                query = query.where(self.batches.c[column] == wanted)
        batches = _rows(conn, query)
        for batch in batches:
            recipients = select(self.items.c.recipient_id).where(
                self.items.c.batch_id == batch["batch_id"])
            batch["recipient_ids"] = sorted(set(conn.execute(recipients).scalars()))
        return batches

    def held(self, conn: Connection, ids: list[str]) -> set[str]:
        return _present(conn, self.items.c.notification_id, ids)


class DeliveryProjection(_ReadModel):
    """Each e-mail's state, so the worker finds due ones without folding all."""

    name = "notification_deliveries"

    def __init__(self) -> None:
        super().__init__()
        self.table = self._table(
            "email_deliveries", "notification_id", 36,
            *_strings(200, "recipient_id"),
            *_strings(36, "nomination_id"),
            *_strings(50, "kind"),
            *_strings(320, "to_masked"),
            *_strings(200, "message_id"),
            *_strings(20, "status"),
            Column("attempts", Integer, nullable=False),
            *_strings(32, "next_attempt_at"),
            Column("last_error", Text, nullable=False),
            *_strings(32, "updated_at"),
            Index("ix_deliveries_due", "status", "next_attempt_at"),
        )

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if event.type not in EMAIL_EVENTS:
            return
        p = event.payload
        if event.type == EMAIL_QUEUED:
            conn.execute(self.table.insert(), {
                **_picked(p, "notification_id", "recipient_id", "nomination_id", "kind",
                          "message_id"),
                "to_masked": mask_email(p["to"]),
                "status": delivery.QUEUED,
                "attempts": 0,
                "next_attempt_at": event.recorded_at,
                "last_error": "",
                "updated_at": event.recorded_at,
            })
            return
        state = delivery.evolve(self._as_email(conn, p["notification_id"]), event)
        if state is None:
            return
        conn.execute(
            self.table.update()
            .where(self.table.c.notification_id == p["notification_id"])
            .values(status=state.status, attempts=state.attempts,
                    next_attempt_at=state.next_attempt_at,
                    last_error=state.last_error[:2000], updated_at=event.recorded_at))

    def known(self, conn: Connection, ids: list[str]) -> set[str]:
        """Which of these notifications have an e-mail, whatever its status."""
        return _present(conn, self.table.c.notification_id, ids)

    def due(self, conn: Connection, now: str, limit: int = 50) -> list[str]:
        query = (select(self.table.c.notification_id)
                 .where(self.table.c.status.in_(delivery.SENDABLE))
                 .where(self.table.c.next_attempt_at <= now)
                 .order_by(self.table.c.next_attempt_at).limit(limit))
        return list(conn.execute(query).scalars())

    def in_status(self, conn: Connection, status: str) -> list[str]:
        query = select(self.table.c.notification_id).where(self.table.c.status == status)
        return list(conn.execute(query).scalars())

    def find(self, conn: Connection, status: str = "", nomination_id: str = "",
             limit: int = 100) -> list[Row]:
        query = select(self.table).order_by(self.table.c.updated_at.desc()).limit(limit)
        if status:
            query = query.where(self.table.c.status == status)
        if nomination_id:
            query = query.where(self.table.c.nomination_id == nomination_id)
        return _rows(conn, query)

    def counts(self, conn: Connection) -> dict[str, int]:
        query = select(self.table.c.status, func.count()).group_by(self.table.c.status)
        return {status: count for status, count in conn.execute(query).tuples()}

    def _as_email(self, conn: Connection, notification_id: str) -> delivery.Email | None:
        """The row as the domain's state, enough for `delivery.evolve` to
        compute the next status (the message itself is not kept here)."""
        row = conn.execute(select(self.table).where(
            self.table.c.notification_id == notification_id)).mappings().first()
        if row is None:
            return None
        return delivery.Email(row["notification_id"], row["message_id"], "", "", "", "", {},
                              row["status"], row["attempts"], row["next_attempt_at"],
                              row["last_error"])


@dataclass(frozen=True)
class ReadModels:
    inbox: InboxProjection = field(default_factory=InboxProjection)
    directory: DirectoryProjection = field(default_factory=DirectoryProjection)
    batches: BatchProjection = field(default_factory=BatchProjection)
    deliveries: DeliveryProjection = field(default_factory=DeliveryProjection)

    def all(self) -> list[Projection]:
        return [self.inbox, self.directory, self.batches, self.deliveries]
