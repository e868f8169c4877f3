"""Replay: rebuild projections from the log elsewhere and diff them with live.

A projection is only trustworthy if the log alone reproduces it. Rebuilding
into a scratch database (never the live one) and comparing row by row shows
any row a bug, a manual edit or a lost write left different.

The live tables are read after the rebuild: run it on a quiet store (or a
copy), since events appended meanwhile show up as differences.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, inspect, select
from sqlalchemy.engine import make_url

from laurel.eventstore import EventStore, Projection, events_table


@dataclass(frozen=True)
class Difference:
    projection: str
    table: str
    primary_key: tuple | None
    column: str | None  # None: the whole row (or table) is on one side only
    live: Any
    rebuilt: Any

    def __str__(self) -> str:
        where = f"{self.projection}.{self.table}"
        if self.primary_key is not None:
            where += f" key {self.primary_key!r}"
        if self.column is not None:
            where += f" column {self.column}"
        return f"{where}: live {self.live!r}, rebuilt {self.rebuilt!r}"


def replay_projections(
    store: EventStore, projections: Sequence[Projection], scratch_url: str
) -> list[Difference]:
    """Rebuild each projection into `scratch_url` and diff it with the live one."""
    _refuse_live_target(store, scratch_url)
    target = EventStore(scratch_url)
    differences: list[Difference] = []
    try:
        for projection in projections:
            store.rebuild_projection(projection, target=target)
            for table in projection.metadata.sorted_tables:
                differences.extend(
                    compare_table(projection.name, table, store.engine, target.engine)
                )
    finally:
        target.close()
    return differences


def compare_table(
    projection: str, table: Table, live: Engine, rebuilt: Engine
) -> list[Difference]:
    rebuilt_rows = _rows(rebuilt, table)
    if not inspect(live).has_table(table.name):
        return [
            Difference(
                projection,
                table.name,
                None,
                None,
                "no such table",
                f"{len(rebuilt_rows)} rows",
            )
        ]
    live_rows = _rows(live, table)
    differences = []
    for key in sorted(set(live_rows) | set(rebuilt_rows), key=repr):
        old, new = live_rows.get(key), rebuilt_rows.get(key)
        if old is None or new is None:
            differences.append(Difference(projection, table.name, key, None, old, new))
            continue
        differences.extend(
            Difference(projection, table.name, key, column, old[column], new[column])
            for column in old
            if old[column] != new[column]
        )
    return differences


def _rows(engine: Engine, table: Table) -> dict[tuple, dict[str, Any]]:
    """Rows by primary key; a table without one is keyed by whole rows."""
    key_columns = [c.name for c in table.primary_key.columns]
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(table)).mappings()]
    if not key_columns:
        seen: Counter[tuple] = Counter()
        counted: dict[tuple, dict[str, Any]] = {}
        for row in rows:
            base = tuple(row.values())
            seen[base] += 1
            counted[(*base, seen[base])] = row
        return counted
    return {tuple(row[c] for c in key_columns): row for row in rows}


def _refuse_live_target(store: EventStore, scratch_url: str) -> None:
    """Rebuilding drops the target's projection tables: never the live ones."""
    if make_url(scratch_url) == make_url(store.url):
        raise ValueError("the scratch database is the live one")
    probe = EventStore(scratch_url)
    try:
        if inspect(probe.engine).has_table(events_table.name):
            raise ValueError(
                "the scratch database holds an event store; use an empty one"
            )
    finally:
        probe.close()
