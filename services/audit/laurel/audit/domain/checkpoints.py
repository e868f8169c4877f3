"""Signed checkpoints: a store's Merkle root up to a position, under a key.

A checkpoint is what makes a rewrite of the whole log detectable: whoever
edits an event and recomputes every later hash still cannot produce the
signed root that was published before. Checkpoints are recorded as events
(`CheckpointSigned` in stream `audit-checkpoints`) of the store they cover:
a checkpoint covers positions 1..N and is appended after N, so later
checkpoints cover the earlier ones too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from laurel.audit.domain.keys import key_id
from laurel.audit.domain.merkle import RootAccumulator
from laurel.chain import RawEvent, verify_chain
from laurel.envelope import (
    SYSTEM_ACTOR,
    EventMetadata,
    NewEvent,
    RecordedEvent,
    canonical_json,
)

CHECKPOINT_STREAM = "audit-checkpoints"
CHECKPOINT_EVENT = "CheckpointSigned"
FORMAT = "laurel-checkpoint/1 rfc6962-sha256 ed25519"


class CheckpointRefused(Exception):
    """The log is broken up to the position: signing it would bless the break."""


@dataclass(frozen=True)
class Checkpoint:
    store_name: str
    up_to_position: int
    event_count: int
    merkle_root: str
    created_at: str
    key_id: str
    signature: str = ""

    def signed_bytes(self) -> bytes:
        """Canonical JSON of every field but the signature, plus the format."""
        fields = asdict(self)
        del fields["signature"]
        return canonical_json({"format": FORMAT, **fields}).encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown checkpoint format {data.get('format')!r}")
        values = {name: data[name] for name in cls.__dataclass_fields__}
        for name in ("up_to_position", "event_count"):
            if type(values[name]) is not int:
                raise ValueError(f"{name} is not a whole number")
        return cls(**values)


def sign_checkpoint(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> Checkpoint:
    unsigned = replace(checkpoint, key_id=key_id(key.public_key()), signature="")
    return replace(unsigned, signature=key.sign(unsigned.signed_bytes()).hex())


def verify_checkpoint(
    checkpoint: Checkpoint, public_key: Ed25519PublicKey
) -> str | None:
    """None when the signature holds under `public_key`; else the reason."""
    if checkpoint.key_id != key_id(public_key):
        return (
            f"signed by key {checkpoint.key_id}, not by the trusted key "
            f"{key_id(public_key)}"
        )
    try:
        public_key.verify(
            bytes.fromhex(checkpoint.signature), checkpoint.signed_bytes()
        )
    except (InvalidSignature, ValueError):
        return "signature does not match the checkpoint's content"
    return None


def checkpoint_of(
    rows: Iterable[RawEvent],
    store_name: str,
    up_to_position: int,
    created_at: str,
    key: Ed25519PrivateKey,
) -> Checkpoint:
    """Sign the root of a store's rows 1..N (`rows`, in position order).

    The chain is verified in the same pass; a broken log, or fewer rows than
    positions, is refused (CheckpointRefused) rather than signed.
    """
    accumulator = RootAccumulator()
    report = verify_chain(_feeding(iter(rows), accumulator))
    if not report.ok:
        raise CheckpointRefused(f"{store_name}: {report.first_break}")
    if accumulator.count != up_to_position:
        raise CheckpointRefused(
            f"{store_name}: {accumulator.count} events up to position {up_to_position}"
        )
    unsigned = Checkpoint(
        store_name,
        up_to_position,
        accumulator.count,
        accumulator.root(),
        created_at,
        key_id="",
    )
    return sign_checkpoint(unsigned, key)


def recording(checkpoint: Checkpoint) -> tuple[str, list[NewEvent], EventMetadata]:
    """Where and how a checkpoint is recorded in the store it covers:
    (stream, events, metadata)."""
    return (
        CHECKPOINT_STREAM,
        [NewEvent(CHECKPOINT_EVENT, checkpoint.to_dict())],
        EventMetadata(
            SYSTEM_ACTOR,
            correlation_id=f"checkpoint-{checkpoint.store_name}-{checkpoint.up_to_position}",
        ),
    )


def checkpoints_in(events: Iterable[RecordedEvent]) -> list[Checkpoint]:
    """The checkpoints among a checkpoint stream's events, oldest first."""
    return [Checkpoint.from_dict(e.payload) for e in events if e.type == CHECKPOINT_EVENT]


def is_checkpoint(row: RawEvent) -> bool:
    return row.stream_id == CHECKPOINT_STREAM and row.type == CHECKPOINT_EVENT


def _feeding(
    rows: Iterator[RawEvent], accumulator: RootAccumulator
) -> Iterator[RawEvent]:
    for row in rows:
        try:
            accumulator.add(row.hash)
        except ValueError as error:
            raise CheckpointRefused(
                f"stream {row.stream_id!r} version {row.version} "
                f"(position {row.position}): {error}"
            ) from None
        yield row


def checkpoint_problems(
    checkpoints: Sequence[Checkpoint],
    rows: Iterable[RawEvent],
    public_key: Ed25519PublicKey | None,
) -> list[str]:
    """Each checkpoint (recorded by the store, or published), against the
    store's `rows` now; signatures checked when `public_key` is given.

    Catches what the chain cannot: a log rewritten with every later hash
    recomputed still differs from the root signed before the rewrite.
    Leaves are recomputed from content, so an edited hash column counts too.
    """
    ordered = sorted(checkpoints, key=lambda c: c.up_to_position)
    problems = [
        f"checkpoint up to position {c.up_to_position}: {reason}"
        for c in ordered
        if public_key is not None and (reason := verify_checkpoint(c, public_key))
    ]
    pending = deque(ordered)
    accumulator = RootAccumulator()
    remaining = iter(rows)
    while pending:
        checkpoint = pending[0]
        if accumulator.count == checkpoint.up_to_position:
            pending.popleft()
            if accumulator.root() != checkpoint.merkle_root:
                problems.append(
                    f"events 1..{checkpoint.up_to_position} no longer have the "
                    f"Merkle root signed at {checkpoint.created_at}: the log was "
                    "rewritten"
                )
            continue
        row = next(remaining, None)
        if row is None:
            pending.popleft()
            problems.append(
                f"checkpoint up to position {checkpoint.up_to_position}: the store "
                f"has only {accumulator.count} events"
            )
            continue
        accumulator.add(row.recomputed_hash())
    return problems


def unrecorded_published(published: Sequence[Checkpoint], recorded: Sequence[Checkpoint],
                         last_position: int) -> list[str]:
    """Published checkpoints the store no longer holds.

    A checkpoint is recorded in the store it covers, after the positions it
    covers; a store holding the events 1..N of a published checkpoint but
    not the checkpoint itself had its tail cut after N (or the checkpoint
    was never recorded there). Either way the store is not what it was when
    the checkpoint was published."""
    held = {(c.up_to_position, c.merkle_root) for c in recorded}
    return [
        f"published checkpoint up to position {c.up_to_position} (signed at "
        f"{c.created_at}) is not recorded in the store, which ends at position "
        f"{last_position}: events after position {c.up_to_position} were cut, or the "
        "checkpoint was never recorded here"
        for c in sorted(published, key=lambda c: c.up_to_position)
        if (c.up_to_position, c.merkle_root) not in held
    ]
