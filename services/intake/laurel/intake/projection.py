"""Intake's read models: nominations and organizations, rebuilt from the log.

List queries, quotas and routing read these tables; they are written in the
same transaction as the events that change them, and `rebuild` refills them
from the log, so they can be dropped at any time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
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
    update,
)

from laurel.envelope import RecordedEvent

LIVE_STATUSES = ("submitted", "returned", "endorsed", "forwarded", "received")


class IntakeProjection:
    name = "intake"

    def __init__(self) -> None:
        self.metadata = MetaData()
        self.nominations = Table(
            "nominations", self.metadata,
            Column("nomination_id", String(36), primary_key=True),
            Column("campaign_id", String(100), nullable=False),
            Column("category", String(100), nullable=False),
            Column("hospital_id", String(100), nullable=False),
            Column("jurisdiction_id", String(100), nullable=False),
            Column("route_to", String(20), nullable=False),
            Column("status", String(20), nullable=False),
            Column("nominee_name", Text, nullable=False),
            Column("eligible", Boolean, nullable=False),
            Column("ineligible_reason", Text, nullable=False),
            Column("created_at", String(32), nullable=False),
            Column("updated_at", String(32), nullable=False),
            Column("version", Integer, nullable=False),
            Index("ix_nominations_campaign", "campaign_id", "category", "status"),
            Index("ix_nominations_hospital", "hospital_id", "category", "status"),
            Index("ix_nominations_jurisdiction", "jurisdiction_id", "status"),
        )
        self.organizations = Table(
            "organizations", self.metadata,
            Column("organization_id", String(100), primary_key=True),
            Column("kind", String(20), nullable=False),
            Column("name", Text, nullable=False),
            Column("parent_id", String(100), nullable=False),
            Column("jurisdiction_id", String(100), nullable=False),
            Column("provincial_level", Boolean, nullable=False),
        )

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is not None:
            handler(conn, event)

    # -- organizations -----------------------------------------------------

    def _on_OrganizationRegistered(self, conn: Connection, event: RecordedEvent) -> None:
        p = event.payload
        conn.execute(self.organizations.insert(), {
            "organization_id": p["organization_id"], "kind": p["kind"], "name": p["name"],
            "parent_id": p["parent_id"], "jurisdiction_id": p["jurisdiction_id"],
            "provincial_level": p["provincial_level"],
        })

    # -- nominations -------------------------------------------------------

    def _on_NominationDrafted(self, conn: Connection, event: RecordedEvent) -> None:
        self._insert(conn, event, "draft")

    def _on_NominationSubmitted(self, conn: Connection, event: RecordedEvent) -> None:
        exists = conn.execute(select(self.nominations.c.nomination_id).where(
            self.nominations.c.nomination_id == event.payload["nomination_id"])).first()
        if exists is None:
            self._insert(conn, event, "submitted")
        else:
            self._set(conn, event, status="submitted",
                      route_to=event.payload.get("route", {}).get("to", "center"))

    def _on_NominationReturned(self, conn: Connection, event: RecordedEvent) -> None:
        self._set(conn, event, status="returned")

    def _on_NominationRejected(self, conn: Connection, event: RecordedEvent) -> None:
        self._set(conn, event, status="rejected")

    def _on_NominationResubmitted(self, conn: Connection, event: RecordedEvent) -> None:
        self._set(conn, event, status="submitted")

    def _on_NominationEndorsed(self, conn: Connection, event: RecordedEvent) -> None:
        self._set(conn, event, status="endorsed")

    def _on_NominationForwarded(self, conn: Connection, event: RecordedEvent) -> None:
        self._set(conn, event, status="forwarded")

    def _on_NominationReceived(self, conn: Connection, event: RecordedEvent) -> None:
        self._set(conn, event, status="received")

    def _on_NominationWithdrawn(self, conn: Connection, event: RecordedEvent) -> None:
        self._set(conn, event, status="withdrawn")

    def _on_NominationAmended(self, conn: Connection, event: RecordedEvent) -> None:
        self._set(conn, event)

    def _on_NominationDraftSaved(self, conn: Connection, event: RecordedEvent) -> None:
        self._set(conn, event)

    def _on_NominationMarkedIneligible(self, conn: Connection, event: RecordedEvent) -> None:
        self._set(conn, event, eligible=False, ineligible_reason=event.payload["reason"])

    def _insert(self, conn: Connection, event: RecordedEvent, status: str) -> None:
        p = event.payload
        route = p.get("route", {})
        conn.execute(self.nominations.insert(), {
            "nomination_id": p["nomination_id"], "campaign_id": p["campaign_id"],
            "category": p["category"], "hospital_id": p.get("hospital_id", ""),
            "jurisdiction_id": p.get("jurisdiction_id", ""),
            "route_to": route.get("to", "center"), "status": status,
            "nominee_name": p["nominee"]["name"], "eligible": True,
            "ineligible_reason": "", "created_at": event.recorded_at,
            "updated_at": event.recorded_at, "version": event.version,
        })

    def _set(self, conn: Connection, event: RecordedEvent, **values: Any) -> None:
        conn.execute(
            update(self.nominations)
            .where(self.nominations.c.nomination_id == event.payload["nomination_id"])
            .values(updated_at=event.recorded_at, version=event.version, **values)
        )

    # -- queries -----------------------------------------------------------

    def live_count(self, conn: Connection, hospital_id: str, categories: list[str]) -> int:
        query = select(func.count()).select_from(self.nominations).where(
            self.nominations.c.hospital_id == hospital_id,
            self.nominations.c.category.in_(categories),
            self.nominations.c.status.in_(LIVE_STATUSES),
        )
        return conn.execute(query).scalar_one()

    def live_nominations(
        self, conn: Connection, hospital_id: str, categories: list[str]
    ) -> list[dict[str, Any]]:
        query = select(self.nominations).where(
            self.nominations.c.hospital_id == hospital_id,
            self.nominations.c.category.in_(categories),
            self.nominations.c.status.in_(LIVE_STATUSES),
        )
        return [dict(r) for r in conn.execute(query).mappings()]

    def list(
        self, conn: Connection, *, campaign_id: str = "", category: str = "",
        jurisdiction_id: str = "", status: str = "", hospital_id: str = "",
        limit: int = 50, after: str = "",
    ) -> list[dict[str, Any]]:
        """Paged by (created_at, nomination_id); `after` is the last row's token."""
        t = self.nominations
        query = select(t)
        for column, value in ((t.c.campaign_id, campaign_id), (t.c.category, category),
                              (t.c.jurisdiction_id, jurisdiction_id), (t.c.status, status),
                              (t.c.hospital_id, hospital_id)):
            if value:
                query = query.where(column == value)
        if after:
            created_at, _, nomination_id = after.partition("|")
            query = query.where(
                (t.c.created_at > created_at)
                | ((t.c.created_at == created_at) & (t.c.nomination_id > nomination_id))
            )
        query = query.order_by(t.c.created_at, t.c.nomination_id).limit(limit)
        return [dict(r) for r in conn.execute(query).mappings()]

    def organization(self, conn: Connection, organization_id: str) -> dict[str, Any] | None:
        row = conn.execute(select(self.organizations).where(
            self.organizations.c.organization_id == organization_id)).mappings().first()
        return dict(row) if row else None
