"""Intake's read models: nominations and organizations, rebuilt from the log.

The tables are written in the transaction of the events that change them
(the store applies `IntakeProjection` to every event it appends), and
`EventStore.rebuild_projection` refills them from the log, so they can be
dropped at any time. The queries below take the unit of work's connection
(`uow.conn`): listings, quotas and routing read what that transaction sees.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
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
    select,
    update,
)

from laurel.contracts.intake import LIVE_STATUSES
from laurel.envelope import RecordedEvent
from laurel.intake.domain import events
from laurel.intake.domain.organizations import Organization
from laurel.intake.domain.rules import HospitalFacts
from laurel.projections import placeholder

METADATA = MetaData()

NOMINATIONS = Table(
    "nominations", METADATA,
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

ORGANIZATIONS = Table(
    "organizations", METADATA,
    Column("organization_id", String(100), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("name", Text, nullable=False),
    Column("parent_id", String(100), nullable=False),
    Column("jurisdiction_id", String(100), nullable=False),
    Column("provincial_level", Boolean, nullable=False),
)

# The status each event leaves a nomination in (events not named keep it).
_STATUS_AFTER = {
    events.NOMINATION_RETURNED: "returned",
    events.NOMINATION_REJECTED: "rejected",
    events.NOMINATION_RESUBMITTED: "submitted",
    events.NOMINATION_ENDORSED: "endorsed",
    events.NOMINATION_FORWARDED: "forwarded",
    events.NOMINATION_RECEIVED: "received",
    events.NOMINATION_WITHDRAWN: "withdrawn",
}
_TOUCHING = {events.NOMINATION_AMENDED, events.DRAFT_SAVED}


class IntakeProjection:
    """Keeps NOMINATIONS and ORGANIZATIONS up to date, event by event."""

    name = "intake"
    metadata = METADATA

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        p = event.payload
        if event.type == events.ORGANIZATION_REGISTERED:
            conn.execute(ORGANIZATIONS.insert(), {
                "organization_id": p["organization_id"], "kind": p["kind"],
                "name": p["name"], "parent_id": p["parent_id"],
                "jurisdiction_id": p["jurisdiction_id"],
                "provincial_level": p["provincial_level"],
            })
        elif event.type in (events.NOMINATION_DRAFTED, events.NOMINATION_SUBMITTED):
            _opened(conn, event)
        elif event.type in _STATUS_AFTER:
            _set(conn, event, status=_STATUS_AFTER[event.type])
        elif event.type in _TOUCHING:
            _set(conn, event)
        elif event.type == events.MARKED_INELIGIBLE:
            _set(conn, event, eligible=False, ineligible_reason=p["reason"])


def _opened(conn: Connection, event: RecordedEvent) -> None:
    """A draft's row, or a submission's: new, or the draft's row now submitted.

    The same upsert as `laurel.projections.upsert` would make, as driver SQL
    written once per paramstyle: it runs under the store's write lock in every
    submission, and building and compiling the statement each time was 20 %
    of the time the lock was held."""
    p = event.payload
    route = p.get("route", {})
    status = "draft" if event.type == events.NOMINATION_DRAFTED else "submitted"
    conn.exec_driver_sql(_sql(conn.dialect.paramstyle).open_nomination, (
        p["nomination_id"], p["campaign_id"], p["category"], p.get("hospital_id", ""),
        p.get("jurisdiction_id", ""), route.get("to", "center"), status,
        p["nominee"]["name"], True, "", event.recorded_at, event.recorded_at,
        event.version))


def _set(conn: Connection, event: RecordedEvent, **values: Any) -> None:
    conn.execute(
        update(NOMINATIONS)
        .where(NOMINATIONS.c.nomination_id == event.payload["nomination_id"])
        .values(updated_at=event.recorded_at, version=event.version, **values)
    )


# -- queries -------------------------------------------------------------------


def hospital_facts(conn: Connection, hospital_id: str, excluding: str) -> HospitalFacts:
    """The hospital's live nominations per category, `excluding` one.

    A quota counts these: read them after `uow.lock()`, so no other
    submission can change them before this one commits. Driver SQL written
    once (it runs under the lock)."""
    rows = conn.exec_driver_sql(_sql(conn.dialect.paramstyle).hospital_facts,
                                (hospital_id, *LIVE_STATUSES, excluding))
    return HospitalFacts({category: count for category, count in rows})


def live_nomination_ids(conn: Connection, hospital_id: str,
                        categories: Iterable[str]) -> list[str]:
    t = NOMINATIONS
    query = select(t.c.nomination_id).where(
        t.c.hospital_id == hospital_id, t.c.category.in_(list(categories)),
        t.c.status.in_(LIVE_STATUSES),
    ).order_by(t.c.nomination_id)
    return list(conn.execute(query).scalars())


def list_nominations(
    conn: Connection, *, campaign_id: str = "", category: str = "",
    jurisdiction_id: str = "", status: str = "", hospital_id: str = "",
    campaign_ids: list[str] | None = None, limit: int = 50, after: str = "",
) -> list[dict[str, Any]]:
    """Paged by (created_at, nomination_id); `after` is the last row's token.
    `campaign_ids`, when given, narrows to those campaigns (none: no rows)."""
    t = NOMINATIONS
    query = select(t)
    if campaign_ids is not None:
        query = query.where(t.c.campaign_id.in_(campaign_ids))
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


def page_token(row: dict[str, Any]) -> str:
    """The `after` that continues a listing past `row`."""
    return f"{row['created_at']}|{row['nomination_id']}"


def organizations(conn: Connection, organization_ids: Iterable[str]
                  ) -> dict[str, Organization]:
    """The registered organizations among `organization_ids` ('' is none)."""
    wanted = [i for i in organization_ids if i]
    if not wanted:
        return {}
    rows = conn.exec_driver_sql(_sql(conn.dialect.paramstyle).organizations(len(wanted)),
                                tuple(wanted))
    return {row[0]: Organization(row[0], row[1], row[2], row[3], row[4], bool(row[5]))
            for row in rows}


def organization(conn: Connection, organization_id: str) -> Organization | None:
    return organizations(conn, [organization_id]).get(organization_id)


# -- the hot statements, as driver SQL ---------------------------------------------


class _Statements:
    """Submissions' statements for one paramstyle (qmark for sqlite3, format
    for psycopg), written once: building and compiling them through
    SQLAlchemy on every call cost more than running them."""

    def __init__(self, paramstyle: str) -> None:
        self.p = p = placeholder(paramstyle)
        t = NOMINATIONS.name
        self.open_nomination = (
            f"INSERT INTO {t} (nomination_id, campaign_id, category, hospital_id, "
            "jurisdiction_id, route_to, status, nominee_name, eligible, "
            "ineligible_reason, created_at, updated_at, version) "
            f"VALUES ({', '.join([p] * 13)}) ON CONFLICT (nomination_id) DO UPDATE SET "
            "status = excluded.status, route_to = excluded.route_to, "
            "updated_at = excluded.updated_at, version = excluded.version")
        self.hospital_facts = (
            f"SELECT category, count(*) FROM {t} WHERE hospital_id = {p} "
            f"AND status IN ({', '.join([p] * len(LIVE_STATUSES))}) "
            f"AND nomination_id != {p} GROUP BY category")

    @functools.cache  # noqa: B019 (one instance per paramstyle, kept for good)
    def organizations(self, count: int) -> str:
        return ("SELECT organization_id, kind, name, parent_id, jurisdiction_id, "
                f"provincial_level FROM {ORGANIZATIONS.name} WHERE organization_id IN "
                f"({', '.join([self.p] * count)})")


@functools.cache
def _sql(paramstyle: str) -> _Statements:
    return _Statements(paramstyle)
