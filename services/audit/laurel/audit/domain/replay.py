"""What a read model rebuilt from the log says, next to what is live.

A projection is only trustworthy if the log alone reproduces it: replay
rebuilds it elsewhere and compares row by row, so any row a bug, a manual
edit or a lost write left different is named with its key and column. The
same rebuild, stopped at a moment, shows what a service would have answered
then (`StateAsOf`). The rebuilding itself is `laurel.audit.adapters.scratch`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]
Key = tuple[Any, ...]


@dataclass(frozen=True)
class Difference:
    projection: str
    table: str
    primary_key: Key | None
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


def keyed(rows: Sequence[Row], key_columns: Sequence[str]) -> dict[Key, Row]:
    """Rows by primary key; a table without one is keyed by whole rows (and
    a count, so that duplicates stay apart)."""
    if key_columns:
        return {tuple(row[c] for c in key_columns): row for row in rows}
    seen: Counter[Key] = Counter()
    counted: dict[Key, Row] = {}
    for row in rows:
        base = tuple(row.values())
        seen[base] += 1
        counted[(*base, seen[base])] = row
    return counted


def differences(
    projection: str, table: str, live: Mapping[Key, Row], rebuilt: Mapping[Key, Row]
) -> list[Difference]:
    """Every row on one side only, and every column that differs, by key."""
    found = []
    for key in sorted(set(live) | set(rebuilt), key=repr):
        old, new = live.get(key), rebuilt.get(key)
        if old is None or new is None:
            found.append(Difference(projection, table, key, None, old, new))
            continue
        found.extend(
            Difference(projection, table, key, column, old[column], new[column])
            for column in old
            if old[column] != new[column]
        )
    return found


def missing_table(projection: str, table: str, rebuilt_rows: int) -> Difference:
    """The live database has no such table at all."""
    return Difference(projection, table, None, None, "no such table", f"{rebuilt_rows} rows")


@dataclass(frozen=True)
class StateRow:
    store: str
    projection: str
    table: str
    row: Row

    def row_json(self) -> str:
        return json.dumps(self.row, ensure_ascii=False, sort_keys=True, default=str)


@dataclass
class StateAsOf:
    rows: list[StateRow]
    unavailable: dict[str, str]  # store -> why its projections were not rebuilt


def names(row: Mapping[str, Any], subject_id: str) -> bool:
    """A row names a subject when any of its columns equals the subject's id."""
    return any(value == subject_id for value in row.values())
