"""The package manifest: the SHA-256 of every file, signed as a whole.

Per-file hashes say which file changed; the signature over the manifest says
that nobody rewrote the files and the manifest together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from laurel.audit.domain.keys import key_id
from laurel.envelope import canonical_json

MANIFEST = "manifest.json"
PUBLIC_KEY = "public_key.pem"
FORMAT = "laurel-evidence/1"


def file_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def signed_bytes(manifest: Mapping[str, Any]) -> bytes:
    return canonical_json(
        {k: v for k, v in manifest.items() if k != "signature"}
    ).encode("utf-8")


def signed_manifest(
    body: Mapping[str, Any], files: Mapping[str, bytes], key: Ed25519PrivateKey
) -> dict[str, Any]:
    """The manifest over `files` (every file of the package but itself)."""
    manifest = {
        "format": FORMAT,
        **body,
        "files": {name: file_sha256(files[name]) for name in sorted(files)},
        "key_id": key_id(key.public_key()),
    }
    manifest["signature"] = key.sign(signed_bytes(manifest)).hex()
    return manifest


def manifest_file(manifest: Mapping[str, Any]) -> bytes:
    return (canonical_json(dict(manifest)) + "\n").encode("utf-8")


def manifest_signature_problem(
    manifest: Mapping[str, Any], public_key: Ed25519PublicKey
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
