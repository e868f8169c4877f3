"""`laurel.projections.upsert` on real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, create_engine, select

from laurel.projections import upsert

metadata = MetaData()
rows = Table("rows", metadata, Column("id", String(20), primary_key=True),
             Column("count", Integer), Column("first_seen", String(20)))
# Reserved words as column names, a composite key and a boolean, as read models have.
assignments = Table("assignments", metadata, Column("round", String(20), primary_key=True),
                    Column("user", String(20), primary_key=True),
                    Column("group", String(20)), Column("active", Boolean))


def test_insert_then_update_keeps_insert_only_columns(database_url: str) -> None:
    engine = create_engine(database_url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        upsert(conn, rows, {"id": "a"}, {"count": 1}, insert_only={"first_seen": "mon"})
        upsert(conn, rows, {"id": "a"}, {"count": 2}, insert_only={"first_seen": "tue"})
        upsert(conn, rows, {"id": "b"}, {}, insert_only={"first_seen": "wed"})
        upsert(conn, rows, {"id": "b"}, {}, insert_only={"first_seen": "thu"})
        found = conn.execute(select(rows).order_by(rows.c.id)).all()
    engine.dispose()
    assert [tuple(r) for r in found] == [("a", 2, "mon"), ("b", None, "wed")]


def test_reserved_column_names_composite_keys_and_booleans(database_url: str) -> None:
    engine = create_engine(database_url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        for active in (True, False):  # the same shape twice: the written SQL is reused
            upsert(conn, assignments, {"round": "r1", "user": "u1"}, {"active": active},
                   insert_only={"group": "g1"})
        upsert(conn, assignments, {"round": "r1", "user": "u2"}, {"group": "g2", "active": True})
        found = conn.execute(select(assignments).order_by(assignments.c.user)).all()
        with pytest.raises(KeyError, match="no column 'nope'"):
            upsert(conn, assignments, {"round": "r1", "user": "u3"}, {"nope": 1})
    engine.dispose()
    assert [tuple(r) for r in found] == [("r1", "u1", "g1", False), ("r1", "u2", "g2", True)]
