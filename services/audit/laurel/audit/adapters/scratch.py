"""Projections rebuilt from a log into a scratch database, never the live one.

Replay rebuilds every projection of a store into an empty database and reads
both sides' tables for `domain.replay` to compare; run it on a quiet store (or
a copy), since events appended meanwhile show up as differences. State as of
a moment rebuilds into a temporary SQLite file from the events recorded up to
that moment. The live database is only read.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, Table, inspect, select
from sqlalchemy.engine import make_url

from laurel.audit.domain.replay import (
    Difference,
    Row,
    StateRow,
    differences,
    keyed,
    missing_table,
    names,
)
from laurel.eventstore import EventStore, Projection, events_table


def replay_projections(
    store: EventStore, projections: Sequence[Projection], scratch_url: str
) -> list[Difference]:
    """Rebuild each projection into `scratch_url` and diff it with the live one."""
    _refuse_live_target(store, scratch_url)
    target = EventStore(scratch_url)
    found: list[Difference] = []
    try:
        for projection in projections:
            store.rebuild_projection(projection, target=target)
            for table in projection.metadata.sorted_tables:
                found.extend(_compare(projection.name, table, store.engine, target.engine))
    finally:
        target.close()
    return found


def rebuild_until(
    store: EventStore, projections: Sequence[Projection], scratch: EventStore, moment: str
) -> None:
    """The projections as they stood after the last event recorded by `moment`
    (fixed-width UTC text, which sorts as time)."""
    for projection in projections:
        projection.metadata.create_all(scratch.engine)
    writing = scratch.engine.connect().execution_options(laurel_write=True)
    with writing as conn, conn.begin():
        for event in store.read_all(batch_size=2000):
            if event.recorded_at > moment:
                continue
            for projection in projections:
                projection.apply(conn, event)


def rows_naming(
    store_name: str, projections: Sequence[Projection], scratch: EventStore, subject_id: str
) -> list[StateRow]:
    """Every row of the rebuilt projections with a column equal to `subject_id`."""
    found = []
    with scratch.engine.connect() as conn:
        for projection in projections:
            for table in projection.metadata.sorted_tables:
                for mapping in conn.execute(select(table)).mappings():
                    row = dict(mapping)
                    if names(row, subject_id):
                        found.append(StateRow(store_name, projection.name, table.name, row))
    return found


def _compare(projection: str, table: Table, live: Engine, rebuilt: Engine) -> list[Difference]:
    rebuilt_rows = _rows(rebuilt, table)
    if not inspect(live).has_table(table.name):
        return [missing_table(projection, table.name, len(rebuilt_rows))]
    key_columns = [c.name for c in table.primary_key.columns]
    return differences(projection, table.name, keyed(_rows(live, table), key_columns),
                       keyed(rebuilt_rows, key_columns))


def _rows(engine: Engine, table: Table) -> list[Row]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


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

