"""Helpers every read model uses: rows written with the events that change them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert(conn: Connection, table: Table, key: Mapping[str, Any],
           values: Mapping[str, Any], insert_only: Mapping[str, Any] | None = None) -> None:
    """Insert the row at `key`, or update `values` on the row already there.

    One statement (INSERT … ON CONFLICT DO UPDATE, which SQLite and
    PostgreSQL both have), not a select then a write. `insert_only` columns
    are written when the row is new and left alone when it exists (a
    first-seen time, say). `key` must be the table's primary key or a unique
    constraint."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    row = {**key, **(insert_only or {}), **values}
    statement = dialect.insert(table).values(row)
    if values:
        statement = statement.on_conflict_do_update(index_elements=list(key),
                                                    set_=dict(values))
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(key))
    conn.execute(statement)
