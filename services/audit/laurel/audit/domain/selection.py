"""Which events belong to a nomination, in one store.

A nomination's events are whole streams: every stream whose id contains the
nomination id (`nomination-<id>`, `notifications-<id>`, ...) and every stream
holding an event whose payload says `"nomination_id": <id>`. Whole streams,
because a stream's hash chain only verifies from its first event. A
campaign's events are its own streams (named by id or `"campaign_id"`) and
every stream of every nomination in it.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from laurel.chain import RawEvent
from laurel.eventstore import EventStore, events_table

NOMINATION_KEY = '"nomination_id":'
CAMPAIGN_KEY = '"campaign_id":'


def nomination_stream_ids(
    store: EventStore, nomination_id: str, up_to_position: int | None = None
) -> set[str]:
    streams: set[str] = set()
    for row in store.read_raw(batch_size=2000, until_position=up_to_position):
        if row.stream_id in streams:
            continue
        if nomination_id in row.stream_id or _names(row, nomination_id):
            streams.add(row.stream_id)
    return streams


def campaign_nomination_ids(store: EventStore, campaign_id: str) -> set[str]:
    """Nominations whose events say `"campaign_id": <id>` in this store."""
    found: set[str] = set()
    for row in store.read_raw(batch_size=2000):
        payload = _payload(row, CAMPAIGN_KEY)
        if payload.get("campaign_id") == campaign_id and isinstance(
            payload.get("nomination_id"), str
        ):
            found.add(payload["nomination_id"])
    return found


def campaign_stream_ids(
    store: EventStore,
    campaign_id: str,
    nomination_ids: set[str],
    up_to_position: int | None = None,
) -> set[str]:
    """The campaign's own streams and every stream of its nominations.

    `nomination_ids` comes from every store (intake knows which nominations
    a campaign has; notification's streams only name the nomination).
    """
    streams: set[str] = set()
    for row in store.read_raw(batch_size=2000, until_position=up_to_position):
        if row.stream_id in streams:
            continue
        named = _payload(row, CAMPAIGN_KEY) or _payload(row, NOMINATION_KEY)
        if (
            campaign_id in row.stream_id
            or named.get("campaign_id") == campaign_id
            or named.get("nomination_id") in nomination_ids
            or any(n in row.stream_id for n in nomination_ids)
        ):
            streams.add(row.stream_id)
    return streams


def read_streams_raw(
    store: EventStore, stream_ids: set[str], up_to_position: int | None = None
) -> list[RawEvent]:
    """The streams' events in global position order."""
    if not stream_ids:
        return []
    query = (
        select(events_table)
        .where(events_table.c.stream_id.in_(sorted(stream_ids)))
        .order_by(events_table.c.position)
    )
    if up_to_position is not None:
        query = query.where(events_table.c.position <= up_to_position)
    with store.engine.connect() as conn:
        return [RawEvent.from_mapping(r) for r in conn.execute(query).mappings()]


def _names(row: RawEvent, nomination_id: str) -> bool:
    return _payload(row, NOMINATION_KEY).get("nomination_id") == nomination_id


def _payload(row: RawEvent, key: str) -> dict:
    """The payload when it may hold `key` (a cheap test before parsing)."""
    if key not in row.payload_json:
        return {}
    try:
        payload = json.loads(row.payload_json)
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def store_hashes(store: EventStore, up_to_position: int) -> list[str]:
    """Every event hash up to the position, in order: the checkpoint's leaves."""
    query = (
        select(events_table.c.hash)
        .where(events_table.c.position <= up_to_position)
        .order_by(events_table.c.position)
    )
    with store.engine.connect() as conn:
        return list(conn.execute(query).scalars())
