"""The checkpoint key on disk: made once, readable by its owner only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from laurel.audit.domain.keys import load_private_key, private_pem
from laurel.audit.settings import AuditSettings
from laurel.config import ConfigError

KEY_FILE_SETTING = AuditSettings.variable("checkpoint_key_file")


def generate_key_file(path: Path) -> Ed25519PrivateKey:
    """A fresh key written as unencrypted PKCS#8 PEM, readable by its owner only;
    never over an existing file."""
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(private_pem(key))
    return key


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        return load_private_key(Path(path).read_bytes())
    except (OSError, ValueError) as error:
        raise ConfigError(f"checkpoint key {path}: {error}") from None


def signing_key(settings: AuditSettings) -> Ed25519PrivateKey | None:
    """The key the settings name, or None when audit is to sign nothing."""
    path = settings.checkpoint_key_file
    return load_signing_key(path) if path is not None else None


def signing_key_from_env(env: Mapping[str, str] | None = None) -> Ed25519PrivateKey:
    """The key LAUREL_CHECKPOINT_KEY_FILE names (from `env`, default the
    process's environment); a command that signs cannot run without it."""
    key = signing_key(AuditSettings.load(env))
    if key is None:
        raise ConfigError(f"{KEY_FILE_SETTING} is required to sign checkpoints")
    return key
