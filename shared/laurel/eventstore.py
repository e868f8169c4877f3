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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

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

from laurel.chain import ChainReport, RawEvent, verify_chain
from laurel.envelope import (
    GENESIS_HASH,
    EventMetadata,
    NewEvent,
    RecordedEvent,
    canonical_json,
    event_hash,
    format_time,
    utcnow,
)
from laurel.errors import ConcurrencyConflict
from laurel.upcasting import Upcasters

tracer = trace.get_tracer("laurel.eventstore")

PG_APPEND_LOCK = 0x4C4155  # "LAU": one advisory lock id for every append

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


class Projection(Protocol):
    """A read model kept in the store's database and rebuildable from the log."""

    name: str
    metadata: MetaData

    def apply(self, conn: Connection, event: RecordedEvent) -> None: ...


@dataclass(frozen=True)
class Publication:
    """Where the outbox relay sends the appended events."""

    topic: str
    key: str


@dataclass(frozen=True)
class OutboxEntry:
    event: RecordedEvent
    topic: str
    key: str


class AlreadyProcessed(Exception):
    """The consumer already applied this event: a redelivery, skip it."""


def engine_for(url: str) -> Engine:
    """An engine with the settings the store's guarantees depend on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}
        )
        _make_sqlite_durable_and_explicit(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


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
        writing = conn.get_execution_options().get("laurel_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


class Transaction:
    """Appends to several streams that commit or fail together."""

    def __init__(self, store: EventStore, conn: Connection) -> None:
        self._store = store
        self.conn = conn
        self.recorded: list[RecordedEvent] = []
        self._next_position = store._max_position(conn) + 1

    def append(
        self,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[NewEvent],
        metadata: EventMetadata,
        *,
        publish: Publication | None = None,
    ) -> list[RecordedEvent]:
        """Append after `expected_version` (None: wherever the stream is)."""
        version, prev_hash = self._store._head(self.conn, stream_id)
        if expected_version is not None and expected_version != version:
            raise ConcurrencyConflict(stream_id, expected_version, version)
        recorded_at = format_time(self._store.clock())
        metadata_json = canonical_json(metadata.to_dict())
        rows = []
        for new in events:
            version += 1
            row = _hashed_row(
                new, self._next_position, stream_id, version, metadata_json,
                recorded_at, prev_hash,
            )
            prev_hash = row["hash"]
            self._next_position += 1
            rows.append(row)
        if not rows:
            return []
        self.conn.execute(events_table.insert(), rows)
        if publish is not None:
            self.conn.execute(
                outbox_table.insert(),
                [{"position": r["position"], "topic": publish.topic,
                  "key": publish.key, "published_at": None} for r in rows],
            )
        stored = [self._store._decode(RawEvent.from_mapping(r)) for r in rows]
        for projection in self._store.projections:
            for recorded in stored:
                projection.apply(self.conn, recorded)
        self.recorded.extend(stored)
        return stored

    def mark_processed(self, consumer: str, event_id: str) -> None:
        """Record that `consumer` applied `event_id`; raise if it already had."""
        seen = self.conn.execute(
            select(processed_table.c.event_id).where(
                processed_table.c.consumer == consumer,
                processed_table.c.event_id == event_id,
            )
        ).first()
        if seen is not None:
            raise AlreadyProcessed(f"{consumer} already applied {event_id}")
        self.conn.execute(
            processed_table.insert(),
            {"consumer": consumer, "event_id": event_id,
             "processed_at": format_time(self._store.clock())},
        )


def _hashed_row(
    new: NewEvent,
    position: int,
    stream_id: str,
    version: int,
    metadata_json: str,
    recorded_at: str,
    prev_hash: str,
) -> dict[str, Any]:
    fields = {
        "position": position,
        "event_id": new.event_id,
        "stream_id": stream_id,
        "version": version,
        "type": new.type,
        "schema_version": new.schema_version,
        "payload_json": canonical_json(new.payload),
        "metadata_json": metadata_json,
        "recorded_at": recorded_at,
        "prev_hash": prev_hash,
    }
    digest = event_hash(**fields)
    row = dict(fields, payload=fields.pop("payload_json"), hash=digest)
    row["metadata"] = row.pop("metadata_json")
    return row


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
        self.upcasters = upcasters or Upcasters()
        self.projections = list(projections)
        self.clock = clock

    def create_schema(self) -> None:
        """Create missing tables (the store's and its projections'); idempotent."""
        store_metadata.create_all(self.engine)
        for projection in self.projections:
            projection.metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- writing -----------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with tracer.start_as_current_span("eventstore.append") as span:
            with self.engine.connect().execution_options(laurel_write=True) as conn:
                with conn.begin():
                    if self.is_postgres:
                        conn.exec_driver_sql(
                            f"SELECT pg_advisory_xact_lock({PG_APPEND_LOCK})"
                        )
                    tx = Transaction(self, conn)
                    yield tx
                span.set_attribute("laurel.events_appended", len(tx.recorded))
                if tx.recorded:
                    span.set_attribute("laurel.stream_id", tx.recorded[0].stream_id)

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
        with self.transaction() as tx:
            if consumed is not None:
                tx.mark_processed(*consumed)
            return tx.append(stream_id, expected_version, events, metadata, publish=publish)

    # -- reading -----------------------------------------------------------

    def stream_version(self, stream_id: str) -> int:
        with self.engine.connect() as conn:
            return self._head(conn, stream_id)[0]

    def read_stream(
        self, stream_id: str, *, from_version: int = 1, as_of: datetime | None = None
    ) -> list[RecordedEvent]:
        query = (
            select(events_table)
            .where(events_table.c.stream_id == stream_id)
            .where(events_table.c.version >= from_version)
            .order_by(events_table.c.version)
        )
        if as_of is not None:
            query = query.where(events_table.c.recorded_at <= format_time(as_of))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [self._decode(RawEvent.from_mapping(r)) for r in rows]

    def read_all(
        self, from_position: int = 1, *, batch_size: int = 500
    ) -> Iterator[RecordedEvent]:
        """Every event in global order, fetched in batches of short reads."""
        for raw in self.read_raw(from_position, batch_size=batch_size):
            yield self._decode(raw)

    def read_raw(
        self, from_position: int = 1, *, batch_size: int = 500,
        until_position: int | None = None,
    ) -> Iterator[RawEvent]:
        position = from_position
        while True:
            query = (
                select(events_table)
                .where(events_table.c.position >= position)
                .order_by(events_table.c.position)
                .limit(batch_size)
            )
            if until_position is not None:
                query = query.where(events_table.c.position <= until_position)
            with self.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
            if not rows:
                return
            for row in rows:
                yield RawEvent.from_mapping(row)
            position = rows[-1]["position"] + 1

    def last_position(self) -> int:
        with self.engine.connect() as conn:
            return self._max_position(conn)

    def has_processed(self, consumer: str, event_id: str) -> bool:
        query = select(processed_table.c.event_id).where(
            processed_table.c.consumer == consumer,
            processed_table.c.event_id == event_id,
        )
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def verify(self) -> ChainReport:
        """Recompute every hash and link from the raw rows."""
        return verify_chain(self.read_raw(batch_size=2000))

    # -- outbox ------------------------------------------------------------

    def unpublished(self, limit: int = 100) -> list[OutboxEntry]:
        query = (
            select(events_table, outbox_table.c.topic, outbox_table.c.key)
            .join(outbox_table, outbox_table.c.position == events_table.c.position)
            .where(outbox_table.c.published_at.is_(None))
            .order_by(events_table.c.position)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            OutboxEntry(self._decode(RawEvent.from_mapping(r)), r["topic"], r["key"])
            for r in rows
        ]

    def mark_published(self, positions: Sequence[int]) -> None:
        if not positions:
            return
        with self.engine.connect().execution_options(laurel_write=True) as conn:
            with conn.begin():
                conn.execute(
                    outbox_table.update()
                    .where(outbox_table.c.position.in_(list(positions)))
                    .values(published_at=format_time(self.clock()))
                )

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
        with engine.connect().execution_options(laurel_write=True) as conn:
            with conn.begin():
                for recorded in self.read_all(batch_size=2000):
                    projection.apply(conn, recorded)
                    count += 1
        return count

    # -- internals ---------------------------------------------------------

    def _head(self, conn: Connection, stream_id: str) -> tuple[int, str]:
        row = conn.execute(
            select(events_table.c.version, events_table.c.hash)
            .where(events_table.c.stream_id == stream_id)
            .order_by(events_table.c.version.desc())
            .limit(1)
        ).first()
        return (row.version, row.hash) if row else (0, GENESIS_HASH)

    @staticmethod
    def _max_position(conn: Connection) -> int:
        return conn.execute(select(func.max(events_table.c.position))).scalar() or 0

    def _decode(self, raw: RawEvent) -> RecordedEvent:
        schema_version, payload = self.upcasters.upcast(
            raw.type, raw.schema_version, json.loads(raw.payload_json)
        )
        return RecordedEvent(
            position=raw.position,
            event_id=raw.event_id,
            stream_id=raw.stream_id,
            version=raw.version,
            type=raw.type,
            schema_version=schema_version,
            payload=payload,
            metadata=json.loads(raw.metadata_json),
            recorded_at=raw.recorded_at,
            prev_hash=raw.prev_hash,
            hash=raw.hash,
        )
