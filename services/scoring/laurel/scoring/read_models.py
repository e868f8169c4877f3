"""Scoring's read models: the lookups its rules and queries need, from its log.

Re-evaluation asks "which live nominations read this subject / this
hospital?", decisions ask "which of a round's nominations are ineligible?",
the registry is listed by subject. Each table is written in the transaction of
the event that changes it (`ScoringProjection.apply`, called by the unit of
work on append) and can be rebuilt from the log at any time. The queries take
the unit of work's connection (`uow.conn`), so they see what the unit wrote.
"""

from __future__ import annotations

import functools
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

from laurel.envelope import RecordedEvent, canonical_json
from laurel.projections import placeholder, upsert
from laurel.scoring.domain import eligibility as el
from laurel.scoring.domain import facts, ranking, round_inputs
from laurel.scoring.domain.facts import Tracked

METADATA = MetaData()
NOMINATIONS = Table(
    "scoring_nominations", METADATA,
    Column("nomination_id", String(36), primary_key=True),
    Column("campaign_id", String(100), nullable=False),
    Column("category", String(100), nullable=False),
    Column("hospital_id", String(100), nullable=False, index=True),
    Column("evaluable", Boolean, nullable=False),
    Column("facts", Text, nullable=False),
)
VERDICTS = Table(
    "scoring_verdicts", METADATA,
    Column("nomination_id", String(36), primary_key=True),
    Column("rule", String(100), primary_key=True),
    Column("decision", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("parameters", Text, nullable=False),
    Column("recorded_at", String(32), nullable=False),
)
ENTRIES = Table(
    "scoring_compliance_entries", METADATA,
    Column("entry_id", String(200), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("subject_kind", String(20), nullable=False),
    Column("subject_id", String(200), nullable=False, index=True),
    Column("occurred_on", String(10), nullable=False),
    Column("source", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("withdrawn", Boolean, nullable=False),
    Column("withdrawn_reason", Text, nullable=False),
)
ROUNDS = Table(
    "scoring_rounds", METADATA,
    Column("round_id", String(200), primary_key=True),
    Column("campaign_id", String(100), nullable=False),
    Column("category", String(100), nullable=False),
    Column("nomination_ids", Text, nullable=False),
    Column("results_version", Integer, nullable=False),
)


class ScoringProjection:
    """The tables above, written as scoring's events are appended."""

    name = "scoring"
    metadata = METADATA

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        p = event.payload
        if event.type == facts.NOMINATION_FACTS_NOTED:
            tracked = Tracked.from_payload(p["facts"])
            upsert(conn, NOMINATIONS, {"nomination_id": tracked.nomination_id}, {
                "campaign_id": tracked.campaign_id, "category": tracked.category,
                "hospital_id": tracked.hospital_id, "evaluable": tracked.evaluable,
                "facts": json.dumps(tracked.to_payload(), ensure_ascii=False)})
        elif event.type == el.VERDICT_RECORDED:
            upsert(conn, VERDICTS, {
                "nomination_id": p["nomination_id"], "rule": p["rule"]},
                {"decision": p["decision"], "reason": p["reason"],
                 "parameters": canonical_json(p["parameters"]),
                 "recorded_at": event.recorded_at})
        elif event.type in (el.COMPLAINT_RECORDED, el.PENALTY_RECORDED):
            conn.execute(ENTRIES.insert(), {
                "entry_id": p["entry_id"],
                "kind": el.COMPLAINT if event.type == el.COMPLAINT_RECORDED
                else el.PENALTY,
                "subject_kind": p["subject_kind"], "subject_id": p["subject_id"],
                "occurred_on": p["occurred_on"], "source": p["source"],
                "summary": p["summary"], "withdrawn": False, "withdrawn_reason": ""})
        elif event.type == el.ENTRY_WITHDRAWN:
            conn.execute(ENTRIES.update()
                         .where(ENTRIES.c.entry_id == p["entry_id"])
                         .values(withdrawn=True, withdrawn_reason=p["reason"]))
        elif event.type == round_inputs.REVIEW_INPUT_NOTED and (
                p["source_type"] == round_inputs.ROUND_OPENED):
            data = p["data"]
            upsert(conn, ROUNDS, {"round_id": p["round_id"]}, {
                "campaign_id": data["campaign_id"], "category": data["category"],
                "nomination_ids": json.dumps(sorted(data["nomination_ids"])),
                "results_version": 0})
        elif event.type == ranking.RESULT_COMPUTED:
            conn.execute(ROUNDS.update()
                         .where(ROUNDS.c.round_id == p["round_id"])
                         .values(results_version=p["version"]))


# -- queries ---------------------------------------------------------------------


def evaluable(conn: Connection) -> list[Tracked]:
    """Received, not withdrawn: the nominations whose verdicts matter."""
    rows = conn.execute(select(NOMINATIONS.c.facts).where(
        NOMINATIONS.c.evaluable.is_(True)).order_by(NOMINATIONS.c.nomination_id))
    return [Tracked.from_payload(json.loads(r.facts)) for r in rows]


def of_hospital(conn: Connection, hospital_id: str) -> list[Tracked]:
    rows = conn.exec_driver_sql(_sql(conn.dialect.paramstyle).of_hospital, (hospital_id,))
    return [Tracked.from_payload(json.loads(facts_)) for (facts_,) in rows]


def tracked(conn: Connection, nomination_ids: list[str]) -> dict[str, Tracked]:
    rows = conn.execute(select(NOMINATIONS.c.facts).where(
        NOMINATIONS.c.nomination_id.in_(nomination_ids)))
    found = [Tracked.from_payload(json.loads(r.facts)) for r in rows]
    return {t.nomination_id: t for t in found}


def verdicts_of(conn: Connection, nomination_id: str) -> el.NominationEligibility | None:
    """The latest verdict per rule, as the domain compares verdicts."""
    rows = conn.exec_driver_sql(_sql(conn.dialect.paramstyle).verdicts_of,
                                (nomination_id,)).all()
    if not rows:
        return None
    latest = {rule: el.Verdict(rule, decision, reason, json.loads(parameters), recorded_at)
              for rule, decision, reason, parameters, recorded_at in rows}
    return el.NominationEligibility(nomination_id, latest)


def ineligible(conn: Connection, nomination_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Nomination -> {rules, reason} of its failing rules, for those with any."""
    rows = conn.execute(select(VERDICTS).where(
        VERDICTS.c.nomination_id.in_(nomination_ids),
        VERDICTS.c.decision == el.INELIGIBLE).order_by(
        VERDICTS.c.nomination_id, VERDICTS.c.rule)).mappings()
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = found.setdefault(row["nomination_id"], {"rules": [], "reason": ""})
        entry["rules"].append(row["rule"])
        entry["reason"] = "; ".join(filter(None, [
            entry["reason"], f"{row['rule']}: {row['reason']}"]))
    return found


def rounds_with_results(conn: Connection, nomination_id: str) -> list[str]:
    rows = conn.exec_driver_sql(_sql(conn.dialect.paramstyle).rounds_with_results)
    return [round_id for round_id, nomination_ids in rows
            if nomination_id in json.loads(nomination_ids)]


def results_version(conn: Connection, round_id: str) -> int:
    found = conn.exec_driver_sql(_sql(conn.dialect.paramstyle).results_version,
                                 (round_id,)).scalar()
    return found or 0


def round_of(conn: Connection, round_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(ROUNDS).where(ROUNDS.c.round_id == round_id)
                       ).mappings().first()
    return dict(row) if row else None


def entries_about(conn: Connection, subject_id: str = "", kind: str = ""
                  ) -> list[dict[str, Any]]:
    query = select(ENTRIES).order_by(ENTRIES.c.entry_id)
    if subject_id:
        query = query.where(ENTRIES.c.subject_id == subject_id)
    if kind:
        query = query.where(ENTRIES.c.kind == kind)
    return [dict(r) for r in conn.execute(query).mappings()]


# -- the statements every consumed event runs, as driver SQL ------------------------


class _Statements:
    """The lookups each intake event's re-evaluation runs (the hospital's
    nominations, a nomination's verdicts, the rounds with results), for one
    paramstyle (qmark for sqlite3, format for psycopg), written once:
    building and compiling them through SQLAlchemy for every event cost more
    than running them (scoring's consumer, profiled with cProfile)."""

    def __init__(self, paramstyle: str) -> None:
        p = placeholder(paramstyle)
        self.of_hospital = (f"SELECT facts FROM {NOMINATIONS.name} WHERE hospital_id = {p} "
                            "ORDER BY nomination_id")
        self.verdicts_of = ("SELECT rule, decision, reason, parameters, recorded_at "
                            f"FROM {VERDICTS.name} WHERE nomination_id = {p}")
        self.rounds_with_results = (f"SELECT round_id, nomination_ids FROM {ROUNDS.name} "
                                    "WHERE results_version > 0")
        self.results_version = (f"SELECT results_version FROM {ROUNDS.name} "
                                f"WHERE round_id = {p}")


@functools.cache
def _sql(paramstyle: str) -> _Statements:
    return _Statements(paramstyle)
