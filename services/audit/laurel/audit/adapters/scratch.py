"""The read models as they stood at a past moment, rebuilt from the log.

Live projections only know the present. To show an auditor what a service
would have answered at a moment (a nomination's state, a ranking, a panel),
the store's projections are replayed into a scratch SQLite file from the
events recorded up to that moment, and every row naming the subject (any
column equal to its id) is returned. The live database is only read.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from laurel.envelope import format_time
from laurel.eventstore import EventStore, Projection


@dataclass(frozen=True)
class StateRow:
    store: str
    projection: str
    table: str
    row: dict[str, Any]

    def row_json(self) -> str:
        return json.dumps(self.row, ensure_ascii=False, sort_keys=True, default=str)


@dataclass
class StateAsOf:
    rows: list[StateRow]
    unavailable: dict[str, str]  # store -> why its projections were not rebuilt


def state_as_of(
    stores: Mapping[str, EventStore],
    subject_id: str,
    as_of: datetime,
    projections_of: Callable[[str], Sequence[Projection]],
) -> StateAsOf:
    """Rows naming `subject_id` in every store's projections as of `as_of`.

    `projections_of(store_name)` gives fresh projection objects, or raises
    (any exception) when a store's service exposes none: that store is then
    reported in `unavailable` instead of failing the whole answer.
    """
    result = StateAsOf([], {})
    with tempfile.TemporaryDirectory(prefix="laurel-as-of-") as tmp:
        for name, store in sorted(stores.items()):
            try:
                projections = list(projections_of(name))
            except Exception as error:  # noqa: BLE001 — reported, not raised
                result.unavailable[name] = str(error)
                continue
            scratch = EventStore(f"sqlite:///{Path(tmp) / f'{name}.sqlite'}")
            try:
                _rebuild_until(store, projections, scratch, format_time(as_of))
                result.rows.extend(_rows_naming(name, projections, scratch, subject_id))
            finally:
                scratch.close()
    return result


def _rebuild_until(
    store: EventStore,
    projections: Sequence[Projection],
    scratch: EventStore,
    moment: str,
) -> None:
    for projection in projections:
        projection.metadata.create_all(scratch.engine)
    writing = scratch.engine.connect().execution_options(laurel_write=True)
    with writing as conn, conn.begin():
        for event in store.read_all(batch_size=2000):
            if event.recorded_at > moment:  # fixed-width UTC text sorts as time
                continue
            for projection in projections:
                projection.apply(conn, event)


def _rows_naming(
    store_name: str,
    projections: Sequence[Projection],
    scratch: EventStore,
    subject_id: str,
) -> list[StateRow]:
    found = []
    with scratch.engine.connect() as conn:
        for projection in projections:
            for table in projection.metadata.sorted_tables:
                for row in conn.execute(select(table)).mappings():
                    if any(value == subject_id for value in row.values()):
                        found.append(
                            StateRow(store_name, projection.name, table.name, dict(row))
                        )
    return found
