"""Checks that a sequence of stored events is exactly what was appended.

One verifier serves the live store and an exported evidence package alike, so
an auditor's offline check and the service's own check cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from laurel.envelope import GENESIS_HASH, event_hash, hash_fields


@dataclass(frozen=True)
class ChainBreak:
    position: int
    stream_id: str
    version: int
    reason: str

    def __str__(self) -> str:
        return (
            f"stream {self.stream_id!r} version {self.version} "
            f"(position {self.position}): {self.reason}"
        )


@dataclass
class ChainReport:
    events_checked: int = 0
    streams_checked: int = 0
    last_position: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> ChainBreak | None:
        return self.breaks[0] if self.breaks else None


@dataclass(frozen=True)
class RawEvent:
    """A stored row as text, before any upcasting or decoding."""

    position: int
    event_id: str
    stream_id: str
    version: int
    type: str
    schema_version: int
    payload_json: str
    metadata_json: str
    recorded_at: str
    prev_hash: str
    hash: str

    def recomputed_hash(self) -> str:
        return event_hash(
            position=self.position,
            event_id=self.event_id,
            stream_id=self.stream_id,
            version=self.version,
            type=self.type,
            schema_version=self.schema_version,
            payload_json=self.payload_json,
            metadata_json=self.metadata_json,
            recorded_at=self.recorded_at,
            prev_hash=self.prev_hash,
        )

    @classmethod
    def from_mapping(cls, row: Any) -> RawEvent:
        return cls(
            position=row["position"],
            event_id=row["event_id"],
            stream_id=row["stream_id"],
            version=row["version"],
            type=row["type"],
            schema_version=row["schema_version"],
            payload_json=row["payload"],
            metadata_json=row["metadata"],
            recorded_at=row["recorded_at"],
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )


def verify_chain(
    rows: Iterable[RawEvent], *, contiguous_positions: bool = True
) -> ChainReport:
    """Walk rows in position order; record the first break of each stream.

    `contiguous_positions` is off for an export of one nomination, whose
    events are a subset of the global log.
    """
    return verify_rows(
        ((r.position, r.event_id, r.stream_id, r.version, r.type, r.schema_version,
          r.payload_json, r.metadata_json, r.recorded_at, r.prev_hash, r.hash)
         for r in rows),
        contiguous_positions=contiguous_positions)


def verify_rows(
    rows: Iterable[Sequence[Any]], *, contiguous_positions: bool = True
) -> ChainReport:
    """`verify_chain` over stored rows as tuples in the events table's column
    order (what the store's driver returns): no object per row, the hash
    computed from the row's own fields, one head (version, hash) per stream
    held. Millions of rows stream through in flat memory."""
    report = ChainReport()
    heads: dict[str, tuple[int, str]] = {}
    broken: set[str] = set()
    expected_position = None
    genesis = (0, GENESIS_HASH)
    count = 0
    position = 0
    for row in rows:
        count += 1
        position, stream_id, version, prev_hash, digest = (
            row[0], row[2], row[3], row[9], row[10])
        if expected_position is None or position != expected_position:
            reason = _position_problem(position, expected_position, contiguous_positions)
        else:
            reason = None
        expected_position = position + 1
        head_version, head_hash = heads.get(stream_id, genesis)
        if reason is None:
            if version != head_version + 1:
                reason = f"version {version} follows version {head_version}"
            elif prev_hash != head_hash:
                reason = "previous-hash link does not match the preceding event"
            elif hash_fields(list(row[:10])) != digest:
                reason = "stored hash does not match the event's content (edited after commit)"
        heads[stream_id] = (version, digest)
        if reason and stream_id not in broken:
            broken.add(stream_id)
            report.breaks.append(ChainBreak(position, stream_id, version, reason))
    report.events_checked = count
    report.last_position = position
    report.streams_checked = len(heads)
    return report


def _position_problem(
    position: int, expected: int | None, contiguous: bool
) -> str | None:
    if expected is None:
        if contiguous and position != 1:
            return f"global log starts at position {position}, not 1"
        return None
    if contiguous and position != expected:
        return f"global position {position} follows {expected - 1}"
    if position < expected:
        return f"global position {position} is out of order"
    return None
