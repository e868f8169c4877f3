"""One replica at a time does a store's single-writer work.

Several replicas of a service may share one store (PostgreSQL). Serving
calls and consuming events is safe in every replica (the unit of work and
the consumers' inbox serialize them), but publishing the outbox and the
periodic jobs (review's reminders, audit's checkpoints) is done by one: the
leader. Each replica runs `Leadership.run`, which tries to take a lock every
`interval` seconds and, once it holds it, checks every `interval` that it
still does:

- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`, its key
  derived from the lock's name) held on a dedicated connection. The server
  releases it when that connection ends — the process died, was killed, or
  lost the network (TCP keepalives bound how long that takes) — and another
  replica takes it at its next try, within about `interval` seconds.
- SQLite (replicas on one host, one file): an exclusive `flock` on a file
  next to the database, released by the kernel when its holder dies.
- Anything else (an in-memory database): always the leader.

A leader that cannot confirm its lock (the connection broke) steps down
before its next pass. Changes are logged once each ("… is now the leader",
"… is no longer the leader"); `on_change` callbacks hear them (the relay is
nudged to publish at once). Handing over can overlap by at most one
`interval` (the old leader has not noticed yet): at-least-once delivery and
consumers' deduplication cover that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from laurel.backoff import StateLog

log = logging.getLogger("laurel.leadership")


def advisory_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a lock name."""
    digest = hashlib.blake2b(f"laurel-leader:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _Lock(Protocol):
    held: bool

    def try_acquire(self) -> bool: ...

    def confirm(self) -> bool: ...

    def release(self) -> None: ...


class _PostgresLock:
    def __init__(self, url: str, name: str) -> None:
        self.key = advisory_key(name)
        # Keepalives: a leader whose host vanished loses the lock in seconds.
        self.engine = create_engine(url, poolclass=NullPool, connect_args={
            "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
            "keepalives_count": 2, "connect_timeout": 5})
        self.conn: Connection | None = None
        self.held = False

    def try_acquire(self) -> bool:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            # And the server's side: it ends a vanished leader's session soon.
            for setting, value in (("idle", 5), ("interval", 2), ("count", 2)):
                conn.execute(text(f"SET tcp_keepalives_{setting} = {value}"))
            taken = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                      {"key": self.key}).scalar())
        except BaseException:
            conn.close()
            raise
        if not taken:
            conn.close()
            return False
        self.conn, self.held = conn, True
        return True

    def confirm(self) -> bool:
        """Still held: a session lock lasts as long as its session, so the
        lock's connection answering is the proof."""
        assert self.conn is not None
        try:
            self.conn.execute(text("SELECT 1"))
        except Exception:
            self.release()
            raise
        return True

    def release(self) -> None:
        conn, self.conn, self.held = self.conn, None, False
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        self.release()
        self.engine.dispose()


class _FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: IO[bytes] | None = None
        self.held = False

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = open(self.path, "a+b")  # noqa: SIM115 - held open while leading
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        except BaseException:
            file.close()
            raise
        file.seek(0)
        file.truncate()
        file.write(f"{os.getpid()}\n".encode())
        file.flush()
        self.file, self.held = file, True
        return True

    def confirm(self) -> bool:
        return self.held

    def release(self) -> None:
        file, self.file, self.held = self.file, None, False
        if file is not None:
            file.close()  # closing the last descriptor releases the flock

    def close(self) -> None:
        self.release()


class _AlwaysLeader:
    held = False

    def try_acquire(self) -> bool:
        self.held = True
        return True

    def confirm(self) -> bool:
        return True

    def release(self) -> None:
        self.held = False

    def close(self) -> None:
        self.release()


def _lock_for(url: str, name: str) -> Any:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return _PostgresLock(url, name)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        database = Path(parsed.database or "")
        return _FileLock(database.with_name(f"{database.name}.{name}.lock"))
    return _AlwaysLeader()


class Leadership:
    """Whether this replica leads `name` on the store at `url` (see the module)."""

    def __init__(self, url: str, name: str, *, interval: float = 1.0) -> None:
        self.name = name
        self.interval = interval
        self._lock = _lock_for(url, name)
        self.is_leader = False
        self.on_change: list[Callable[[bool], None]] = []
        self._errors = StateLog(log, f"{name} leadership")

    def step(self) -> bool:
        """One try (blocking): take the lock, or confirm it is still held."""
        try:
            held = self._lock.confirm() if self._lock.held else self._lock.try_acquire()
        except Exception as error:
            self._lock.release()
            self._errors.failed(f"cannot reach the lock ({type(error).__name__}: "
                                f"{str(error).splitlines()[0] if str(error) else ''})",
                                self.interval)
            held = False
        else:
            self._errors.recovered()
        self._changed(held)
        return held

    def _changed(self, leader: bool) -> None:
        if leader == self.is_leader:
            return
        self.is_leader = leader
        if leader:
            log.info("%s: this replica is now the leader (pid %s)", self.name, os.getpid())
        else:
            log.warning("%s: this replica is no longer the leader", self.name)
        for listener in self.on_change:
            listener(leader)

    async def run(self, stop: asyncio.Event) -> None:
        """Hold or seek the lock every `interval` seconds until `stop`, then let go."""
        try:
            while not stop.is_set():
                await asyncio.to_thread(self.step)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
        finally:
            await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Let go of the lock (another replica takes it at its next try)."""
        self._lock.close()
        self._changed(False)
