"""One stored event as one line of JSON, exactly as the store holds it.

Payload and metadata are written as their stored canonical text (JSON
strings inside the line), never re-encoded, so an auditor recomputes every
hash byte for byte from the line alone, with no Laurel code but this module
and `laurel.chain`.
"""

from __future__ import annotations

import json

from laurel.chain import RawEvent
from laurel.envelope import canonical_json

FIELDS = {
    "position": int,
    "event_id": str,
    "stream_id": str,
    "version": int,
    "type": str,
    "schema_version": int,
    "payload": str,
    "metadata": str,
    "recorded_at": str,
    "prev_hash": str,
    "hash": str,
}


def encode_line(row: RawEvent) -> str:
    return (
        canonical_json(
            {
                "position": row.position,
                "event_id": row.event_id,
                "stream_id": row.stream_id,
                "version": row.version,
                "type": row.type,
                "schema_version": row.schema_version,
                "payload": row.payload_json,
                "metadata": row.metadata_json,
                "recorded_at": row.recorded_at,
                "prev_hash": row.prev_hash,
                "hash": row.hash,
            }
        )
        + "\n"
    )


def decode_line(raw: bytes) -> RawEvent:
    """The event on one line; ValueError saying what is wrong with it."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 ({error.reason} at byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise ValueError(
            f"not valid JSON ({error.msg} at column {error.colno})"
        ) from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    for name, kind in FIELDS.items():
        value = data.get(name)
        if type(value) is not kind:
            raise ValueError(f"field {name!r} is missing or not a {kind.__name__}")
    extra = sorted(set(data) - set(FIELDS))
    if extra:
        raise ValueError(f"unexpected fields {extra}")
    return RawEvent.from_mapping(data)
