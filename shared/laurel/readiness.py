"""Readiness that tells the truth: gRPC health follows what the service can do.

Liveness is the process serving: the server as a whole (`""`) is SERVING
from start to stop. Readiness is the service's own names in gRPC health
(e.g. `laurel.intake.v1.IntakeService`): SERVING while every check passes,
NOT_SERVING while one fails, checked again every `interval` seconds in the
background. The checks: the database answers (a fresh read of the store's
events table, bounded by a timeout), the broker answers (the Kafka
consumers' connection), and whatever the runtime adds (the outbox relay's own
health). Kubernetes' readiness probe (or `python -m laurel.healthcheck
--service NAME` with TLS on) then stops sending calls to a replica that
cannot serve them, without restarting it.

A check that hangs (a database that accepts connections and never answers)
fails at its timeout; it is not started again until the hung attempt ends.
Each change is logged once, naming the check and its cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grpc_health.v1 import health_pb2
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

    from laurel.eventstore import EventStore
    from laurel.grpcutil import GrpcServer
    from laurel.outbox import OutboxRelay

log = logging.getLogger("laurel.readiness")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# A check returns None when all is well, else what is wrong (one line).
Check = Callable[[], Awaitable[str | None]]


def database_check(store: EventStore, what: str = "database",
                   timeout: float = 2.0) -> tuple[str, Check]:
    """The store's database answers a read of its events table.

    SQLite: a new connection to the file each time (an open one keeps
    reading a file that was since replaced or made unreadable); PostgreSQL:
    a new connection of the probe's own each time, so a database refusing
    connections is seen."""
    url = make_url(store.url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database or "")

        def probe() -> None:
            connection = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=timeout)
            try:
                connection.execute("SELECT 1 FROM events LIMIT 1").fetchall()
            finally:
                connection.close()
    else:
        # A connection of its own each time, closed after (no pool): the probe
        # never takes a connection the service's work needs (a command's unit
        # of work stays the only checkout of the store's pool), holds none
        # between checks, and sees a database that refuses new sessions.
        engine = create_engine(store.url, poolclass=NullPool,
                               connect_args={"connect_timeout": max(int(timeout), 1)})

        def probe() -> None:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1 FROM events LIMIT 1").fetchall()

    return what, _threaded(probe, timeout)


def broker_check(broker: KafkaBroker, timeout: float = 2.0) -> tuple[str, Check]:
    """The Kafka cluster answers the consumers' client."""

    async def check() -> str | None:
        return None if await broker.ping(timeout) else f"no answer within {timeout:g}s"

    return "broker", check


def relay_check(relay: OutboxRelay) -> tuple[str, Check]:
    """The outbox relay keeps up: no event has waited unpublished for longer
    than its `stuck_after` (a broker gone for a moment is not yet a cause)."""

    async def check() -> str | None:
        status = relay.status()
        if status.healthy:
            return None
        return (f"events wait unpublished for over {relay.stuck_after:g}s "
                f"({status.state}{': ' + status.last_error if status.last_error else ''})")

    return "outbox relay", check


def _threaded(probe: Callable[[], Any], timeout: float) -> Check:
    """A blocking probe run in a thread, failing at `timeout`; while a hung
    attempt runs, no other starts."""
    running: list[asyncio.Future[Any]] = []

    async def check() -> str | None:
        if running and not running[0].done():
            return f"still no answer after {timeout:g}s"
        running[:] = [asyncio.ensure_future(asyncio.to_thread(probe))]
        try:
            await asyncio.wait_for(asyncio.shield(running[0]), timeout)
        except TimeoutError:
            return f"no answer within {timeout:g}s"
        except Exception as error:
            return _cause(error)
        return None

    return check


def _cause(error: BaseException) -> str:
    """The error's type and first line (the driver's own text, for the log)."""
    inner = getattr(error, "orig", None) or error
    text = str(inner).strip().splitlines()
    return f"{type(inner).__name__}: {text[0] if text else ''}"[:300]


@dataclass
class Readiness:
    """Sets the health of `server`'s service names from `checks`, now and
    every `interval` seconds until stopped."""

    server: GrpcServer
    checks: list[tuple[str, Check]] = field(default_factory=list)
    interval: float = 1.0
    ready: bool | None = None
    problems: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, check: Check) -> None:
        self.checks.append((name, check))

    async def check_once(self) -> bool:
        results = await asyncio.gather(*(self._run(name, check)
                                         for name, check in self.checks))
        problems = {name: problem for (name, _), problem in zip(self.checks, results,
                                                                strict=True) if problem}
        ready = not problems
        if ready != self.ready or problems.keys() != self.problems.keys():
            await self._set(ready)
            if ready:
                log.info("ready: %s", ", ".join(n for n, _ in self.checks) or "no checks")
            else:
                log.warning("not ready: %s", "; ".join(f"{n}: {p}" for n, p in
                                                        problems.items()))
        self.ready, self.problems = ready, problems
        return ready

    async def _run(self, name: str, check: Check) -> str | None:
        try:
            return await check()
        except Exception as error:
            return _cause(error)

    async def _set(self, ready: bool) -> None:
        for name in self.server.service_names:
            await self.server.health.set(name, SERVING if ready else NOT_SERVING)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check_once()
            except Exception:  # never let readiness die: log and look again
                log.exception("readiness check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

