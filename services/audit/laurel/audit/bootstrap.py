"""Wiring for the audit service: every adapter an argument a test may replace.

Audit opens every service's store directly (`adapters.stores` says where they
are found), serves the read-only AuditService, and, when given an interval
(`LAUREL_AUDIT_CHECKPOINT_INTERVAL_S`), signs and records a checkpoint of each
store that has new events, so published roots keep up with the log without a
cron job. It owns no store and talks to no broker: its runtime is its gRPC
server, its stores, and the checkpoint pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from laurel.audit import handlers
from laurel.audit.adapters.grpc_servicer import SERVICE_NAME, AuditServicer, add_to_server
from laurel.audit.adapters.keyfiles import KEY_FILE_SETTING, load_signing_key, signing_key
from laurel.audit.adapters.stores import (
    load_projections,
    open_stores,
    projections_with,
    shown,
    store_urls,
)
from laurel.audit.domain.keys import key_id
from laurel.audit.settings import AuditSettings
from laurel.config import ConfigError
from laurel.eventstore import EventStore, Projection
from laurel.grpcutil import GrpcServer
from laurel.leadership import Leadership
from laurel.metrics import Metrics
from laurel.readiness import Readiness, database_check
from laurel.runtime import every, run_service, secured_server
from laurel.telemetry import configure_tracing, shutdown_tracing

log = logging.getLogger("laurel.audit")


@dataclass
class AuditRuntime:
    """The audit process: the AuditService over the stores, and the periodic
    checkpoint pass when it has an interval and a key."""

    name: str
    stores: dict[str, EventStore]
    grpc: GrpcServer
    key: Ed25519PrivateKey | None
    development: bool
    checkpoint_every: float = 0.0
    # Per store, whether this audit replica is the one that checkpoints it
    # (laurel.leadership): replicas sharing the stores sign each once.
    leaders: dict[str, Leadership] = field(default_factory=dict)
    metrics: Metrics | None = None
    readiness: Readiness | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.grpc.port)

    def checkpoint_pass(self) -> list[str]:
        """Sign each store with events since its last checkpoint."""
        assert self.key is not None
        led = {name: store for name, store in self.stores.items()
               if name not in self.leaders or self.leaders[name].is_leader}
        return handlers.checkpoint_pass(led, self.key)

    async def start(self) -> None:
        self._stop.clear()
        await self.grpc.start()
        if self.readiness is not None:
            self._tasks.append(asyncio.create_task(self.readiness.run(self._stop)))
        if self.checkpoint_every > 0:
            for name, store in self.stores.items():
                leader = self.leaders.setdefault(
                    name, Leadership(store.url, "audit-checkpoints"))
                await asyncio.to_thread(leader.step)
                self._tasks.append(asyncio.create_task(leader.run(self._stop)))
            self._tasks.append(asyncio.create_task(every(
                self.checkpoint_every, self._stop, self.checkpoint_pass,
                "audit's checkpoint pass")))
        log.info(
            "%s serving gRPC on port %s over %s",
            self.name,
            self.port,
            ", ".join(f"{n}={shown(s.url)}" for n, s in sorted(self.stores.items())),
        )
        if self.key is not None:
            log.info("signing with key %s", key_id(self.key.public_key()))

    async def stop(self) -> None:
        self._stop.set()
        if self.metrics is not None:
            self.metrics.close()
        await self.grpc.stop()
        for task in self._tasks:
            await task
        self._tasks.clear()
        for store in self.stores.values():
            store.close()
        shutdown_tracing()


async def build(
    settings: AuditSettings,
    *,
    stores: Mapping[str, EventStore] | None = None,
    key: Ed25519PrivateKey | None = None,
    projections_of: Callable[[str], Sequence[Projection]] = load_projections,
) -> AuditRuntime:
    """The audit runtime. Without `stores`, those the settings name are
    opened; without `key`, the settings' key file (if any) is read. The
    runtime closes its stores when it stops."""
    opened = dict(stores) if stores is not None else open_stores(
        store_urls({}, settings=settings))
    try:
        key = key or signing_key(settings)
        if settings.checkpoint_interval_s > 0 and key is None:
            raise ConfigError(
                f"periodic checkpoints need a signing key: set {KEY_FILE_SETTING}")
        configure_tracing(settings.service, settings.otel_exporter, settings.otel_endpoint,
                          insecure=settings.telemetry.insecure,
                          ca_file=settings.telemetry.ca_file)
        servicer = AuditServicer(opened, key, projections_of)
        metrics = audit_metrics(settings, opened)
        server = secured_server(
            settings.service, settings.development, settings.security,
            settings.grpc_address(), lambda grpc_server: add_to_server(servicer, grpc_server),
            [SERVICE_NAME], metrics=metrics)
    except BaseException:
        for store in opened.values():
            store.close()
        raise
    readiness = Readiness(server)
    for name, store in sorted(opened.items()):
        readiness.add(*database_check(store, f"{name} store"))
    return AuditRuntime(settings.service, opened, server, key, settings.development,
                        settings.checkpoint_interval_s, metrics=metrics, readiness=readiness)


def audit_metrics(settings: AuditSettings, stores: Mapping[str, EventStore]) -> Metrics:
    """The audit process's metrics: its calls, and when each store's last
    checkpoint was recorded (read at scrape time, so the CronJob's checkpoints
    count too)."""
    metrics = Metrics(settings.service, settings.grpc_host, settings.metrics_port)

    def last_checkpoints() -> dict[str, float]:
        found = {}
        for name, store in stores.items():
            try:
                moment = handlers.last_checkpoint_time(store)
            except Exception as error:  # one store down must not hide the others
                log.debug("checkpoint time of %s unreadable: %s", name, error)
                continue
            if moment is not None:
                found[name] = moment.timestamp()
        return found

    metrics.gauge("laurel_audit_last_checkpoint_timestamp_seconds",
                  "when the store's last checkpoint was recorded (Unix time)",
                  last_checkpoints, label="store")
    return metrics


def serve_forever(
    *,
    database: Mapping[str, str],
    key_path: str | None = None,
    port: int | None = None,
    checkpoint_every: float | None = None,
    projection_specs: Mapping[str, str] | None = None,
) -> int:
    """The `serve` command: its options over the settings, then serve until
    SIGINT or SIGTERM."""
    overrides: dict[str, Any] = {}
    if port is not None:
        overrides[AuditSettings.variable("grpc_port")] = port
    if checkpoint_every is not None:
        overrides[AuditSettings.variable("checkpoint_interval_s")] = checkpoint_every
    settings = AuditSettings.load(**overrides)

    async def built() -> AuditRuntime:
        return await build(
            settings,
            stores=open_stores(store_urls(database, settings=settings)),
            key=load_signing_key(Path(key_path)) if key_path else None,
            projections_of=projections_with(projection_specs or {}),
        )

    run_service(built)
    return 0
