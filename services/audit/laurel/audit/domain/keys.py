"""Ed25519 keys for checkpoints and evidence packages.

The private key stays with whoever signs checkpoints (a PEM file named by
LAUREL_CHECKPOINT_KEY_FILE); auditors only ever need the public key, pinned
by its key id, so a package cannot vouch for itself with a key of its own.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from laurel.config import ConfigError

KEY_FILE_SETTING = "LAUREL_CHECKPOINT_KEY_FILE"


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_key_file(path: Path) -> Ed25519PrivateKey:
    """A fresh key written as unencrypted PKCS#8 PEM, readable by its owner only."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
    return key


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise ConfigError(f"checkpoint key {path}: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"checkpoint key {path} is not an Ed25519 private key")
    return key


def signing_key_from_env(env: Mapping[str, str] | None = None) -> Ed25519PrivateKey:
    env = os.environ if env is None else env
    path = env.get(KEY_FILE_SETTING, "").strip()
    if not path:
        raise ConfigError(f"{KEY_FILE_SETTING} is required to sign checkpoints")
    return load_signing_key(Path(path))


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """A public key from PEM; a private key's PEM yields its public half."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        private = serialization.load_pem_private_key(pem, password=None)
        key = private.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 key")
    return key
