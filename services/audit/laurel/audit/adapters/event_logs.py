"""Reading a service's event log, as audit needs it.

Most reads use the store's own tool API (`read_raw` and `read_all` in short
batches, `read_stream`, `verify`); the two queries here are audit's own: the
rows of chosen streams, and the hash column up to a position (a checkpoint's
leaves). Each is one read-only unit of work: it never takes the write lock.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from laurel.chain import RawEvent
from laurel.eventstore import EventStore, events_table


def rows(store: EventStore, up_to_position: int | None = None) -> Iterator[RawEvent]:
    """Every stored row in position order (up to a position), in batches."""
    return store.read_raw(batch_size=2000, until_position=up_to_position)


def head(store: EventStore) -> RawEvent | None:
    """The last event the store recorded, if any."""
    last = store.last_position()
    if last == 0:
        return None
    return next(store.read_raw(last, batch_size=1, until_position=last), None)


def streams_raw(
    store: EventStore, stream_ids: set[str], up_to_position: int | None = None
) -> list[RawEvent]:
    """The streams' rows in global position order."""
    if not stream_ids:
        return []
    query = (
        select(events_table)
        .where(events_table.c.stream_id.in_(sorted(stream_ids)))
        .order_by(events_table.c.position)
    )
    if up_to_position is not None:
        query = query.where(events_table.c.position <= up_to_position)
    with store.unit_of_work() as uow:
        return [RawEvent.from_mapping(r) for r in uow.conn.execute(query).mappings()]


def hashes(store: EventStore, up_to_position: int) -> list[str]:
    """Every event hash up to the position, in order: the checkpoint's leaves."""
    query = (
        select(events_table.c.hash)
        .where(events_table.c.position <= up_to_position)
        .order_by(events_table.c.position)
    )
    with store.unit_of_work() as uow:
        return list(uow.conn.execute(query).scalars())

