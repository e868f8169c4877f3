"""The append-only event store: one SQLAlchemy Core code path, SQLite or PostgreSQL.

Why the design is what it is:
- Appends are serialized per database (SQLite's write lock taken up front with
  BEGIN IMMEDIATE; a transaction-scoped advisory lock on PostgreSQL). That makes
  global positions gapless and committed in order, so a reader tailing by
  position never skips an event that commits late, and every position can be
  covered by the hash chain and the audit checks.
- The outbox rows, the inbox marks of consumed events and the projections'
  rows are written in the same transaction as the events, so a crash leaves
  either all of them or none.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

import orjson
from opentelemetry import trace
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import make_url

from laurel.chain import ChainReport, RawEvent, verify_rows
from laurel.envelope import (
    GENESIS_HASH,
    Aggregate,
    EventMetadata,
    NewEvent,
    RecordedEvent,
    format_time,
    utcnow,
)
from laurel.projections import placeholder
from laurel.unit_of_work import (
    PG_APPEND_LOCK,
    AlreadyProcessed,
    FoldCache,
    UnitOfWork,
    run_with_retries,
)
from laurel.upcasting import Upcasters

__all__ = ["PG_APPEND_LOCK", "AlreadyProcessed", "EventStore", "OutboxEntry", "Projection",
           "Publication", "PublishedPage", "UnitOfWork", "engine_for", "store_metadata"]
T = TypeVar("T")
S = TypeVar("S")

tracer = trace.get_tracer("laurel.eventstore")

# The unit a thread's units join (`EventStore.joined`), if any.
_joined: ContextVar[UnitOfWork | None] = ContextVar("laurel_joined_unit", default=None)

store_metadata = MetaData()

events_table = Table(
    "events",
    store_metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("stream_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(200), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("payload", Text, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
    Index("ix_events_recorded_at", "recorded_at"),
)

outbox_table = Table(
    "outbox",
    store_metadata,
    Column("position", BigInteger, ForeignKey("events.position"), primary_key=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("published_at", String(32), nullable=True),
    Index("ix_outbox_unpublished", "published_at", "position"),
)

processed_table = Table(
    "processed_events",
    store_metadata,
    Column("consumer", String(100), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("processed_at", String(32), nullable=False),
)

# What each consumer did with each upstream position it was handed (by Kafka
# or from the upstream's log): applied (with its inbox mark, in the same
# transaction as the effect) or ignored (no reaction takes the type). A
# consumer's contiguous watermark and its gaps per upstream are read from
# here (laurel.catchup); the audit's completeness check reads it too.
applied_positions_table = Table(
    "applied_positions",
    store_metadata,
    Column("consumer", String(100), primary_key=True),
    Column("upstream", String(100), primary_key=True),
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False),
    Column("stream_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(200), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("applied_at", String(32), nullable=False),
    Index("ix_applied_positions_stream", "consumer", "upstream", "stream_id", "version"),
)

# Per consumer and upstream: every published position up to `position` is
# applied or ignored, as checked against the upstream's log.
upstream_watermarks_table = Table(
    "upstream_watermarks",
    store_metadata,
    Column("consumer", String(100), primary_key=True),
    Column("upstream", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("checked_at", String(32), nullable=False),
)


_EVENT_COLUMNS = (
    "position, event_id, stream_id, version, type, schema_version, payload, "
    "metadata, recorded_at, prev_hash, hash"
)


class _Statements:
    """The hot statements as driver SQL for one paramstyle, written once.

    Appends and reads run these on every call; building and compiling a
    SQLAlchemy expression each time cost several times the database work
    (profiled), so they go to the driver as fixed text. Same tables, same
    columns, same rows as the Core expressions they replace; the DDL and the
    colder queries stay Core.
    """

    def __init__(self, paramstyle: str) -> None:
        p = placeholder(paramstyle)
        self.max_position = "SELECT max(position) FROM events"
        self.head = (
            f"SELECT version, hash FROM events WHERE stream_id = {p} "
            "ORDER BY version DESC LIMIT 1"
        )
        # A transaction's first append reads the log's end and the stream's
        # head in one round trip (the same two index lookups).
        self.max_position_and_head = (
            "SELECT m.last, h.version, h.hash "
            "FROM (SELECT max(position) AS last FROM events) m "
            f"LEFT JOIN ({self.head}) h ON 1 = 1"
        )
        self.insert_event = (
            f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({', '.join([p] * 11)})"
        )
        self.insert_outbox = (
            f'INSERT INTO outbox (position, topic, "key", published_at) '
            f"VALUES ({p}, {p}, {p}, NULL)"
        )
        self.seen = (
            f"SELECT event_id FROM processed_events "
            f"WHERE consumer = {p} AND event_id = {p}"
        )
        self.insert_processed = (
            "INSERT INTO processed_events (consumer, event_id, processed_at) "
            f"VALUES ({p}, {p}, {p})"
        )
        self.insert_position = (
            "INSERT INTO applied_positions (consumer, upstream, position, event_id, "
            "stream_id, version, type, outcome, applied_at) "
            f"VALUES ({', '.join([p] * 9)}) "
            "ON CONFLICT (consumer, upstream, position) DO NOTHING"
        )
        # Applied wins over what was recorded before (a parked event retried).
        self.insert_position_applied = self.insert_position.replace(
            "DO NOTHING", "DO UPDATE SET outcome = excluded.outcome, "
            "applied_at = excluded.applied_at WHERE applied_positions.outcome <> 'applied'")
        stream = (
            f"SELECT {_EVENT_COLUMNS} FROM events "
            f"WHERE stream_id = {p} AND version >= {p}"
        )
        self.read_stream = f"{stream} ORDER BY version"
        self.read_stream_as_of = f"{stream} AND recorded_at <= {p} ORDER BY version"
        # Stream by stream, keyset-paged on the (stream_id, version) index.
        self.read_streams_after = (
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE (stream_id, version) > ({p}, {p}) "
            f"ORDER BY stream_id, version LIMIT {p}"
        )
        batch = f"SELECT {_EVENT_COLUMNS} FROM events WHERE position >= {p}"
        self.read_batch = f"{batch} ORDER BY position LIMIT {p}"
        self.read_batch_until = (
            f"{batch} AND position <= {p} ORDER BY position LIMIT {p}"
        )
        qualified = ", ".join(f"events.{c}" for c in _EVENT_COLUMNS.split(", "))
        self.unpublished = (
            f'SELECT {qualified}, outbox.topic, outbox."key" FROM events '
            "JOIN outbox ON outbox.position = events.position "
            f"WHERE outbox.published_at IS NULL AND outbox.position > {p} "
            f"ORDER BY events.position LIMIT {p}"
        )
        self.published_page = (
            f'SELECT {qualified}, outbox.topic, outbox."key" FROM events '
            "JOIN outbox ON outbox.position = events.position "
            f"WHERE events.position >= {p} AND events.position <= {p} "
            f"ORDER BY events.position LIMIT {p}"
        )
        self.published_head = "SELECT max(position) FROM outbox"


class Projection(Protocol):
    """A read model kept in the store's database and rebuildable from the log."""

    name: str
    metadata: MetaData

    def apply(self, conn: Connection, event: RecordedEvent) -> None: ...


@dataclass(frozen=True)
class Publication:
    """Where the outbox relay sends the appended events: the topic. Each
    event's key comes from its contract's key rule (laurel.contracts), never
    from the caller, so a type is keyed the same way wherever it is appended."""

    topic: str


@dataclass(frozen=True)
class OutboxEntry:
    event: RecordedEvent
    topic: str
    key: str


@dataclass(frozen=True)
class PublishedPage:
    """Part of a store's published log: the events in position order, where
    the next page starts (one after the last position this page covered,
    unpublished positions included), and the last published position."""

    entries: list[OutboxEntry]
    next_position: int
    head_position: int


def engine_for(url: str) -> Engine:
    """An engine with the settings the store's guarantees depend on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}
        )
        _make_sqlite_durable_and_explicit(engine)
        return engine
    # No pre-ping: a connection dropped while pooled fails on first use and
    # the unit of work runs again on a fresh one (run_with_retries).
    return create_engine(url)


def _make_sqlite_durable_and_explicit(engine: Engine) -> None:
    """WAL with synchronous=FULL; BEGIN IMMEDIATE for writes (the documented recipe)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("laurel_held", False):
            return  # the writer's held connection: its unit began it on the driver
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("laurel_write") else "BEGIN")


class EventStore:
    def __init__(
        self,
        url: str,
        *,
        upcasters: Upcasters | None = None,
        projections: Sequence[Projection] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.url = url
        self.engine = engine_for(url)
        self.is_postgres = self.engine.dialect.name == "postgresql"
        self._sql = _Statements(self.engine.dialect.paramstyle)
        self.upcasters = upcasters or Upcasters()
        self.projections = list(projections)
        self.clock = clock
        # One writer at a time per process, queued here rather than in
        # SQLite's busy handler (which sleeps up to 100 ms between retries
        # while the lock stands free); across processes the database's own
        # lock still serializes.
        self._writer = threading.Lock()
        # The writer's connection, held from one unit to the next and used
        # only by the thread holding `_writer`: no pool checkout, reset or
        # events per append (a quarter of a SQLite append, profiled).
        self._held: tuple[Connection, Any] | None = None
        self._dbapi_error: type[Exception] = self.engine.dialect.loaded_dbapi.Error
        self.folds = FoldCache()
        # Called (in the committing thread) after a transaction that wrote
        # outbox rows commits: the relay publishes now instead of at its next poll.
        self.on_published: list[Callable[[], None]] = []
        # Called (in the committing thread) with the events a transaction
        # appended, once it committed (metrics count them).
        self.on_committed: list[Callable[[Sequence[RecordedEvent]], None]] = []

    def create_schema(self) -> None:
        """Bring the store's tables and its projections' to this code's schema
        (laurel.migrator: the `core` chain and each projection's service
        chain; a projection no chain owns, a test's say, is created as
        declared); idempotent, and safe when processes do it at once."""
        from laurel.migrator import chains_for, owning_chain, upgrade

        chains = chains_for(None)
        unchained: list[Projection] = []
        for projection in self.projections:
            owner = owning_chain(projection)
            if owner is None:
                unchained.append(projection)
            elif owner not in chains:
                chains.append(owner)

        def create_unchained(conn: Connection, _before: set[str]) -> None:
            for projection in unchained:
                projection.metadata.create_all(conn)

        upgrade(self.engine, chains, then=create_unchained)

    def close(self) -> None:
        with self._writer:
            if self._held is not None:
                self._held[0].close()
                self._held = None
        self.engine.dispose()

    def _held_connection(self) -> tuple[Connection, Any]:
        """The writer's connection and its DB-API connection (the caller
        holds `_writer`); a fresh one after the last was lost."""
        held = self._held
        if held is None or held[0].invalidated or held[0].closed:
            if held is not None:
                held[0].close()
            conn = self.engine.connect().execution_options(
                laurel_write=True, laurel_held=True)
            if self.is_postgres:
                # The driver sends no BEGIN: the unit sends it with the lock
                # and the head reads in one query, and the COMMIT with its
                # INSERTs (UnitOfWork.lock, _send_with_commit). The pool
                # restores the isolation level when the connection goes back.
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            held = self._held = (conn, conn.connection.dbapi_connection)
        return held

    # -- writing -----------------------------------------------------------

    @contextmanager
    def unit_of_work(self, *, lock: bool = False) -> Iterator[UnitOfWork]:
        """One connection, one transaction (see laurel.unit_of_work): committed
        if it wrote and nothing was raised, else rolled back. Inside `joined()`
        (same store, same thread), a savepoint of the joined unit instead."""
        outer = _joined.get()
        if outer is not None and outer._store is self:
            # Its own span, in the trace of whoever opened it (a consumed
            # event's), though its commit is the joined unit's.
            with tracer.start_as_current_span("eventstore.unit_of_work") as span:
                span.set_attribute("laurel.joined", True)
                before = len(outer.recorded)
                with outer.savepoint() as joined:
                    yield joined
                appended = outer.recorded[before:]
                span.set_attribute("laurel.events_appended", len(appended))
                if appended:
                    span.set_attribute("laurel.stream_id", appended[0].stream_id)
            return
        with tracer.start_as_current_span("eventstore.unit_of_work") as span:
            uow = UnitOfWork(self, self.folds)
            try:
                if lock:
                    uow.lock()
                yield uow
                uow._finish()
            except BaseException:
                uow._abort()
                raise
            finally:
                uow._release()
            uow._committed()
            span.set_attribute("laurel.events_appended", len(uow.recorded))
            if uow.recorded:
                span.set_attribute("laurel.stream_id", uow.recorded[0].stream_id)

    @contextmanager
    def joined(self) -> Iterator[UnitOfWork]:
        """One unit of work, under the write lock from its start, that every
        unit this thread opens on this store meanwhile (`run`, `append`,
        `apply_once`) joins as a savepoint (laurel.unit_of_work): many
        consumed events in one transaction, one commit and one fsync, while
        each of them still fails alone. The lock comes first, so nothing read
        inside can go stale (no StaleRead); after-commit hooks run once, if
        it commits."""
        with self.unit_of_work(lock=True) as uow:
            token = _joined.set(uow)
            try:
                yield uow
            finally:
                _joined.reset(token)

    def run(self, work: Callable[[UnitOfWork], T], *, attempts: int = 5) -> T:
        """`work` in a unit of work; decided again when a stream it read moved
        on before it could write (see laurel.unit_of_work)."""
        return run_with_retries(self.unit_of_work, work, attempts)

    def append(
        self,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[NewEvent],
        metadata: EventMetadata,
        *,
        publish: Publication | None = None,
        consumed: tuple[str, str] | None = None,
    ) -> list[RecordedEvent]:
        """Append atomically; with `consumed=(consumer, event_id)`, at most once."""
        def work(uow: UnitOfWork) -> list[RecordedEvent]:
            if consumed is not None:
                uow.mark_processed(*consumed)
            return uow.append(stream_id, events, metadata, publish=publish,
                              expected_version=expected_version)

        return run_with_retries(self.unit_of_work, work, 1)

    # -- reading -----------------------------------------------------------

    def stream_version(self, stream_id: str) -> int:
        with self.engine.connect() as conn:
            return self._head(conn, stream_id)[0]

    def read_stream(
        self, stream_id: str, *, from_version: int = 1, as_of: datetime | None = None
    ) -> list[RecordedEvent]:
        """For tools and audits; handlers read through their unit of work.

        One SELECT through the DB-API cursor (a unit of work's span,
        transaction and SQLAlchemy rows cost as much again as the read of a
        short stream, profiled); the same rows, decoded the same way."""
        params: tuple[Any, ...]
        if as_of is None:
            sql, params = self._sql.read_stream, (stream_id, from_version)
        else:
            sql = self._sql.read_stream_as_of
            params = (stream_id, from_version, format_time(as_of))
        decode = self._decode_row
        return [decode(row) for row in self._raw_rows(sql, params)]

    def read_all(
        self, from_position: int = 1, *, batch_size: int = 500
    ) -> Iterator[RecordedEvent]:
        """Every event in global order, fetched in batches of short reads."""
        decode = self._decode_row
        for rows in self._row_batches(from_position, batch_size, None):
            for row in rows:
                yield decode(row)

    def read_raw(
        self, from_position: int = 1, *, batch_size: int = 500,
        until_position: int | None = None,
    ) -> Iterator[RawEvent]:
        for rows in self._row_batches(from_position, batch_size, until_position):
            for row in rows:
                yield RawEvent(*row)

    def _row_batches(
        self, position: int, batch_size: int, until_position: int | None
    ) -> Iterator[Sequence[Any]]:
        """Rows in `_EVENT_COLUMNS` order, one short read (and connection) a batch."""
        params: tuple[Any, ...]
        while True:
            if until_position is None:
                sql, params = self._sql.read_batch, (position, batch_size)
            else:
                sql = self._sql.read_batch_until
                params = (position, until_position, batch_size)
            rows = self._raw_rows(sql, params)
            if not rows:
                return
            yield rows
            position = rows[-1][0] + 1

    def _raw_rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """One short read through the DB-API cursor: plain tuples, without
        SQLAlchemy's result and row objects (as much again as the read on a
        replay, profiled)."""
        with self.engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, params)
                return cast(list[Any], cursor.fetchall())
            finally:
                cursor.close()
                conn.rollback()

    def replay(self, aggregate: Aggregate[S], *, batch_size: int = 2000
               ) -> Iterator[tuple[str, S]]:
        """Every stream folded with `aggregate`, one stream after another
        (in stream id order), each given as (stream id, state) once its last
        event is folded.

        Only the stream being folded is held, so memory stays flat however
        long the log is (a replay by global position holds every stream's
        state until the end). For rebuilding state-based read models; a
        stream's state is the same either way, as streams are folded alone."""
        evolve = aggregate.evolve
        decode = self._decode_row
        stream_id: str | None = None
        state: Any = None
        after: tuple[str, int] = ("", 0)
        while True:
            rows = self._raw_rows(self._sql.read_streams_after, (*after, batch_size))
            if not rows:
                break
            for row in rows:
                if row[2] != stream_id:
                    if stream_id is not None:
                        yield stream_id, state
                    stream_id, state = row[2], None
                state = evolve(state, decode(row))
            after = (rows[-1][2], rows[-1][3])
        if stream_id is not None:
            yield stream_id, state

    def last_position(self) -> int:
        with self.engine.connect() as conn:
            return self._max_position(conn)

    def has_processed(self, consumer: str, event_id: str) -> bool:
        with self.engine.connect() as conn:
            seen = conn.exec_driver_sql(self._sql.seen, (consumer, event_id))
            return seen.first() is not None

    def verify(self) -> ChainReport:
        """Recompute every hash and link from the raw rows.

        On PostgreSQL one server-side cursor streams the whole log from one
        snapshot (a query per batch cost a round trip and a plan each, and
        half of verify's time, measured); SQLite reads it in short batches,
        so a long verify never holds a read transaction against the writer's
        checkpoints."""
        if self.is_postgres:
            return verify_rows(self._pg_scan(f"SELECT {_EVENT_COLUMNS} FROM events "
                                             "ORDER BY position"))
        return verify_rows(row for rows in self._row_batches(1, 5000, None) for row in rows)

    def _pg_scan(self, sql: str, fetch: int = 5000) -> Iterator[Any]:
        """PostgreSQL: every row of `sql` through a server-side cursor,
        `fetch` rows a round trip, in one read-only transaction."""
        with self.engine.connect() as conn:
            raw: Any = conn.connection.driver_connection
            try:
                with raw.cursor(name="laurel_scan") as cursor:
                    cursor.itersize = fetch
                    cursor.execute(sql)
                    yield from cursor
            finally:
                conn.rollback()

    # -- outbox ------------------------------------------------------------

    def unpublished(self, limit: int = 100, *, after: int = 0) -> list[OutboxEntry]:
        """The oldest events not yet marked published, from position `after` + 1
        on (the relay polls this; it skips what it sent and has yet to mark)."""
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(self._sql.unpublished, (after, limit)).fetchall()
        return [OutboxEntry(self._decode_row(r[:11]), r[11], r[12]) for r in rows]

    def mark_published(self, positions: Sequence[int]) -> None:
        if not positions:
            return
        with self._writer, self.engine.connect().execution_options(
                laurel_write=True) as conn, conn.begin():
            conn.execute(
                outbox_table.update()
                .where(outbox_table.c.position.in_(list(positions)))
                .values(published_at=format_time(self.clock()))
            )

    def read_published(self, from_position: int, limit: int) -> PublishedPage:
        """A page of the published log (events with an outbox row, sent or
        not) from `from_position` on; see `PublishedPage`.

        The log's end is read first and the page is bounded by it: appends
        commit in position order, so every position up to that end is
        committed and a page that is not full covers all of them."""
        from_position = max(from_position, 1)
        with self.engine.connect() as conn:
            last = self._max_position(conn)
            head = conn.exec_driver_sql(self._sql.published_head).scalar() or 0
            rows = conn.exec_driver_sql(
                self._sql.published_page, (from_position, last, limit)).fetchall()
        entries = [OutboxEntry(self._decode_row(r[:11]), r[11], r[12]) for r in rows]
        if len(entries) == limit:
            next_position = entries[-1].event.position + 1
        else:
            next_position = max(from_position, last + 1)
        return PublishedPage(entries, next_position, head)

    def outbox_backlog(self) -> tuple[int, str | None]:
        """How many events wait for the relay, and when the oldest was recorded."""
        query = (
            select(func.count(), func.min(events_table.c.recorded_at))
            .select_from(outbox_table.join(
                events_table, outbox_table.c.position == events_table.c.position))
            .where(outbox_table.c.published_at.is_(None))
        )
        with self.engine.connect() as conn:
            count, oldest = conn.execute(query).one()
        return int(count), oldest

    def pending_outbox_count(self) -> int:
        query = select(func.count()).select_from(outbox_table).where(
            outbox_table.c.published_at.is_(None)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    # -- projections -------------------------------------------------------

    def rebuild_projection(self, projection: Projection, target: EventStore | None = None) -> int:
        """Drop and refill a projection from the log (into `target`'s database)."""
        engine = (target or self).engine
        projection.metadata.drop_all(engine)
        projection.metadata.create_all(engine)
        count = 0
        with (self._writer, engine.connect().execution_options(laurel_write=True) as conn,
              conn.begin()):
            for recorded in self.read_all(batch_size=2000):
                projection.apply(conn, recorded)
                count += 1
        return count

    def refill_projection(self, conn: Connection, projection: Projection) -> int:
        """Empty a projection's tables and apply the whole log to them, on
        `conn` (the caller's transaction, so it is all or nothing)."""
        for table in reversed(projection.metadata.sorted_tables):
            conn.execute(table.delete())
        count = 0
        for recorded in self.read_all(batch_size=2000):
            projection.apply(conn, recorded)
            count += 1
        return count

    # -- internals ---------------------------------------------------------

    def _head(self, conn: Connection, stream_id: str) -> tuple[int, str]:
        row = conn.exec_driver_sql(self._sql.head, (stream_id,)).first()
        return (row[0], row[1]) if row else (0, GENESIS_HASH)

    def _max_position(self, conn: Connection) -> int:
        return conn.exec_driver_sql(self._sql.max_position).scalar() or 0

    def _decode_row(self, row: Sequence[Any]) -> RecordedEvent:
        """A stored row (`_EVENT_COLUMNS` order) as read: payload upcast, JSON decoded."""
        (position, event_id, stream_id, version, type_, schema_version,
         payload_json, metadata_json, recorded_at, prev_hash, digest) = row
        schema_version, payload = self.upcasters.upcast(
            type_, schema_version, _loads(payload_json)
        )
        # The frozen dataclass's __init__ sets each field through
        # object.__setattr__ (a third of a replay's store time, profiled);
        # the same instance, equal and hashing alike, made by filling its
        # __dict__ at once.
        event = _new_instance(RecordedEvent)
        event.__dict__.update(
            position=position,
            event_id=event_id,
            stream_id=stream_id,
            version=version,
            type=type_,
            schema_version=schema_version,
            payload=payload,
            metadata=_loads(metadata_json),
            recorded_at=recorded_at,
            prev_hash=prev_hash,
            hash=digest,
        )
        return event


_new_instance = object.__new__


def _loads(text: str) -> Any:
    """Stored JSON text decoded: orjson, or json.loads for what orjson refuses.

    Every read decodes two JSON texts per event; orjson does it in about a
    third of json's time. The values are the same for any JSON text; what
    orjson refuses (an integer beyond 64 bits, which canonical JSON writes;
    a lone surrogate; a hand-edited NaN) goes to json.loads, which decodes or
    raises exactly as before.
    """
    try:
        return orjson.loads(text)
    except (orjson.JSONDecodeError, UnicodeEncodeError):
        return json.loads(text)
