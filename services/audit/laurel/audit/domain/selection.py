"""Which events belong to a nomination, in one store's rows.

A nomination's events are whole streams: every stream whose id contains the
nomination id (`nomination-<id>`, `notifications-<id>`, ...) and every stream
holding an event whose payload says `"nomination_id": <id>`. Whole streams,
because a stream's hash chain only verifies from its first event. A
campaign's events are its own streams (named by id or `"campaign_id"`) and
every stream of every nomination in it.

Each function reads the rows it is given once (a store's rows in position
order, fetched in batches by the caller) and keeps only the stream ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from laurel.chain import RawEvent

NOMINATION_KEY = '"nomination_id":'
CAMPAIGN_KEY = '"campaign_id":'


def nomination_stream_ids(rows: Iterable[RawEvent], nomination_id: str) -> set[str]:
    streams: set[str] = set()
    for row in rows:
        if row.stream_id in streams:
            continue
        if nomination_id in row.stream_id or _names(row, nomination_id):
            streams.add(row.stream_id)
    return streams


def campaign_nomination_ids(rows: Iterable[RawEvent], campaign_id: str) -> set[str]:
    """Nominations whose events say `"campaign_id": <id>` in these rows."""
    found: set[str] = set()
    for row in rows:
        payload = _payload(row, CAMPAIGN_KEY)
        nomination_id = payload.get("nomination_id")
        if payload.get("campaign_id") == campaign_id and isinstance(nomination_id, str):
            found.add(nomination_id)
    return found


def campaign_stream_ids(
    rows: Iterable[RawEvent], campaign_id: str, nomination_ids: set[str]
) -> set[str]:
    """The campaign's own streams and every stream of its nominations.

    `nomination_ids` comes from every store (intake knows which nominations
    a campaign has; notification's streams only name the nomination).
    """
    streams: set[str] = set()
    for row in rows:
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


def _names(row: RawEvent, nomination_id: str) -> bool:
    return bool(_payload(row, NOMINATION_KEY).get("nomination_id") == nomination_id)


def _payload(row: RawEvent, key: str) -> dict[str, Any]:
    """The payload when it may hold `key` (a cheap test before parsing)."""
    if key not in row.payload_json:
        return {}
    try:
        payload = json.loads(row.payload_json)
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
