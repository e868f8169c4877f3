"""Reading a service's event log, as audit needs it.

Most reads use the store's own tool API (`read_raw` and `read_all` in short
batches, `read_stream`, `verify`); the two queries here are audit's own: the
rows of chosen streams, and the hash column up to a position (a checkpoint's
leaves). Each is one read-only unit of work: it never takes the write lock.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select

from laurel.audit.domain.completeness import Published
from laurel.chain import RawEvent
from laurel.eventstore import (
    EventStore,
    applied_positions_table,
    events_table,
    outbox_table,
    processed_table,
)


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



def published(store: EventStore, through: int) -> Iterator[Published]:
    """The events the store published (those with an outbox row, sent or
    not) up to a position, in position order, in batches."""
    e = events_table.c
    position = 1
    while True:
        query = (select(e.position, e.event_id, e.type, e.stream_id)
                 .join(outbox_table, outbox_table.c.position == e.position)
                 .where(e.position >= position, e.position <= through)
                 .order_by(e.position).limit(2000))
        with store.engine.connect() as conn:
            batch = [Published(*row) for row in conn.execute(query).tuples()]
        if not batch:
            return
        yield from batch
        position = batch[-1].position + 1


def published_head(store: EventStore) -> int:
    """The store's last published position (0: none)."""
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.max(outbox_table.c.position))).scalar() or 0)


def consumed(store: EventStore, consumer: str, upstream: str
             ) -> tuple[dict[int, str], set[str]]:
    """What `consumer` recorded in its store: the outcome of each upstream
    position, and every event id it marked applied (from any upstream)."""
    t, p = applied_positions_table.c, processed_table.c
    with store.engine.connect() as conn:
        outcomes = dict(conn.execute(select(t.position, t.outcome).where(
            t.consumer == consumer, t.upstream == upstream)).tuples().all())
        marked = set(conn.execute(select(p.event_id).where(p.consumer == consumer)).scalars())
    return outcomes, marked
