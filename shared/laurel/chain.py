"""Checks that a sequence of stored events is exactly what was appended.

One verifier serves the live store and an exported evidence package alike, so
an auditor's offline check and the service's own check cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from laurel.envelope import GENESIS_HASH, event_hash


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
    report = ChainReport()
    heads: dict[str, tuple[int, str]] = {}
    broken: set[str] = set()
    expected_position = None
    for row in rows:
        report.events_checked += 1
        reason = _position_problem(row, expected_position, contiguous_positions)
        expected_position = row.position + 1
        report.last_position = row.position
        version, head_hash = heads.get(row.stream_id, (0, GENESIS_HASH))
        reason = reason or _link_problem(row, version, head_hash)
        heads[row.stream_id] = (row.version, row.hash)
        if reason and row.stream_id not in broken:
            broken.add(row.stream_id)
            report.breaks.append(
                ChainBreak(row.position, row.stream_id, row.version, reason)
            )
    report.streams_checked = len(heads)
    return report


def _position_problem(
    row: RawEvent, expected: int | None, contiguous: bool
) -> str | None:
    if expected is None:
        if contiguous and row.position != 1:
            return f"global log starts at position {row.position}, not 1"
        return None
    if contiguous and row.position != expected:
        return f"global position {row.position} follows {expected - 1}"
    if row.position < expected:
        return f"global position {row.position} is out of order"
    return None


def _link_problem(row: RawEvent, head_version: int, head_hash: str) -> str | None:
    if row.version != head_version + 1:
        return f"version {row.version} follows version {head_version}"
    if row.prev_hash != head_hash:
        return "previous-hash link does not match the preceding event"
    if row.recomputed_hash() != row.hash:
        return "stored hash does not match the event's content (edited after commit)"
    return None
