"""The unit of work: the one way a use case or a reaction touches its store.

A unit of work is one connection and one transaction. Everything a handler
does goes through it: it loads streams (folded, through the fold cache),
reads projections on `uow.conn`, appends events with their outbox rows,
marks consumed events, and writes projection rows — and all of that commits
together or not at all.

Optimistic concurrency without the caller remembering it: every stream the
unit reads is remembered at the version it saw. Reading happens before the
store's write lock is taken (other writers keep going meanwhile); the first
write takes the lock (`lock()`; SQLite's BEGIN IMMEDIATE after an in-process
writer lock, PostgreSQL's advisory lock) and checks that every stream read
is still at the version seen. If one moved, `StaleRead` is raised and
`EventStore.run` decides again on fresh state, this time holding the lock
from the start so it cannot be overtaken again (`run_with_retries`) — the
decision never commits on a stale read, and a caller who sent no version
never sees the conflict. A caller's own `expected_version` (an API client that read
version 7) is checked on load and refused with `ConcurrencyConflict`
(ABORTED) instead: that one is for a person to resolve, not to retry.

Reads that a rule needs serialized with the write (a hospital's live
nominations for a quota) are made after `uow.lock()`.

Folds are cached in one place (`FoldCache`, per store): a load reads only
the events recorded since the cached version. The cache is updated only
after the transaction committed, so it never holds state that was rolled
back.

Units opened inside `EventStore.joined()` (a consumer applying a batch of
events in one transaction, laurel.catchup) join its unit instead of opening
their own: each is a SAVEPOINT, rolled back alone when it raises, and the
whole commits once, with one fsync and one set of after-commit hooks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from laurel import contracts
from laurel.envelope import (
    GENESIS_HASH,
    Aggregate,
    EventMetadata,
    NewEvent,
    RecordedEvent,
    canonical_json,
    event_hash,
    format_time,
)
from laurel.errors import ConcurrencyConflict

if TYPE_CHECKING:
    from laurel.eventstore import EventStore, Publication

PG_APPEND_LOCK = 0x4C4155  # "LAU": one advisory lock id for every append

S = TypeVar("S")
T = TypeVar("T")


class StaleRead(ConcurrencyConflict):
    """A stream this unit of work read moved on before it could write: decide
    again on fresh state (`EventStore.run` does, then holding the write lock)."""


APPLIED, IGNORED = "applied", "ignored"


@dataclass(frozen=True)
class UpstreamEvent:
    """Where a consumed event sits in the store that published it."""

    upstream: str  # the upstream store, named after its service
    position: int
    event_id: str
    stream_id: str
    version: int
    type: str

    @classmethod
    def of(cls, upstream: str, event: RecordedEvent) -> UpstreamEvent:
        return cls(upstream, event.position, event.event_id, event.stream_id,
                   event.version, event.type)


class AlreadyProcessed(Exception):
    """The consumer already applied this event: a redelivery, skip it."""


class FoldCache:
    """Folded states by (aggregate, stream), at the version they include.

    Bounded (least recently used goes first) and thread-safe. A stream's
    history never changes, so a state at version v stays true forever; a
    load adds only what was recorded after v."""

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[Any, int]:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None, 0
            self._entries.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], state: Any, version: int) -> None:
        with self._lock:
            current = self._entries.get(key)
            if current is not None and current[1] >= version:
                return  # another thread cached a later state meanwhile
            self._entries[key] = (state, version)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)


class UnitOfWork:
    """One transaction on one connection; see the module docstring."""

    def __init__(self, store: EventStore, folds: FoldCache) -> None:
        self._store = store
        self._sql = store._sql
        self._folds = folds
        # The unit's one connection, taken on first need: a unit whose first
        # act is to write (an append, a consumed event) gets the writer's
        # held connection (`EventStore._held_connection`) and runs its
        # statements on the driver directly; one that reads first gets a
        # pooled connection, upgraded to a write transaction by `lock()`.
        self._conn: Connection | None = None
        self._raw: Any = None  # the held connection's DB-API connection
        # PostgreSQL, held connection: statements whose results nobody reads,
        # sent with the COMMIT in one round trip (or before any other statement).
        self._pending: list[tuple[str, Any]] = []
        self._seen: dict[str, int] = {}  # stream -> version this unit read
        self._head: dict[str, tuple[int, str]] = {}  # stream -> (version, hash) written
        self._folded: dict[tuple[str, str], tuple[Any, int]] = {}
        self._next_position: int | None = None
        # (stream, (log end, its version, its hash)) read with the lock
        self._log_end_and_head: tuple[str, Any] | None = None
        self.locked = False
        self.recorded: list[RecordedEvent] = []
        self.published = False  # wrote outbox rows: the relay has work once we commit
        self._savepoints = 0  # open savepoints (units joined to this one)

    @property
    def conn(self) -> Connection:
        """The unit's SQLAlchemy connection, in its transaction: for
        projection reads and writes, which see what the unit wrote."""
        if self._conn is None:
            self._conn = self._store.engine.connect()
        if self._pending:
            self._flush()
        return self._conn

    def _execute(self, sql: str, params: Any = None) -> Any:
        """One driver statement in the unit's transaction; a result with
        fetchone/fetchall. On the held connection through the DB-API cursor
        (SQLAlchemy's execution and result machinery cost more than the
        statement, profiled), errors raised as SQLAlchemy would raise them."""
        if self._raw is None:
            return self.conn.exec_driver_sql(sql, params)
        if self._pending:
            self._flush()
        cursor = self._raw.cursor()
        try:
            if isinstance(params, list):
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params if params is not None else ())
        except self._store._dbapi_error as error:
            raise self._translated(sql, params, error) from error
        return cursor

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for sql, params in pending:
            self._execute(sql, params)

    def _translated(self, sql: str, params: Any, error: Exception) -> DBAPIError:
        """A driver error as SQLAlchemy raises it; a lost connection is
        invalidated (the pool's others too), so the unit can run again on a
        fresh one (`run_with_retries`)."""
        conn = self._conn
        assert conn is not None
        dialect = conn.dialect
        lost = dialect.is_disconnect(
            error, conn.connection.dbapi_connection, None)  # type: ignore[arg-type]
        if lost:
            conn.invalidate(error)
            conn.engine.dispose(close=False)
        return cast(DBAPIError, DBAPIError.instance(
            sql, params, error, dialect.loaded_dbapi.Error,
            connection_invalidated=lost, dialect=dialect))

    # -- reading ---------------------------------------------------------------

    def read(self, stream_id: str, *, from_version: int = 1,
             as_of: datetime | None = None) -> list[RecordedEvent]:
        """A stream's events (from a version, or as recorded by a time).

        A whole current read is remembered: a write in this unit checks the
        stream is still where it was read."""
        params: tuple[Any, ...]
        if as_of is None:
            sql, params = self._sql.read_stream, (stream_id, from_version)
        else:
            sql = self._sql.read_stream_as_of
            params = (stream_id, from_version, format_time(as_of))
        rows = self._execute(sql, params).fetchall()
        decode = self._store._decode_row
        events = [decode(r) for r in rows]
        if as_of is None and from_version == 1:
            self._saw(stream_id, events[-1].version if events else 0)
        return events

    def load(self, stream_id: str, aggregate: Aggregate[S], *,
             expected_version: int | None = None,
             as_of: datetime | None = None) -> S | None:
        """The stream folded into its state (None: no events).

        `expected_version` is what the caller saw (an API client): if the
        stream is elsewhere, ConcurrencyConflict (ABORTED) names both."""
        if as_of is not None:
            state: S | None = None
            for event in self.read(stream_id, as_of=as_of):
                state = aggregate.evolve(state, event)
            return state
        key = (aggregate.name, stream_id)
        state, version = self._folded.get(key) or self._folds.get(key)
        rows = self._execute(self._sql.read_stream, (stream_id, version + 1)).fetchall()
        decode = self._store._decode_row
        for row in rows:
            event = decode(row)
            state = aggregate.evolve(state, event)
            version = event.version
        self._folded[key] = (state, version)
        self._saw(stream_id, version)
        if expected_version is not None and expected_version != version:
            raise ConcurrencyConflict(stream_id, expected_version, version)
        return state

    def version(self, stream_id: str) -> int:
        """The version of a stream as this unit last read or wrote it."""
        if stream_id in self._head:
            return self._head[stream_id][0]
        if stream_id in self._seen:
            return self._seen[stream_id]
        return self._stream_head(stream_id)[0]

    def _stream_head(self, stream_id: str) -> tuple[int, str]:
        row = self._execute(self._sql.head, (stream_id,)).fetchone()
        return (row[0], row[1]) if row else (0, GENESIS_HASH)

    def _saw(self, stream_id: str, version: int) -> None:
        if stream_id not in self._head:
            self._seen[stream_id] = version

    # -- the write lock ----------------------------------------------------------

    def lock(self, appending: str | None = None) -> None:
        """Take the store's write lock (idempotent) and check what was read.

        From here on, reads see everything committed and nothing else
        commits before this unit does. `appending`: the stream about to be
        appended to, whose head (and the log's end) is read with the lock."""
        if self.locked:
            return
        store = self._store
        store._writer.acquire()
        self.locked = True
        if self._conn is None:  # nothing read yet: the writer's held connection
            self._conn, self._raw = store._held_connection()
            if not store.is_postgres:
                self._execute("BEGIN IMMEDIATE")
            self._conn.begin()  # SQLAlchemy's account of it (nothing sent)
        else:
            if self._conn.in_transaction() and not store.is_postgres:
                self._conn.commit()  # the read snapshot ends; BEGIN IMMEDIATE next
            self._conn.execution_options(laurel_write=True)
            if not self._conn.in_transaction():
                self._conn.begin()
        reads = [(self._sql.head, (stream_id,)) for stream_id in self._seen]
        if appending is not None and self._next_position is None:
            reads.append((self._sql.max_position_and_head, (appending,)))
        if store.is_postgres and (self._raw is not None or appending is not None):
            # BEGIN (the held connection is in autocommit: nothing else sends
            # it), the lock and the reads in one simple query, one round trip.
            begin = [("BEGIN", ())] if self._raw is not None else []
            rows = self._one_query(
                [*begin, (f"SELECT pg_advisory_xact_lock({PG_APPEND_LOCK})", ()), *reads]
            )[len(begin) + 1:]
        else:
            if store.is_postgres:
                self._execute(f"SELECT pg_advisory_xact_lock({PG_APPEND_LOCK})")
            rows = [self._execute(sql, params).fetchone() for sql, params in reads]
        if appending is not None and self._next_position is None:
            self._log_end_and_head = (appending, rows.pop())
        for (stream_id, seen), head in zip(self._seen.items(), rows, strict=True):
            now = head[0] if head else 0
            if now != seen:
                raise StaleRead(stream_id, seen, now)

    def _one_query(self, statements: list[tuple[str, Any]]) -> list[Any]:
        """PostgreSQL: the statements as one multi-statement simple query, one
        round trip, parameters bound by psycopg on the client (quoted as
        literals; the server cannot bind parameters in a multi-statement
        query). Each statement gets its own snapshot in order (READ
        COMMITTED), so a read after the advisory lock sees what the lock's
        previous holder committed. The first row of each statement (None
        for one without rows); stops at the first failing statement, raised
        as SQLAlchemy would raise it (a lost connection invalidated, so the
        unit can run again). psycopg's pipeline mode did the same in as many
        round trips for more client CPU (its loop and waits): an append costs
        ~0.85x the CPU this way (alternated A/B)."""
        import psycopg  # only a PostgreSQL store gets here

        raw: Any = self._raw or self.conn.connection.driver_connection
        sql = "; ".join(s for s, _ in statements)
        params = [p for _, ps in statements for p in ps]
        try:
            cursor = psycopg.ClientCursor(raw)
            cursor.execute(sql, params)
            rows = []
            while True:
                rows.append(cursor.fetchone() if cursor.description else None)
                if not cursor.nextset():
                    return rows
        except self._store._dbapi_error as error:
            raise self._translated(sql, None, error) from error

    def _finish(self) -> None:
        """Commit what a locked unit did (else end the read transaction). An
        error while committing is marked: whether it committed is unknown,
        so the unit is not run again."""
        conn = self._conn
        if conn is None:
            return
        if not self.locked:
            conn.rollback()
            return
        try:
            if self._pending:
                self._send_with_commit()
            conn.commit()  # SQLAlchemy's transaction and events (after the driver's, a no-op)
        except DBAPIError as error:
            error.laurel_while_committing = True  # type: ignore[attr-defined]
            raise

    def _send_with_commit(self) -> None:
        """PostgreSQL, held connection: what is pending and the COMMIT in one
        simple query, one round trip (`_one_query`; a failing INSERT stops
        it before the COMMIT and the unit rolls back)."""
        pending, self._pending = self._pending, []
        statements = [(sql, row) for sql, params in pending
                      for row in (params if isinstance(params, list) else [params])]
        self._one_query([*statements, ("COMMIT", ())])

    def _abort(self) -> None:
        """Roll back whatever the unit did."""
        conn, self._pending = self._conn, []
        if conn is not None:
            conn.rollback()

    def _release(self) -> None:
        if self.locked:
            self.locked = False
            self._store._writer.release()
        if self._conn is not None and self._raw is None:
            self._conn.close()  # pooled: back to the pool

    # -- units joined to this one -------------------------------------------------

    @contextmanager
    def savepoint(self) -> Iterator[UnitOfWork]:
        """A unit joined to this one (`EventStore.joined`): a SAVEPOINT in its
        transaction. If the block raises, what it wrote is rolled back, and so
        is what this unit remembers of it (heads, the log's end, folds,
        recorded events), so the rest of the transaction goes on as if it
        never ran; else its writes commit with this unit's."""
        if not self.locked:
            raise RuntimeError("a unit is joined only under its write lock")
        self._savepoints += 1
        name = f"laurel_joined_{self._savepoints}"
        remembered = (dict(self._seen), dict(self._head), dict(self._folded),
                      self._next_position, self._log_end_and_head, len(self.recorded),
                      self.published)
        self._execute(f"SAVEPOINT {name}")  # after what is pending
        try:
            yield self
        except BaseException as error:
            del self._pending[:]  # appended inside: rolled back unsent
            try:
                self._execute(f"ROLLBACK TO SAVEPOINT {name}")
                self._execute(f"RELEASE SAVEPOINT {name}")
            except Exception:  # the connection is gone: the whole unit rolls back
                raise error from None
            (self._seen, self._head, self._folded, self._next_position,
             self._log_end_and_head, recorded, self.published) = remembered
            del self.recorded[recorded:]
            raise
        else:
            self._execute(f"RELEASE SAVEPOINT {name}")
        finally:
            self._savepoints -= 1

    # -- writing -----------------------------------------------------------------

    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        metadata: EventMetadata,
        *,
        publish: Publication | None = None,
        expected_version: int | None = None,
    ) -> list[RecordedEvent]:
        """Append to a stream, after the version this unit read (if it did),
        else after `expected_version` (if given), else wherever it is."""
        self.lock(appending=stream_id)
        store = self._store
        position = self._next_position
        if position is None:  # the first append: the log's end and this head at once
            if self._log_end_and_head and self._log_end_and_head[0] == stream_id:
                last, version, prev_hash = self._log_end_and_head[1]
            else:
                last, version, prev_hash = self._execute(
                    self._sql.max_position_and_head, (stream_id,)).fetchone()
            self._log_end_and_head = None
            position = (last or 0) + 1
            if version is None:
                version, prev_hash = 0, GENESIS_HASH
        elif stream_id in self._head:
            version, prev_hash = self._head[stream_id]
        else:
            version, prev_hash = self._stream_head(stream_id)
        expected = self._seen.get(stream_id, expected_version)
        if stream_id not in self._head and expected is not None and expected != version:
            raise ConcurrencyConflict(stream_id, expected, version)
        if not events:
            return []
        recorded_at = format_time(store.clock())
        metadata_json = canonical_json(metadata.to_dict())
        rows = []
        for new in events:
            version += 1
            row = _hashed_row(new, position, stream_id, version, metadata_json, recorded_at,
                              prev_hash)
            prev_hash = row[-1]
            position += 1
            rows.append(row)
        self._next_position = position
        self._head[stream_id] = (version, prev_hash)
        self._seen.pop(stream_id, None)
        statements = [(self._sql.insert_event, _one_or_many(rows))]
        if publish is not None:
            self.published = True
            statements.append((
                self._sql.insert_outbox,
                _one_or_many([(r[0], publish.topic, contracts.outbox_key(new))
                              for r, new in zip(rows, events, strict=True)])))
        if self._raw is not None and store.is_postgres:
            self._pending.extend(statements)  # sent with the COMMIT (or the next statement)
        else:
            for sql, params in statements:
                self._execute(sql, params)
        stored = [store._decode_row(r) for r in rows]
        for projection in store.projections:
            for recorded in stored:
                projection.apply(self.conn, recorded)
        self.recorded.extend(stored)
        return stored

    def mark_processed(self, consumer: str, event_id: str, *,
                       source: UpstreamEvent | None = None) -> None:
        """Record that `consumer` applied `event_id`; AlreadyProcessed if it had.

        With `source` (where the event sits in its upstream's store), its
        position is recorded as applied too: the consumer's watermark per
        upstream is made of these (`laurel.catchup`)."""
        self.lock()
        seen = self._execute(self._sql.seen, (consumer, event_id)).fetchone()
        if seen is not None:
            raise AlreadyProcessed(f"{consumer} already applied {event_id}")
        now = format_time(self._store.clock())
        self._execute(self._sql.insert_processed, (consumer, event_id, now))
        if source is not None:
            self.mark_position(consumer, source, APPLIED)

    def mark_position(self, consumer: str, source: UpstreamEvent, outcome: str) -> None:
        """Record what `consumer` did with an upstream position (`APPLIED`, or
        `IGNORED`: no reaction of it takes the event's type); a position
        recorded before keeps its outcome unless it is now applied."""
        self.lock()
        sql = self._sql.insert_position_applied if outcome == APPLIED else self._sql.insert_position
        self._execute(sql, (
            consumer, source.upstream, source.position, source.event_id,
            source.stream_id, source.version, source.type, outcome,
            format_time(self._store.clock())))

    # -- after commit ------------------------------------------------------------

    def _committed(self) -> None:
        for key, (state, version) in self._folded.items():
            self._folds.put(key, state, version)
        if self.published:
            for listener in self._store.on_published:
                listener()
        if self.recorded:
            for observer in self._store.on_committed:
                observer(self.recorded)


def _one_or_many(rows: list[tuple[Any, ...]]) -> tuple[Any, ...] | list[tuple[Any, ...]]:
    """One row as a plain execute (no executemany machinery), more as a list."""
    return rows[0] if len(rows) == 1 else rows


def _hashed_row(
    new: NewEvent,
    position: int,
    stream_id: str,
    version: int,
    metadata_json: str,
    recorded_at: str,
    prev_hash: str,
) -> tuple[Any, ...]:
    """The stored row, in the events table's column order, ending with its hash."""
    payload_json = canonical_json(new.payload)
    digest = event_hash(
        position=position,
        event_id=new.event_id,
        stream_id=stream_id,
        version=version,
        type=new.type,
        schema_version=new.schema_version,
        payload_json=payload_json,
        metadata_json=metadata_json,
        recorded_at=recorded_at,
        prev_hash=prev_hash,
    )
    return (
        position, new.event_id, stream_id, version, new.type, new.schema_version,
        payload_json, metadata_json, recorded_at, prev_hash, digest,
    )


def run_with_retries(begin: Callable[..., Any], work: Callable[[UnitOfWork], T],
                     attempts: int) -> T:
    """`work` in a unit of work, decided again on a StaleRead.

    The first attempt reads optimistically, before the write lock, so
    writers of other streams go on meanwhile. A unit that was overtaken
    decides again holding the lock from its start (`begin(lock=True)`): it
    reads what every writer before it committed and nobody writes before it
    does, so that attempt cannot read stale. Without that, a hot stream (a
    review round every reviewer's form appends to) overtook the same unit
    time after time under a few dozen concurrent writers, and the caller,
    who sent no expected version, got ABORTED. Only the units that collided
    pay for the serialized decision. `attempts` still bounds the loop (then
    the StaleRead, ABORTED, reaches the caller), though a locked attempt
    does not raise it.

    Pooled connections are not pinged before use (a round trip on every
    checkout, 13 % of a PostgreSQL append): a connection the server dropped
    while it sat in the pool fails on first use instead. SQLAlchemy then
    invalidates it and the pool's older connections, and the unit, which
    wrote nothing, runs once more on a fresh one. A connection lost while
    committing is not retried: whether the commit happened is unknown, and
    the caller gets the error."""
    attempt, reconnected, locked = 1, False, False
    while True:
        try:
            with begin(lock=locked) as uow:
                return work(uow)
        except StaleRead:
            if attempt == attempts:
                raise
            attempt, locked = attempt + 1, True
        except DBAPIError as error:
            if (reconnected or not error.connection_invalidated
                    or getattr(error, "laurel_while_committing", False)):
                raise
            reconnected = True
