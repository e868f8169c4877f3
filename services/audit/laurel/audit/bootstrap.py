"""`laurel audit serve`: the AuditService over the services' stores.

It opens every store directly (see `laurel.audit.stores` for where they are
found), serves the read-only audit API, and, when given an interval, signs
and records a checkpoint of each store that has new events, so published
roots keep up with the log without a cron job. Settings:

  LAUREL_AUDIT_GRPC_PORT            gRPC port (50055); host: LAUREL_GRPC_HOST
  LAUREL_AUDIT_CHECKPOINT_INTERVAL_S  seconds between checkpoints (0: never)
  LAUREL_CHECKPOINT_KEY_FILE        Ed25519 key PEM; without it, signing and
                                    export answer FAILED_PRECONDITION
  LAUREL_ENV=development            accept development tokens
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from laurel.audit.checkpoints import (
    CHECKPOINT_EVENT,
    CHECKPOINT_STREAM,
    CheckpointRefused,
    create_checkpoint,
)
from laurel.audit.keys import KEY_FILE_SETTING, key_id, load_signing_key
from laurel.audit.service import SERVICE_NAME, AuditServicer
from laurel.audit.stores import load_projections, open_stores, shown, store_urls
from laurel.audit.v1 import audit_pb2_grpc
from laurel.config import PROJECT_ROOT, ConfigError, SecuritySettings
from laurel.eventstore import EventStore, Projection
from laurel.runtime import secured_server

DEFAULT_PORT = 50055
log = logging.getLogger("laurel.audit")


def checkpoint_due(store: EventStore) -> bool:
    """New events since the last checkpoint (which is itself the head)."""
    last = store.last_position()
    if last == 0:
        return False
    [head] = store.read_raw(last, batch_size=1, until_position=last)
    return not (head.stream_id == CHECKPOINT_STREAM and head.type == CHECKPOINT_EVENT)


def checkpoint_pass(
    stores: Mapping[str, EventStore], key: Ed25519PrivateKey
) -> list[str]:
    """One round of periodic checkpoints; a broken store is logged, not signed."""
    signed = []
    for name, store in sorted(stores.items()):
        try:
            if checkpoint_due(store):
                checkpoint = create_checkpoint(store, name, key)
                signed.append(name)
                log.info(
                    "checkpoint %s up to %s root %s",
                    name,
                    checkpoint.up_to_position,
                    checkpoint.merkle_root,
                )
        except CheckpointRefused as error:
            log.error("checkpoint refused: %s", error)
    return signed


@dataclass
class AuditServer:
    stores: dict[str, EventStore]
    key: Ed25519PrivateKey | None
    address: str
    development: bool
    checkpoint_every: float = 0.0
    projection_specs: dict[str, str] = field(default_factory=dict)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.checkpoint_every > 0 and self.key is None:
            raise ConfigError(
                f"periodic checkpoints need a signing key: set {KEY_FILE_SETTING}"
            )
        servicer = AuditServicer(self.stores, self.key, self._projections)
        self.grpc = secured_server(
            "audit", self.development, self.security, self.address,
            lambda server: audit_pb2_grpc.add_AuditServiceServicer_to_server(
                servicer, server
            ),
            [SERVICE_NAME],
        )

    @property
    def port(self) -> int:
        return self.grpc.port

    def _projections(self, store_name: str) -> Sequence[Projection]:
        return load_projections(store_name, self.projection_specs.get(store_name))

    async def start(self) -> None:
        self._stop.clear()
        await self.grpc.start()
        if self.checkpoint_every > 0:
            self._tasks.append(asyncio.create_task(self._checkpoints()))
        log.info(
            "audit serving gRPC on port %s over %s",
            self.port,
            ", ".join(f"{n}={shown(s.url)}" for n, s in sorted(self.stores.items())),
        )

    async def stop(self) -> None:
        self._stop.set()
        await self.grpc.stop()
        for task in self._tasks:
            await task
        self._tasks.clear()
        for store in self.stores.values():
            store.close()

    async def _checkpoints(self) -> None:
        assert self.key is not None
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(checkpoint_pass, self.stores, self.key)
            except Exception:
                log.exception("checkpoint pass failed; retrying next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.checkpoint_every)


def build_server(
    database: Mapping[str, str],
    *,
    key_path: str | None = None,
    port: int | None = None,
    checkpoint_every: float | None = None,
    projection_specs: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> AuditServer:
    """An AuditServer from arguments, falling back to the environment."""
    env = os.environ if env is None else env
    key_path = key_path or env.get(KEY_FILE_SETTING, "").strip() or None
    key = load_signing_key(Path(key_path)) if key_path else None
    if port is None:
        port = _number(env, "LAUREL_AUDIT_GRPC_PORT", DEFAULT_PORT)
    if checkpoint_every is None:
        checkpoint_every = float(
            _number(env, "LAUREL_AUDIT_CHECKPOINT_INTERVAL_S", 0, kind=float)
        )
    environment = env.get("LAUREL_ENV", "production")
    if environment not in ("production", "development"):
        raise ConfigError(
            f"LAUREL_ENV={environment!r}; expected production or development"
        )
    security = SecuritySettings.load(env)
    if not security.security_log_url:
        log_file = Path(env.get("LAUREL_DATA_DIR", PROJECT_ROOT / "var")) / "audit.security.sqlite"
        security = security.model_copy(update={"security_log_url": f"sqlite:///{log_file}"})
    stores = open_stores(store_urls(database, env))
    try:
        return AuditServer(
            stores,
            key,
            f"{env.get('LAUREL_GRPC_HOST', '0.0.0.0')}:{int(port)}",
            environment == "development",
            checkpoint_every,
            dict(projection_specs or {}),
            security,
        )
    except BaseException:
        for store in stores.values():
            store.close()
        raise


def serve_forever(**options: Any) -> int:
    """The `laurel audit serve` command (`build_server` options): serve until
    SIGINT or SIGTERM."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )

    async def main() -> None:
        server = build_server(**options)
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await server.start()
        if server.key is not None:
            log.info("signing with key %s", key_id(server.key.public_key()))
        await stopping.wait()
        await server.stop()

    asyncio.run(main())
    return 0


def _number(
    env: Mapping[str, str], name: str, default: float, kind: type = int
) -> Any:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
