"""How a service process lives: start its parts, serve, stop them in order.

Every service is the same few parts (gRPC server, outbox relay, Kafka
subscribers); only their wiring differs, which each service's bootstrap does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import grpc
from faststream.kafka import KafkaBroker
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from laurel import migrator, published_log
from laurel.auth import authenticator_for
from laurel.catchup import Inbox
from laurel.config import ConfigError, LogSettings, SecuritySettings, Settings
from laurel.envelope import utcnow
from laurel.eventstore import EventStore, Projection
from laurel.grpcutil import GrpcServer, ServerTls
from laurel.leadership import Leadership
from laurel.logs import configure_logging
from laurel.metrics import Metrics
from laurel.outbox import OutboxRelay
from laurel.readiness import Readiness, broker_check, database_check, relay_check
from laurel.securitylog import SecurityLog
from laurel.telemetry import configure_tracing, shutdown_tracing
from laurel.upcasting import Upcasters

log = logging.getLogger("laurel.runtime")


class Lifecycle(Protocol):
    """What `run_service` serves: parts started together and stopped in order.
    ServiceRuntime is the usual one; audit, which reads every service's store
    and owns none, has its own."""

    name: str
    metrics: Metrics | None

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
    metrics: Metrics | None = None  # served by run_service (LAUREL_METRICS_PORT)
    readiness: Readiness | None = None  # gRPC health of the service's names
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
        if self.readiness is not None:
            self._tasks.append(asyncio.create_task(self.readiness.run(self._stop)))
        log.info("%s serving gRPC on port %s", self.name, self.grpc.port)

    async def stop(self) -> None:
        self._stop.set()
        if self.metrics is not None:
            self.metrics.close()
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
    """Entry point body: logging (LAUREL_LOG_*), then build, serve metrics
    (LAUREL_METRICS_PORT) and serve until a signal.

    A start-up that fails is one log line naming the cause, and exit code 1:
    a setting (ConfigError), a store that cannot be opened (`opening_store`),
    a port taken. Anything else unexpected is one line too; its traceback is
    logged at DEBUG (LAUREL_LOG_LEVEL=DEBUG shows it)."""
    logs = LogSettings.load()
    configure_logging("", logs.format, logs.level)

    async def main() -> None:
        try:
            runtime = await build()
        except ConfigError:
            raise
        except Exception as error:
            log.debug("start-up failed", exc_info=error)
            raise ConfigError(f"cannot start: {_cause(error)}") from None
        configure_logging(runtime.name, logs.format, logs.level)
        if runtime.metrics is not None:
            try:
                runtime.metrics.serve()
            except OSError as error:
                raise ConfigError(f"cannot serve metrics on port {runtime.metrics.port_wanted}"
                                  f" (LAUREL_METRICS_PORT): {error.strerror}") from None
        await serve_until_signalled(runtime)

    try:
        asyncio.run(main())
    except ConfigError as error:
        log.critical("%s", error.code)
        sys.exit(1)


def _cause(error: BaseException) -> str:
    """An error as one line: its type and the first line of its text."""
    inner = getattr(error, "orig", None) or error
    lines = str(inner).strip().splitlines()
    return f"{type(inner).__name__}: {lines[0] if lines else ''}".rstrip(": ")


@contextlib.contextmanager
def opening_store(url: str, what: str = "the event store") -> Iterator[None]:
    """Errors opening a store become one line naming the store (its URL,
    password hidden) and the cause: a malformed URL, a missing driver, an
    unreachable server, a read-only or corrupt SQLite file."""
    shown = _shown(url)
    try:
        yield
    except ArgumentError as error:
        raise ConfigError(f"cannot open {what} {url!r}: not a database URL ({error})") from None
    except (SQLAlchemyError, sqlite3.Error, OSError, ImportError) as error:
        raise ConfigError(f"cannot open {what} {shown}: {store_problem(error)}") from None


def _shown(url: str) -> str:
    """A store's URL for a message: its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(malformed URL)"


def store_problem(error: BaseException) -> str:
    """What is wrong with a store, said for an operator."""
    inner = getattr(error, "orig", None) or error
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return f"{text} (the file or its folder is read-only: the service must write it)"
    if "not a database" in lowered or "malformed" in lowered:
        return f"{text} (the file is not an intact SQLite database: restore it from a backup)"
    if "unable to open" in lowered:
        return f"{text} (the folder is missing or not writable)"
    if isinstance(inner, ImportError):
        return f"the database driver is not installed ({text})"
    return text


def open_store(settings: Settings, projections: Sequence[Projection] = (),
               upcasters: Upcasters | None = None,
               clock: Callable[[], datetime] = utcnow) -> EventStore:
    """The service's store, its schema ready (see `prepare_schema`); a store
    that cannot be opened stops start-up with one line (`opening_store`)."""
    with opening_store(settings.database_url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = EventStore(settings.database_url, projections=projections,
                           upcasters=upcasters, clock=clock)
        try:
            prepare_schema(store, settings.service,
                           migrate=settings.development or not store.is_postgres)
            check_writable(store)
        except BaseException:
            store.close()
            raise
    return store


def check_writable(store: EventStore) -> None:
    """Refuse a store the service could read but never write (a read-only
    file or file system, a read-only PostgreSQL session or replica): better
    a clear start-up failure than a service whose every command fails.
    Changes nothing: on SQLite the header's user_version is written as it is
    and rolled back (taking the write lock alone succeeds on a read-only file)."""
    with store.engine.connect().execution_options(laurel_write=True) as conn:
        conn.begin()
        try:
            if not store.is_postgres:
                version = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
                conn.exec_driver_sql(f"PRAGMA user_version = {version}")
            elif conn.exec_driver_sql(
                    "SHOW transaction_read_only").scalar() == "on":
                raise ConfigError(
                    f"cannot open the event store {_shown(store.url)}: the database is "
                    "read-only here (a replica, or default_transaction_read_only): the "
                    "service must write it")
        finally:
            conn.rollback()


def migrate_command(service: str) -> str:
    return f"laurel migrate --service {service}"


def prepare_schema(store: EventStore, service: str, *, migrate: bool,
                   chains: Sequence[migrator.Chain] | None = None) -> None:
    """In development and on SQLite, migrate the service's chains at start
    (one process at a time, see laurel.migrator); otherwise refuse to run
    unless `laurel migrate` (the chart's hook) has brought them to this
    code's head. Then refill any read model a revision asked to be refilled,
    in one transaction with taking the request away."""
    chains = migrator.chains_for(service) if chains is None else chains

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

    metrics = Metrics(settings.service, settings.grpc_host, settings.metrics_port)
    server = secured_server(settings.service, settings.development, settings.security,
                            settings.grpc_address(), register_all,
                            [*service_names, published_log.SERVICE_NAME], metrics=metrics)
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
    metrics.watch_store(store, clock=store.clock, outbox=relay is not None)
    if relay is not None:
        metrics.gauge("laurel_outbox_relay_leader",
                      "1 on the replica whose outbox relay publishes, else 0",
                      lambda: _leads(relay))
    readiness = Readiness(server)
    readiness.add(*database_check(store))
    if broker is not None:
        readiness.add(*broker_check(broker))
    if relay is not None:
        readiness.add(*relay_check(relay))
    if inbox is not None:
        consumer = inbox
        metrics.gauge("laurel_consumer_lag_positions",
                      "published positions of the upstream service not yet applied here",
                      lambda: {name: lag.behind for name, lag in consumer.lag().items()},
                      label="upstream")
        if inbox.parking is not None:  # set by the service's subscriber (laurel.parking)
            parking = inbox.parking
            metrics.gauge("laurel_parked_messages",
                          "messages the consumer parked and has not applied since",
                          lambda: float(parking.status()["open"]))
    return ServiceRuntime(
        settings.service, store, server, relay=relay, broker=broker, app=app,
        inbox=inbox, catchup_interval_s=settings.catchup.interval_s,
        leadership=leadership, metrics=metrics, readiness=readiness,
    )


def _leads(relay: OutboxRelay) -> float:
    """1 unless another replica sharing the store publishes (laurel.leadership)."""
    return 1.0 if relay.leader is None or relay.leader.is_leader else 0.0


def secured_server(
    service: str,
    development: bool,
    security: SecuritySettings,
    address: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: Sequence[str],
    *,
    metrics: Metrics | None = None,
) -> GrpcServer:
    """A gRPC server with the authentication, TLS, size limits, security log
    and metrics the settings ask for (shared by the services and `laurel audit
    serve`)."""
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
                      security_log=security_log, metrics=metrics)
