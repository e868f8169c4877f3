"""The package manifest: the SHA-256 of every file, signed as a whole.

Per-file hashes say which file changed; the signature over the manifest says
that nobody rewrote the files and the manifest together.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from laurel.audit.keys import key_id
from laurel.envelope import canonical_json

MANIFEST = "manifest.json"
PUBLIC_KEY = "public_key.pem"
FORMAT = "laurel-evidence/1"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def signed_bytes(manifest: dict[str, Any]) -> bytes:
    return canonical_json(
        {k: v for k, v in manifest.items() if k != "signature"}
    ).encode("utf-8")


def write_manifest(
    out_dir: Path, body: dict[str, Any], key: Ed25519PrivateKey
) -> dict[str, Any]:
    files = sorted(p.name for p in out_dir.iterdir() if p.name != MANIFEST)
    manifest = {
        "format": FORMAT,
        **body,
        "files": {name: file_sha256(out_dir / name) for name in files},
        "key_id": key_id(key.public_key()),
    }
    manifest["signature"] = key.sign(signed_bytes(manifest)).hex()
    (out_dir / MANIFEST).write_text(
        canonical_json(manifest) + "\n", encoding="utf-8", newline="\n"
    )
    return manifest


def manifest_signature_problem(
    manifest: dict[str, Any], public_key: Ed25519PublicKey
) -> str | None:
    if manifest.get("key_id") != key_id(public_key):
        return (
            f"signed by key {manifest.get('key_id')}, not by the trusted key "
            f"{key_id(public_key)}"
        )
    try:
        public_key.verify(
            bytes.fromhex(str(manifest.get("signature", ""))), signed_bytes(manifest)
        )
    except (InvalidSignature, ValueError):
        return "manifest signature does not match its content"
    return None
