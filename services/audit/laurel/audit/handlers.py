"""Evidence packages: what an auditor takes away and checks offline, later.

A package is a folder:
  events.<store>.jsonl   stored rows, one per line (see `laurel.audit.lines`)
  checkpoint.<store>.json  signed Merkle root of the store up to a position
  proofs.<store>.json    inclusion proofs of the exported events in that
                         root (nomination packages: a subset of the store)
  public_key.pem         the signer's public key (pin it: see verify)
  manifest.json          scope, SHA-256 of every file, signed
A whole-store package carries every event up to the checkpoint, so its root
is recomputed outright and needs no proofs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from laurel.audit.checkpoints import Checkpoint, create_checkpoint
from laurel.audit.keys import public_pem
from laurel.audit.lines import encode_line
from laurel.audit.manifest import PUBLIC_KEY, write_manifest
from laurel.audit.merkle import MerkleTree
from laurel.audit.selection import (
    campaign_nomination_ids,
    campaign_stream_ids,
    nomination_stream_ids,
    read_streams_raw,
    store_hashes,
)
from laurel.chain import RawEvent
from laurel.envelope import format_time, utcnow
from laurel.eventstore import EventStore

STORE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def export_nomination(
    stores: Mapping[str, EventStore],
    nomination_id: str,
    out_dir: Path,
    key: Ed25519PrivateKey,
    *,
    record_checkpoints: bool = True,
) -> dict[str, Any]:
    """Package one nomination's streams from every store; returns the manifest."""

    def select(store: EventStore, last: int) -> set[str]:
        return nomination_stream_ids(store, nomination_id, last)

    return _export_streams(
        stores,
        select,
        {"kind": "nomination", "nomination_id": nomination_id},
        out_dir,
        key,
        record_checkpoints,
    )


def export_campaign(
    stores: Mapping[str, EventStore],
    campaign_id: str,
    out_dir: Path,
    key: Ed25519PrivateKey,
    *,
    record_checkpoints: bool = True,
) -> dict[str, Any]:
    """Package a campaign's streams and all its nominations' from every store."""
    nominations: set[str] = set()
    for store in stores.values():
        nominations |= campaign_nomination_ids(store, campaign_id)

    def select(store: EventStore, last: int) -> set[str]:
        return campaign_stream_ids(store, campaign_id, nominations, last)

    return _export_streams(
        stores,
        select,
        {"kind": "campaign", "campaign_id": campaign_id},
        out_dir,
        key,
        record_checkpoints,
    )


def _export_streams(
    stores: Mapping[str, EventStore],
    select: Callable[[EventStore, int], set[str]],
    scope: dict[str, str],
    out_dir: Path,
    key: Ed25519PrivateKey,
    record_checkpoints: bool,
) -> dict[str, Any]:
    """Whole selected streams of each store, proved into a fresh checkpoint."""
    named = _named(stores)
    out_dir = _fresh(out_dir)
    counts = {}
    for name, store in named:
        checkpoint = create_checkpoint(store, name, key, record=record_checkpoints)
        last = checkpoint.up_to_position
        rows = read_streams_raw(store, select(store, last), last)
        tree = MerkleTree(store_hashes(store, last))
        _write_events(out_dir, name, rows)
        _write_json(out_dir / f"checkpoint.{name}.json", checkpoint.to_dict())
        _write_json(out_dir / f"proofs.{name}.json", _proofs(checkpoint, tree, rows))
        counts[name] = len(rows)
    return _finish(out_dir, key, scope, counts)


def export_all(
    stores: Mapping[str, EventStore],
    out_dir: Path,
    key: Ed25519PrivateKey,
    *,
    record_checkpoints: bool = True,
) -> dict[str, Any]:
    """Package every event of every store up to a fresh checkpoint."""
    named = _named(stores)
    out_dir = _fresh(out_dir)
    counts = {}
    for name, store in named:
        checkpoint = create_checkpoint(store, name, key, record=record_checkpoints)
        rows = list(store.read_raw(until_position=checkpoint.up_to_position))
        _write_events(out_dir, name, rows)
        _write_json(out_dir / f"checkpoint.{name}.json", checkpoint.to_dict())
        counts[name] = len(rows)
    return _finish(out_dir, key, {"kind": "all"}, counts)


def _named(stores: Mapping[str, EventStore]) -> list[tuple[str, EventStore]]:
    for name in stores:
        if not STORE_NAME.match(name):
            raise ValueError(f"store name {name!r}: use a-z, 0-9, '-' and '_'")
    return sorted(stores.items())


def _fresh(out_dir: Path) -> Path:
    """Never mix a new package into an old one's files."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def _write_events(out_dir: Path, name: str, rows: list[RawEvent]) -> None:
    with (out_dir / f"events.{name}.jsonl").open("wb") as out:
        for row in rows:
            out.write(encode_line(row).encode("utf-8"))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    path.write_text(text, encoding="utf-8", newline="\n")


def _proofs(checkpoint: Checkpoint, tree: MerkleTree, rows: list[RawEvent]) -> dict:
    return {
        "store_name": checkpoint.store_name,
        "tree_size": tree.size,
        "merkle_root": tree.root,
        "proofs": [
            {
                "position": row.position,
                "event_hash": row.hash,
                "path": tree.proof(row.position - 1),
            }
            for row in rows
        ],
    }


def _finish(
    out_dir: Path,
    key: Ed25519PrivateKey,
    scope: dict[str, str],
    counts: dict[str, int],
) -> dict[str, Any]:
    (out_dir / PUBLIC_KEY).write_bytes(public_pem(key.public_key()))
    body = {"scope": scope, "stores": counts, "created_at": format_time(utcnow())}
    return write_manifest(out_dir, body, key)
