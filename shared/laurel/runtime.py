"""How a service process lives: start its parts, serve, stop them in order.

Every service is the same few parts (gRPC server, outbox relay, Kafka
subscribers); only their wiring differs, which each service's bootstrap does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import grpc
from faststream.kafka import KafkaBroker
from sqlalchemy import Connection

from laurel import migrator, published_log
from laurel.auth import authenticator_for
from laurel.catchup import Inbox
from laurel.config import ConfigError, SecuritySettings, Settings
from laurel.envelope import utcnow
from laurel.eventstore import EventStore, Projection
from laurel.grpcutil import GrpcServer, ServerTls
from laurel.leadership import Leadership
from laurel.outbox import OutboxRelay
from laurel.securitylog import SecurityLog
from laurel.telemetry import configure_tracing, shutdown_tracing
from laurel.upcasting import Upcasters

log = logging.getLogger("laurel.runtime")


class Lifecycle(Protocol):
    """What `run_service` serves: parts started together and stopped in order.
    ServiceRuntime is the usual one; audit, which reads every service's store
    and owns none, has its own."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def serve_until_signalled(runtime: Lifecycle) -> None:
    """Start, wait for SIGINT or SIGTERM, stop."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await runtime.start()
    await stopping.wait()
    log.info("%s stopping", runtime.name)
    await runtime.stop()


@dataclass
class ServiceRuntime:
    name: str
    store: EventStore
    grpc: GrpcServer
    relay: OutboxRelay | None = None
    broker: KafkaBroker | None = None
    app: Any = None  # the service's application object, for tests and tools
    inbox: Inbox | None = None  # a consumer's: catches up from its upstreams' logs
    catchup_interval_s: float = 10.0
    # Which replica publishes the outbox and runs the periodic jobs
    # (laurel.leadership); None: this one, always.
    leadership: Leadership | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        self._stop.clear()
        if self.leadership is not None:
            await asyncio.to_thread(self.leadership.step)  # lead at once if free
            self._tasks.append(asyncio.create_task(self.leadership.run(self._stop)))
        if self.broker is not None:
            await self.broker.start()
        if self.relay is not None:
            self._tasks.append(asyncio.create_task(self.relay.run(self._stop)))
        if self.inbox is not None:
            self._tasks.append(asyncio.create_task(every(
                self.catchup_interval_s, self._stop, self.inbox.reconcile,
                f"{self.name}'s catch-up from its upstreams' logs")))
        await self.grpc.start()
        log.info("%s serving gRPC on port %s", self.name, self.grpc.port)

    async def stop(self) -> None:
        self._stop.set()
        await self.grpc.stop()
        for task in self._tasks:
            await task
        self._tasks.clear()
        if self.relay is not None:
            await asyncio.to_thread(self.relay.close)
        if self.broker is not None:
            await self.broker.stop()
        if self.inbox is not None:
            self.inbox.close()
        self.store.close()
        shutdown_tracing()

    async def serve_until_signalled(self) -> None:
        await serve_until_signalled(self)


async def every(interval_s: float, stop: asyncio.Event, work: Callable[[], Any],
                what: str, *, leader: Leadership | None = None) -> None:
    """Run blocking `work` in a thread now and every `interval_s` until `stop`.

    A failed pass is logged and tried again at the next interval: a periodic
    job (reminders, checkpoints) must outlive a database hiccup. With a
    `leader`, only the replica leading the store runs it (laurel.leadership)."""
    while not stop.is_set():
        try:
            if leader is None or leader.is_leader:
                await asyncio.to_thread(work)
        except Exception:
            log.exception("%s failed; trying again in %ss", what, interval_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


def run_service(build: Callable[[], Awaitable[Lifecycle]]) -> None:
    """Entry point body: logging, then build and serve until a signal."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )

    async def main() -> None:
        await serve_until_signalled(await build())

    asyncio.run(main())


def open_store(settings: Settings, projections: Sequence[Projection] = (),
               upcasters: Upcasters | None = None,
               clock: Callable[[], datetime] = utcnow) -> EventStore:
    """The service's store, its schema ready (see `prepare_schema`)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = EventStore(settings.database_url, projections=projections,
                       upcasters=upcasters, clock=clock)
    try:
        prepare_schema(store, settings.service,
                       migrate=settings.development or not store.is_postgres)
    except BaseException:
        store.close()
        raise
    return store


def migrate_command(service: str) -> str:
    return f"laurel migrate --service {service}"


def prepare_schema(store: EventStore, service: str, *, migrate: bool) -> None:
    """In development and on SQLite, migrate the service's chains at start
    (one process at a time, see laurel.migrator); otherwise refuse to run
    unless `laurel migrate` (the chart's hook) has brought them to this
    code's head. Then refill any read model a revision asked to be refilled,
    in one transaction with taking the request away."""
    chains = migrator.chains_for(service)

    def refill(conn: Connection, _before: set[str]) -> None:
        requested = migrator.refills_requested(conn)
        for projection in store.projections:
            if projection.name in requested:
                count = store.refill_projection(conn, projection)
                migrator.refilled(conn, projection.name)
                log.info("refilled read model %s from %d events", projection.name, count)

    if migrate:
        migrator.upgrade(store.engine, chains, then=refill)
        return
    migrator.check(store.engine, chains, migrate_command(service))
    with migrator.locked(store.engine) as conn, conn.begin():
        if migrator.refills_requested(conn):
            migrator.take_lock(conn)
            refill(conn, set())


def assemble(
    settings: Settings,
    store: EventStore,
    register: Callable[[grpc.aio.Server], None],
    service_names: Sequence[str],
    *,
    broker: KafkaBroker | None = None,
    with_relay: bool = True,
    app: Any = None,
    inbox: Inbox | None = None,
) -> ServiceRuntime:
    """The parts every service has, configured the same way everywhere:
    beside the service's own gRPC service, the log it publishes
    (`laurel.published_log`), which its consumers catch up from."""
    configure_tracing(settings.service, settings.otel_exporter, settings.otel_endpoint,
                      insecure=settings.telemetry.insecure, ca_file=settings.telemetry.ca_file)
    serve_log = published_log.register(settings.service, store)

    def register_all(server: grpc.aio.Server) -> None:
        register(server)
        serve_log(server)

    server = secured_server(settings.service, settings.development, settings.security,
                            settings.grpc_address(), register_all,
                            [*service_names, published_log.SERVICE_NAME])
    relay = (
        OutboxRelay(store, settings.kafka, poll_interval=settings.outbox_poll_ms / 1000,
                    stuck_after=settings.outbox_stuck_after_s,
                    name=f"{settings.service} outbox relay")
        if with_relay else None
    )
    leadership = Leadership(settings.database_url, settings.service,
                            interval=settings.leader_check_s)
    if relay is not None:
        store.on_published.append(relay.nudge)
        relay.leader = leadership
        leadership.on_change.append(lambda leading: relay.nudge())
    return ServiceRuntime(
        settings.service, store, server, relay=relay, broker=broker, app=app,
        inbox=inbox, catchup_interval_s=settings.catchup.interval_s,
        leadership=leadership,
    )


def secured_server(
    service: str,
    development: bool,
    security: SecuritySettings,
    address: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: Sequence[str],
) -> GrpcServer:
    """A gRPC server with the authentication, TLS, size limits and security log
    the settings ask for (shared by the services and `laurel audit serve`)."""
    authenticator = authenticator_for(
        development, security.jwt_public_key_files, security.jwt_issuer,
        security.jwt_audience, security.jwt_leeway_s)
    tls = (
        ServerTls(security.tls_cert_file, security.tls_key_file,
                  security.tls_client_ca_file)
        if security.tls_cert_file and security.tls_key_file else None
    )
    if tls is not None:
        for path in (tls.cert_file, tls.key_file, tls.client_ca_file):
            if path is not None and not path.is_file():
                raise ConfigError(f"{path} (a LAUREL_TLS_* setting) is not a readable file")
    security_log = (
        SecurityLog.open(security.security_log_url, service)
        if security.security_log_url else None
    )
    return GrpcServer(address, authenticator, register, service_names, tls=tls,
                      max_message_bytes=security.max_message_bytes,
                      security_log=security_log)
