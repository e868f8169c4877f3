"""Helpers every read model uses: rows written with the events that change them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Table

# The upsert's SQL by its shape (dialect, table, column names in order),
# written once: SQLAlchemy compiled the same INSERT … ON CONFLICT again for
# every event, which was a large share of a consumer's CPU per event
# (review's reaction, profiled with cProfile during the batched-consumption
# work). The shapes are few (one per call site), so the map stays small.
_SQL: dict[tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], str] = {}


def placeholder(paramstyle: str) -> str:
    """The driver's parameter marker for SQL written once as text (the
    store's hot statements, read models' hot queries): sqlite3's `?`,
    psycopg's `%s`."""
    return "?" if paramstyle == "qmark" else "%s"


def upsert(conn: Connection, table: Table, key: Mapping[str, Any],
           values: Mapping[str, Any], insert_only: Mapping[str, Any] | None = None) -> None:
    """Insert the row at `key`, or update `values` on the row already there.

    One statement (INSERT … ON CONFLICT DO UPDATE, which SQLite and
    PostgreSQL both have), not a select then a write. `insert_only` columns
    are written when the row is new and left alone when it exists (a
    first-seen time, say). `key` must be the table's primary key or a unique
    constraint. The values go to the driver as they are: read models hold
    strings, integers and booleans, which both drivers take natively."""
    row = {**key, **(insert_only or {}), **values}
    shape = (conn.dialect.name, table.name, tuple(key), tuple(row), tuple(values))
    sql = _SQL.get(shape)
    if sql is None:
        sql = _SQL[shape] = _upsert_sql(conn, table, *shape[2:])
    conn.exec_driver_sql(sql, tuple(row.values()))


def _upsert_sql(conn: Connection, table: Table, key: tuple[str, ...],
                row: tuple[str, ...], values: tuple[str, ...]) -> str:
    quote = conn.dialect.identifier_preparer.quote
    for name in row:
        if name not in table.c:
            raise KeyError(f"{table.name} has no column {name!r}")
    columns = ", ".join(quote(c) for c in row)
    mark = placeholder(conn.dialect.paramstyle)
    marks = ", ".join(mark for _ in row)
    target = ", ".join(quote(c) for c in key)
    if values:
        assignments = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in values)
        conflict = f"DO UPDATE SET {assignments}"
    else:
        conflict = "DO NOTHING"
    return (f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks}) "
            f"ON CONFLICT ({target}) {conflict}")
