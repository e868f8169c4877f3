"""Review's read models: who is assigned what, which rounds are open, which
nominations are reviewable or ineligible. Written with the events that change
them (in the event's transaction), rebuildable from the log; the queries take
the unit of work's connection (`uow.conn`).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)

from laurel.envelope import RecordedEvent
from laurel.projections import upsert
from laurel.review.domain import rounds
from laurel.review.domain.facts import Nomination

INELIGIBLE = "ineligible"

METADATA = MetaData()
NOMINATIONS = Table(
    "review_nominations", METADATA,
    Column("nomination_id", String(36), primary_key=True),
    Column("campaign_id", String(100), nullable=False),
    Column("category", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("nomination", Text, nullable=False),
)
VERDICTS = Table(
    "review_verdicts", METADATA,
    Column("nomination_id", String(36), primary_key=True),
    Column("rule", String(100), primary_key=True),
    Column("decision", String(20), nullable=False),
    Column("reason", Text, nullable=False),
)
ASSIGNMENTS = Table(
    "review_assignments", METADATA,
    Column("round_id", String(200), primary_key=True),
    Column("nomination_id", String(36), primary_key=True),
    Column("reviewer_id", String(200), primary_key=True, index=True),
    Column("group", String(100), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("submitted", Boolean, nullable=False),
)
ROUNDS = Table(
    "review_rounds", METADATA,
    Column("round_id", String(200), primary_key=True),
    Column("campaign_id", String(100), nullable=False),
    Column("category", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("result_version", Integer, nullable=False),
)


class ReviewProjection:
    """Keeps the tables above as events are appended."""

    name = "review"
    metadata = METADATA

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is not None:
            handler(conn, event.payload)

    # -- facts ------------------------------------------------------------------

    def _on_NominationNoted(self, conn: Connection, p: dict[str, Any]) -> None:
        n = Nomination.from_payload(p["nomination"])
        upsert(conn, NOMINATIONS, {"nomination_id": n.nomination_id}, {
            "campaign_id": n.campaign_id, "category": n.category, "status": n.status,
            "nomination": json.dumps(n.to_payload(), ensure_ascii=False)})

    def _on_EligibilityNoted(self, conn: Connection, p: dict[str, Any]) -> None:
        upsert(conn, VERDICTS, {"nomination_id": p["nomination_id"], "rule": p["rule"]},
               {"decision": p["decision"], "reason": p["reason"]})

    def _on_ResultVersionNoted(self, conn: Connection, p: dict[str, Any]) -> None:
        upsert(conn, ROUNDS, {"round_id": p["round_id"]}, {
            "campaign_id": p["campaign_id"], "category": p["category"],
            "result_version": p["version"]}, insert_only={"status": rounds.CLOSED})

    # -- panels and rounds -------------------------------------------------------

    def _on_PanelFormed(self, conn: Connection, p: dict[str, Any]) -> None:
        upsert(conn, ROUNDS, {"round_id": p["round_id"]}, {
            "campaign_id": p["campaign_id"], "category": p["category"]},
            insert_only={"status": rounds.FORMING, "result_version": 0})

    def _on_ReviewRoundOpened(self, conn: Connection, p: dict[str, Any]) -> None:
        upsert(conn, ROUNDS, {"round_id": p["round_id"]}, {
            "campaign_id": p["campaign_id"], "category": p["category"],
            "status": rounds.OPEN}, insert_only={"result_version": 0})

    def _on_ReviewRoundClosed(self, conn: Connection, p: dict[str, Any]) -> None:
        _status(conn, p["round_id"], rounds.CLOSED)

    def _on_ReviewRoundReopened(self, conn: Connection, p: dict[str, Any]) -> None:
        _status(conn, p["round_id"], rounds.OPEN)

    def _on_ResultsPublished(self, conn: Connection, p: dict[str, Any]) -> None:
        _status(conn, p["round_id"], "published")

    def _on_ReviewerAssigned(self, conn: Connection, p: dict[str, Any]) -> None:
        upsert(conn, ASSIGNMENTS, _assignment_key(p), {"group": p["group"], "active": True},
               insert_only={"submitted": False})

    def _on_ReviewerRecused(self, conn: Connection, p: dict[str, Any]) -> None:
        upsert(conn, ASSIGNMENTS, _assignment_key(p), {"group": p["group"], "active": False},
               insert_only={"submitted": False})

    def _on_ReviewScoreRecorded(self, conn: Connection, p: dict[str, Any]) -> None:
        upsert(conn, ASSIGNMENTS, _assignment_key(p), {"submitted": True},
               insert_only={"group": p["group"], "active": True})


def _status(conn: Connection, round_id: str, status: str) -> None:
    conn.execute(ROUNDS.update().where(ROUNDS.c.round_id == round_id).values(status=status))


def _assignment_key(p: dict[str, Any]) -> dict[str, str]:
    return {"round_id": p["round_id"], "nomination_id": p["nomination_id"],
            "reviewer_id": p["reviewer_id"]}


# -- queries ----------------------------------------------------------------------


def nomination(conn: Connection, nomination_id: str) -> Nomination | None:
    row = conn.execute(select(NOMINATIONS.c.nomination).where(
        NOMINATIONS.c.nomination_id == nomination_id)).first()
    return Nomination.from_payload(json.loads(row.nomination)) if row else None


def reviewable(conn: Connection, campaign_id: str, category: str) -> list[Nomination]:
    rows = conn.execute(select(NOMINATIONS.c.nomination).where(
        NOMINATIONS.c.campaign_id == campaign_id,
        NOMINATIONS.c.category == category,
        NOMINATIONS.c.status == "received",
    ).order_by(NOMINATIONS.c.nomination_id))
    return [Nomination.from_payload(json.loads(r.nomination)) for r in rows]


def ineligible(conn: Connection, nomination_ids: list[str]) -> dict[str, str]:
    """Nomination -> why it cannot be awarded (scoring's or intake's verdict)."""
    found: dict[str, list[str]] = {}
    rows = conn.execute(select(VERDICTS).where(
        VERDICTS.c.nomination_id.in_(nomination_ids),
        VERDICTS.c.decision == INELIGIBLE).order_by(
        VERDICTS.c.nomination_id, VERDICTS.c.rule)).mappings()
    for row in rows:
        found.setdefault(row["nomination_id"], []).append(f"{row['rule']}: {row['reason']}")
    for nid in nomination_ids:
        known = nomination(conn, nid)
        if known is not None and known.intake_ineligible_reason:
            found.setdefault(nid, []).append(f"intake: {known.intake_ineligible_reason}")
    return {nid: "; ".join(reasons) for nid, reasons in sorted(found.items())}


def assignments_of(conn: Connection, reviewer_id: str, round_id: str = ""
                   ) -> list[dict[str, Any]]:
    t = ASSIGNMENTS
    query = select(t).where(t.c.reviewer_id == reviewer_id, t.c.active.is_(True))
    if round_id:
        query = query.where(t.c.round_id == round_id)
    query = query.order_by(t.c.round_id, t.c.nomination_id)
    return [dict(r) for r in conn.execute(query).mappings()]


def is_assigned(conn: Connection, round_id: str, nomination_id: str,
                reviewer_id: str) -> bool:
    t = ASSIGNMENTS
    return conn.execute(select(t.c.active).where(
        t.c.round_id == round_id, t.c.nomination_id == nomination_id,
        t.c.reviewer_id == reviewer_id, t.c.active.is_(True))).first() is not None


def round_row(conn: Connection, round_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(ROUNDS).where(ROUNDS.c.round_id == round_id)).mappings().first()
    return dict(row) if row else None


def result_version(conn: Connection, round_id: str) -> int:
    """The latest result version scoring reported for the round (0: none yet)."""
    row = round_row(conn, round_id)
    return int(row["result_version"]) if row else 0


def open_rounds(conn: Connection) -> list[str]:
    rows = conn.execute(select(ROUNDS.c.round_id).where(
        ROUNDS.c.status == rounds.OPEN).order_by(ROUNDS.c.round_id))
    return [r.round_id for r in rows]
