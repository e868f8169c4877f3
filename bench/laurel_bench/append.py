"""Workload 1: appending to the event store, beside its limit and its peer.

Two shapes, each on SQLite and PostgreSQL:
- many streams of 20 events, one transaction per command (one event each),
  the streams interleaved version by version as a campaign advances them;
- one long stream, one transaction per command.

Beside Laurel's `EventStore.append`, in the same rounds:
- limit: the bare driver inserting byte-identical rows (computed untimed) into
  the same table, one transaction per event, and batched (1,000 per commit);
- peer: the `eventsourcing` library, `Application.save` per command.
Every run starts from an empty database of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from laurel_bench.common import (
    Context,
    Figure,
    comparison,
    create_postgres_database,
    drop_postgres_database,
    remove_sqlite,
    run_child,
    run_rounds,
    sqlite_url,
)

SEED = 7
BATCH_ROWS = 1000


def shapes(quick: bool) -> dict[str, dict[str, int]]:
    if quick:
        return {"many_streams": {"n_streams": 10, "events_per_stream": 20},
                "long_stream": {"n_streams": 1, "events_per_stream": 100}}
    return {"many_streams": {"n_streams": 200, "events_per_stream": 20},
            "long_stream": {"n_streams": 1, "events_per_stream": 1000}}


def _measure(ctx: Context, backend: str, func: str, args: dict[str, Any],
             es: bool = False) -> Callable[[], dict[str, Any]]:
    """A closure that runs one child against a fresh, throwaway database."""

    def measure() -> dict[str, Any]:
        if backend == "sqlite":
            path = ctx.scratch("append").with_suffix(".sqlite")
            target = {"backend": "sqlite", "target": str(path)} if es else {
                "url": sqlite_url(path)}
            try:
                return run_child(func, {**target, **args})
            finally:
                remove_sqlite(path)
        url = create_postgres_database()
        target = {"backend": "postgres", "target": url} if es else {"url": url}
        try:
            return run_child(func, {**target, **args})
        finally:
            drop_postgres_database(url)

    return measure


def run(ctx: Context) -> dict[str, Any]:
    figures: list[tuple[Figure, Callable[[], dict[str, Any]]]] = []
    comparisons = []
    for backend in ctx.backends():
        for shape, size in shapes(ctx.quick).items():
            args = {"seed": SEED, **size}
            prefix = f"{backend}.{shape}"
            laurel = Figure(f"{prefix}.laurel", "Laurel EventStore.append, 1 tx/command",
                            "laurel", "events/s", True)
            per_event = Figure(f"{prefix}.plain_per_event_tx",
                               f"plain {_driver(backend)} INSERT, 1 tx/event",
                               "limit", "events/s", True)
            batched = Figure(f"{prefix}.plain_batched",
                             f"plain {_driver(backend)} executemany, "
                             f"{BATCH_ROWS} rows/tx", "limit", "events/s", True)
            peer = Figure(f"{prefix}.eventsourcing",
                          "eventsourcing Application.save, 1 tx/command",
                          "peer", "events/s", True)
            batch_args = {**args, "batch_rows": BATCH_ROWS}
            plan = [
                (laurel, _measure(ctx, backend, "laurel_bench.stores:laurel_append", args)),
                (per_event, _measure(ctx, backend, "laurel_bench.stores:plain_insert",
                                     {**args, "batch_rows": 1})),
                (batched, _measure(ctx, backend, "laurel_bench.stores:plain_insert",
                                   batch_args)),
                (peer, _measure(ctx, backend, "laurel_bench.stores:es_append", args,
                                es=True)),
            ]
            if backend == "postgres" and ctx.postgres_problem:
                for figure, _ in plan:
                    figure.error = ctx.postgres_problem
            figures += plan
            events = size["n_streams"] * size["events_per_stream"]
            comparisons.append(comparison(
                f"{backend}: {_shape_label(shape, size)} ({events:,} events)",
                laurel, [per_event, batched], [peer],
            ))
    run_rounds(figures, ctx.rounds, ctx.log)
    peer_sqlite = next((r["sqlite_settings"] for f, _ in figures
                        if f.id.startswith("sqlite.") and f.role == "peer"
                        for r in f.runs if r.get("sqlite_settings")), None)
    return {
        "title": "Event store append",
        "status": "measured",
        "settings": {
            "shapes": shapes(ctx.quick),
            "events_per_command": 1,
            "batched_limit_rows_per_transaction": BATCH_ROWS,
            "payloads": "the demo's henan-2021 sample as NominationSubmitted, then 19 "
                        "follow-up events (endorse, assign, score, decide) of 100-200 "
                        "bytes; metadata with actor, correlation id and traceparent",
            "outbox": "not written (a bare store append; intake's own appends add "
                      "one outbox row per event)",
            "fresh_database_per_run": True,
            "peer_sqlite_settings": (
                f"journal_mode={peer_sqlite['journal_mode']}, synchronous="
                f"{peer_sqlite['synchronous']} (eventsourcing's own, read back)"
                if peer_sqlite else "not read"),
            "limit_sqlite_settings": "journal_mode=WAL, synchronous=FULL, BEGIN IMMEDIATE "
                                     "(as Laurel's engine_for)",
        },
        "figures": [f.to_json() for f, _ in figures],
        "comparisons": [render() for render in comparisons],
    }


def _driver(backend: str) -> str:
    return "sqlite3" if backend == "sqlite" else "psycopg"


def _shape_label(shape: str, size: dict[str, int]) -> str:
    if shape == "many_streams":
        return f"{size['n_streams']:,} streams x {size['events_per_stream']} events"
    return f"one stream of {size['events_per_stream']:,} events"
