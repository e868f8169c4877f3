"""What the child processes do to the stores: appends, data sets, rebuilds.

Each public function here runs inside `laurel_bench.worker` (one fresh process
per call), prepares its inputs untimed, measures one operation with `Meter`,
and returns the measurement. Three kinds, on the same rows:

- laurel_*  Laurel's EventStore, as the services use it;
- plain_*   the limit: the bare driver (sqlite3 / psycopg) doing the least
            that produces the same rows or reads them back;
- es_*      the peer: the `eventsourcing` library with its own persistence.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from laurel_bench.common import (
    ROW_COLUMNS,
    Command,
    Meter,
    Workload,
    laurel_rows,
    postgres_dsn,
    sqlite_file_mb,
)

RECORDED_AT = "2021-12-01T08:00:00.000000Z"
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                  "PRAGMA busy_timeout=30000", "PRAGMA foreign_keys=ON")
INSERT_SQL = (f"INSERT INTO events ({', '.join(ROW_COLUMNS)}) "
              f"VALUES ({', '.join('?' * len(ROW_COLUMNS))})")
PG_INSERT_SQL = (f"INSERT INTO events ({', '.join(ROW_COLUMNS)}) "
                 f"VALUES ({', '.join(['%s'] * len(ROW_COLUMNS))})")
SELECT_COLUMNS = ", ".join(ROW_COLUMNS)


def _commands(seed: int, n_streams: int, events_per_stream: int,
              events_per_command: int = 1, offset: int = 0) -> list[Command]:
    workload = Workload(seed, events_per_stream)
    ids = workload.nomination_ids(n_streams, offset=offset)
    return list(workload.commands(ids, events_per_command))


def _backend(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def _rate(meter: Meter, count: int, **extra: Any) -> dict[str, Any]:
    return meter.result(count=count, rate=count / meter.seconds if meter.seconds else None,
                        **extra)


# -- workload 1: appends -----------------------------------------------------


def laurel_append(url: str, seed: int, n_streams: int, events_per_stream: int) -> dict:
    """One EventStore.append (one transaction) per command, as intake does."""
    from laurel.envelope import EventMetadata, NewEvent
    from laurel.eventstore import EventStore

    store = EventStore(url)
    store.create_schema()
    prepared = [
        (c.stream_id, c.expected_version,
         [NewEvent(kind, payload, 1, event_id)
          for (kind, payload), event_id in zip(c.events, c.event_ids, strict=True)],
         EventMetadata.from_dict(c.metadata))
        for c in _commands(seed, n_streams, events_per_stream)
    ]
    with Meter() as meter:
        for stream_id, expected, events, metadata in prepared:
            store.append(stream_id, expected, events, metadata)
    count = store.last_position()
    store.close()
    return _rate(meter, count, transactions=len(prepared))


def plain_insert(url: str, seed: int, n_streams: int, events_per_stream: int,
                 batch_rows: int) -> dict:
    """The limit: the same rows through the bare driver, `batch_rows` per commit.

    The table is created by Laurel's own `create_schema` (same columns,
    constraints and indexes); rows, hashes included, are computed untimed.
    """
    from laurel.eventstore import EventStore

    store = EventStore(url)
    store.create_schema()
    store.close()
    rows = [tuple(r[c] for c in ROW_COLUMNS) for r in laurel_rows(
        _commands(seed, n_streams, events_per_stream), RECORDED_AT)]
    chunks = [rows[i:i + batch_rows] for i in range(0, len(rows), batch_rows)]
    if _backend(url) == "sqlite":
        conn = sqlite3.connect(_sqlite_path(url), isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            conn.execute(pragma)
        with Meter() as meter:
            for chunk in chunks:
                conn.execute("BEGIN IMMEDIATE")
                if len(chunk) == 1:
                    conn.execute(INSERT_SQL, chunk[0])
                else:
                    conn.executemany(INSERT_SQL, chunk)
                conn.execute("COMMIT")
        conn.close()
    else:
        import psycopg

        conn = psycopg.connect(postgres_dsn(url))
        with Meter() as meter:
            for chunk in chunks:
                with conn.cursor() as cur:
                    if len(chunk) == 1:
                        cur.execute(PG_INSERT_SQL, chunk[0])
                    else:
                        cur.executemany(PG_INSERT_SQL, chunk)
                conn.commit()
        conn.close()
    return _rate(meter, len(rows), transactions=len(chunks))


def es_append(backend: str, target: str, seed: int, n_streams: int,
              events_per_stream: int) -> dict:
    """The peer: one Application.save (one transaction) per command."""
    from laurel_bench.es_peer import EsNomination, make_app, sqlite_settings

    app = make_app(backend, target)
    commands = _commands(seed, n_streams, events_per_stream)
    aggregates: dict[str, EsNomination] = {}
    with Meter() as meter:
        for command in commands:
            (kind, payload), = command.events
            if command.expected_version == 0:
                aggregate = EsNomination(nomination_id=command.nomination_id,
                                         payload=payload, metadata=command.metadata)
                aggregates[command.nomination_id] = aggregate
            else:
                aggregate = aggregates[command.nomination_id]
                aggregate.record(type=kind, payload=payload, metadata=command.metadata)
            app.save(aggregate)
    count = app.recorder.max_notification_id() or 0
    app.close()
    extra: dict[str, Any] = {"transactions": len(commands)}
    if backend == "sqlite":
        extra["sqlite_settings"] = sqlite_settings(target)
    return _rate(meter, count, **extra)


# -- data sets for rebuilds --------------------------------------------------


def build_laurel_dataset(url: str, seed: int, n_streams: int, events_per_stream: int,
                         offset: int = 0, streams_per_transaction: int = 500) -> dict:
    """Fill a store fast and honestly: EventStore transactions of many streams.

    Each stream's events go in by one `UnitOfWork.append` (hashes and chain
    computed by the store), `streams_per_transaction` streams per commit.
    """
    from laurel.envelope import EventMetadata, NewEvent
    from laurel.eventstore import EventStore

    store = EventStore(url)
    store.create_schema()
    workload = Workload(seed, events_per_stream)
    ids = workload.nomination_ids(n_streams, offset=offset)
    before = store.last_position()
    with Meter() as meter:
        for start in range(0, len(ids), streams_per_transaction):
            chunk = ids[start:start + streams_per_transaction]
            commands = workload.commands(chunk, events_per_stream)
            with store.unit_of_work() as uow:
                for c in commands:
                    uow.append(
                        c.stream_id,
                        [NewEvent(kind, payload, 1, event_id) for (kind, payload), event_id
                         in zip(c.events, c.event_ids, strict=True)],
                        EventMetadata.from_dict(c.metadata),
                        expected_version=c.expected_version,
                    )
    count = store.last_position() - before
    total = store.last_position()
    store.close()
    size = _checkpointed_size(_sqlite_path(url)) if _backend(url) == "sqlite" else None
    return _rate(meter, count, total_events=total, db_mb=size)


def bulk_laurel_dataset(url: str, seed: int, n_streams: int, events_per_stream: int,
                        offset: int = 0, streams_per_transaction: int = 500) -> dict:
    """Grow a SQLite store fast for the scale workload: Laurel's rows, bulk-inserted.

    The rows, hash chain included, are computed with Laurel's own encoding
    (`laurel_rows`: canonical_json, event_hash), so they are byte for byte
    what `EventStore.append` writes; they go in through sqlite3 executemany,
    `streams_per_transaction` streams per commit. Every round of the scale
    workload then runs `EventStore.verify()`, which fails on any wrong hash or
    link, so the shortcut cannot hide a difference. Building through the store
    instead (see `build_laurel_dataset`) runs at ~6k events/s here: the 1M step
    would not leave time for its measurements.
    """
    from laurel.eventstore import EventStore

    store = EventStore(url)
    store.create_schema()
    before = store.last_position()
    store.close()
    workload = Workload(seed, events_per_stream)
    ids = workload.nomination_ids(n_streams, offset=offset)
    conn = sqlite3.connect(_sqlite_path(url), isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        conn.execute(pragma)
    position = before + 1
    with Meter() as meter:
        for start in range(0, len(ids), streams_per_transaction):
            chunk = ids[start:start + streams_per_transaction]
            rows = laurel_rows(workload.commands(chunk, events_per_stream,
                                                 interleave=False),
                               RECORDED_AT, start_position=position)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT_SQL, [tuple(r[c] for c in ROW_COLUMNS) for r in rows])
            conn.execute("COMMIT")
            position += len(rows)
    total = conn.execute("SELECT max(position) FROM events").fetchone()[0]
    conn.close()
    return _rate(meter, total - before, total_events=total,
                 db_mb=_checkpointed_size(_sqlite_path(url)))


def _checkpointed_size(path: str) -> float:
    """The SQLite file's size once its WAL is folded in."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return sqlite_file_mb(Path(path))


def build_es_dataset(backend: str, target: str, seed: int, n_streams: int,
                     events_per_stream: int, streams_per_save: int = 50) -> dict:
    """The same streams for the peer: Application.save of many aggregates at once."""
    from laurel_bench.es_peer import EsNomination, make_app

    app = make_app(backend, target)
    workload = Workload(seed, events_per_stream)
    ids = workload.nomination_ids(n_streams)
    with Meter() as meter:
        for start in range(0, len(ids), streams_per_save):
            batch = []
            for nid in ids[start:start + streams_per_save]:
                events = [workload.event(nid, v) for v in range(1, events_per_stream + 1)]
                _, payload, role = events[0]
                aggregate = EsNomination(nomination_id=nid, payload=payload,
                                         metadata=workload.metadata(nid, 1, role))
                for version, (kind, payload, role) in enumerate(events[1:], start=2):
                    aggregate.record(type=kind, payload=payload,
                                     metadata=workload.metadata(nid, version, role))
                batch.append(aggregate)
            app.save(*batch)
    count = app.recorder.max_notification_id() or 0
    app.close()
    size = _checkpointed_size(target) if backend == "sqlite" else None
    return _rate(meter, count, db_mb=size)


# -- workload 2/3: rebuilds --------------------------------------------------


def laurel_fold_each(url: str) -> dict:
    """Every stream read by `read_stream` and folded by intake's nomination `fold`."""
    from sqlalchemy import select

    from laurel.eventstore import EventStore, events_table
    from laurel.intake.domain import nomination

    store = EventStore(url)
    with Meter() as meter:
        with store.engine.connect() as conn:
            stream_ids = conn.execute(
                select(events_table.c.stream_id).distinct()).scalars().all()
        states = {sid: nomination.fold(store.read_stream(sid)) for sid in stream_ids}
    count = sum(state.version for state in states.values() if state is not None)
    store.close()
    return _rate(meter, count, streams=len(states))


def laurel_replay(url: str, batch_size: int = 2000) -> dict:
    """`EventStore.replay` with intake's nomination aggregate: every stream
    folded alone, one after another, each state handed on when its stream
    ends (what a rebuild of a state-based read model does), so only one
    stream's state is held at a time."""
    from laurel.eventstore import EventStore
    from laurel.intake.domain import nomination

    store = EventStore(url)
    streams = count = 0
    with Meter() as meter:
        for _stream_id, state in store.replay(nomination.NOMINATION, batch_size=batch_size):
            streams += 1
            count += state.version
    store.close()
    return _rate(meter, count, streams=streams, batch_size=batch_size)


def laurel_verify(url: str) -> dict:
    """`EventStore.verify()`: every hash recomputed, every link and position checked."""
    from laurel.eventstore import EventStore

    store = EventStore(url)
    with Meter() as meter:
        report = store.verify()
    store.close()
    if not report.ok:
        raise AssertionError(f"chain broken: {report.first_break}")
    return _rate(meter, report.events_checked, streams=report.streams_checked)


def _plain_rows(url: str, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple]:
    """Rows through the bare driver, streamed (server-side cursor on PostgreSQL)."""
    if _backend(url) == "sqlite":
        conn = sqlite3.connect(_sqlite_path(url))
        try:
            yield from conn.execute(sql, params)
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(postgres_dsn(url)) as conn, conn.cursor(name="scan") as cur:
            cur.itersize = 2000
            cur.execute(sql.replace("?", "%s"), params)
            yield from cur


class _PlainReader:
    """One connection for many small queries (the per-stream limit)."""

    def __init__(self, url: str) -> None:
        self.sqlite = _backend(url) == "sqlite"
        if self.sqlite:
            self.conn: Any = sqlite3.connect(_sqlite_path(url))
        else:
            import psycopg

            self.conn = psycopg.connect(postgres_dsn(url), autocommit=True)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        if self.sqlite:
            return self.conn.execute(sql, params).fetchall()
        return self.conn.execute(sql.replace("?", "%s"), params).fetchall()

    def close(self) -> None:
        self.conn.close()


def plain_fold_each(url: str) -> dict:
    """The limit of folding each stream: one SELECT per stream plus json decoding."""
    reader = _PlainReader(url)
    states: dict[str, Any] = {}
    count = 0
    with Meter() as meter:
        stream_ids = [r[0] for r in reader.all("SELECT DISTINCT stream_id FROM events")]
        for sid in stream_ids:
            rows = reader.all(f"SELECT {SELECT_COLUMNS} FROM events WHERE stream_id = ? "
                              "ORDER BY version", (sid,))
            decoded = [(r[4], json.loads(r[6]), json.loads(r[7])) for r in rows]
            states[sid] = (decoded[0][1], len(decoded))
            count += len(decoded)
    reader.close()
    return _rate(meter, count, streams=len(states))


def _preload_driver(url: str) -> None:
    """Import the driver before the meter starts (Laurel's is imported by then too)."""
    if _backend(url) == "postgres":
        import psycopg  # noqa: F401


def plain_replay(url: str) -> dict:
    """The limit of replay: one ordered SELECT over the log plus json decoding."""
    _preload_driver(url)
    states: dict[str, Any] = {}
    count = 0
    with Meter() as meter:
        for row in _plain_rows(url, f"SELECT {SELECT_COLUMNS} FROM events ORDER BY position"):
            payload, metadata = json.loads(row[6]), json.loads(row[7])
            if row[3] == 1:
                states[row[2]] = (payload, metadata)
            count += 1
    return _rate(meter, count, streams=len(states))


def plain_replay_fold(url: str) -> dict:
    """The limit of replay with the same fold: one SELECT ordered by stream
    and version, json decoding, each row as the RecordedEvent intake's
    `evolve` takes, folded into the current stream's state (only that one
    held, as `EventStore.replay` does)."""
    from laurel.envelope import RecordedEvent
    from laurel.intake.domain import nomination

    _preload_driver(url)
    evolve = nomination.evolve
    streams = count = 0
    current: str | None = None
    state: Any = None
    with Meter() as meter:
        for row in _plain_rows(url, f"SELECT {SELECT_COLUMNS} FROM events "
                                    "ORDER BY stream_id, version"):
            if row[2] != current:
                current, state = row[2], None
                streams += 1
            state = evolve(state, RecordedEvent(
                position=row[0], event_id=row[1], stream_id=row[2], version=row[3],
                type=row[4], schema_version=row[5], payload=json.loads(row[6]),
                metadata=json.loads(row[7]), recorded_at=row[8], prev_hash=row[9],
                hash=row[10]))
            count += 1
    return _rate(meter, count, streams=streams)


def plain_hash_scan(url: str) -> dict:
    """The limit of verify: the ordered SELECT plus one SHA-256 per row and the links."""
    _preload_driver(url)
    heads: dict[str, str] = {}
    count = broken = 0
    with Meter() as meter:
        for row in _plain_rows(url, f"SELECT {SELECT_COLUMNS} FROM events ORDER BY position"):
            material = json.dumps(list(row[:10]), sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False)
            digest = hashlib.sha256(material.encode("utf-8")).hexdigest()
            if digest != row[10] or heads.get(row[2], "0" * 64) != row[9]:
                broken += 1
            heads[row[2]] = row[10]
            count += 1
    if broken:
        raise AssertionError(f"{broken} rows failed the plain hash check")
    return _rate(meter, count, streams=len(heads))


def _es_ids(app: Any, backend: str, target: str) -> list[Any]:
    """Every aggregate id, straight from the peer's table (as Laurel's DISTINCT)."""
    from uuid import UUID

    table = app.recorder.events_table_name
    if backend == "sqlite":
        conn = sqlite3.connect(target)
        try:
            return [UUID(r[0]) for r in conn.execute(
                f"SELECT DISTINCT originator_id FROM {table}")]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(postgres_dsn(target)) as conn:
        return [r[0] for r in conn.execute(
            f'SELECT DISTINCT originator_id FROM public."{table}"')]


def es_fold_each(backend: str, target: str) -> dict:
    """The peer's rebuild of each aggregate: `repository.get` per id."""
    from laurel_bench.es_peer import make_app

    app = make_app(backend, target)
    with Meter() as meter:
        ids = _es_ids(app, backend, target)
        states = {i: app.repository.get(i) for i in ids}
    count = sum(a.version for a in states.values())
    app.close()
    return _rate(meter, count, streams=len(states))


def es_replay(backend: str, target: str, batch_size: int = 2000) -> dict:
    """The peer's whole log: notifications in order, decoded and applied."""
    from laurel_bench.es_peer import make_app

    app = make_app(backend, target)
    states: dict[Any, Any] = {}
    count = 0
    with Meter() as meter:
        start = 1
        while True:
            notifications = app.recorder.select_notifications(start, batch_size)
            if not notifications:
                break
            for notification in notifications:
                domain_event = app.mapper.to_domain_event(notification)
                oid = domain_event.originator_id
                states[oid] = domain_event.mutate(states.get(oid))
                count += 1
            start = notifications[-1].id + 1
    app.close()
    return _rate(meter, count, streams=len(states), batch_size=batch_size)
