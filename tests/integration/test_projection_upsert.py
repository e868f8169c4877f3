"""`laurel.projections.upsert` on real SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select

from laurel.projections import upsert

metadata = MetaData()
rows = Table("rows", metadata, Column("id", String(20), primary_key=True),
             Column("count", Integer), Column("first_seen", String(20)))


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
