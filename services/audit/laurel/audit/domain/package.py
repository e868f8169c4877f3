"""Evidence packages: what an auditor takes away and checks offline, later.

A package is a folder of files (built here as name -> bytes; written and read
by `laurel.audit.adapters.package_folder`, or returned inline over gRPC):
  events.<store>.jsonl   stored rows, one per line (see `domain.lines`)
  checkpoint.<store>.json  signed Merkle root of the store up to a position
  proofs.<store>.json    inclusion proofs of the exported events in that
                         root (nomination packages: a subset of the store)
  public_key.pem         the signer's public key (pin it: see verification)
  manifest.json          scope, SHA-256 of every file, signed
A whole-store package carries every event up to the checkpoint, so its root
is recomputed outright and needs no proofs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from laurel.audit.domain.checkpoints import Checkpoint
from laurel.audit.domain.keys import public_pem
from laurel.audit.domain.lines import encode_line
from laurel.audit.domain.manifest import MANIFEST, PUBLIC_KEY, manifest_file, signed_manifest
from laurel.audit.domain.merkle import MerkleTree
from laurel.chain import RawEvent

STORE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class Package:
    files: dict[str, bytes]  # every file, manifest.json included
    manifest: dict[str, Any]


def store_names(names: Iterable[str]) -> list[str]:
    """The stores' names, sorted; each becomes part of a file name."""
    for name in names:
        if not STORE_NAME.match(name):
            raise ValueError(f"store name {name!r}: use a-z, 0-9, '-' and '_'")
    return sorted(names)


def store_files(
    name: str,
    checkpoint: Checkpoint,
    rows: Sequence[RawEvent],
    tree: MerkleTree | None = None,
) -> dict[str, bytes]:
    """One store's part: its rows and checkpoint, and, given the checkpoint's
    whole tree, the rows' inclusion proofs (a package of some streams)."""
    files = {
        f"events.{name}.jsonl": b"".join(encode_line(row).encode("utf-8") for row in rows),
        f"checkpoint.{name}.json": json_file(checkpoint.to_dict()),
    }
    if tree is not None:
        files[f"proofs.{name}.json"] = json_file(_proofs(checkpoint, tree, rows))
    return files


def sealed(
    files: Mapping[str, bytes],
    key: Ed25519PrivateKey,
    scope: Mapping[str, str],
    counts: Mapping[str, int],
    created_at: str,
) -> Package:
    """The stores' files with the signer's public key and the signed manifest."""
    content = {**files, PUBLIC_KEY: public_pem(key.public_key())}
    body = {"scope": dict(scope), "stores": dict(counts), "created_at": created_at}
    manifest = signed_manifest(body, content, key)
    return Package({**content, MANIFEST: manifest_file(manifest)}, manifest)


def json_file(data: Mapping[str, Any]) -> bytes:
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    return text.encode("utf-8")


def _proofs(
    checkpoint: Checkpoint, tree: MerkleTree, rows: Sequence[RawEvent]
) -> dict[str, Any]:
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
