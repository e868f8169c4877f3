"""Workload 3: the same rebuild and verify as the log grows (SQLite).

One SQLite store grows through the sizes (100k, 1M, then 3M events if the
time budget allows): each step adds streams of 20 events as Laurel's own rows,
hash chains included, bulk-inserted (see `stores.bulk_laurel_dataset`; every
round's `verify()` checks each of them), then the
rebuilds and verify of workload 2 and their limits run, each in a fresh
process, `rounds` times. Before each step the runner projects its duration
from the previous step (linear in events) and skips it, saying so, when it
would not fit the remaining budget.

The peer is left out here: building its data set as well would double the
generation time; its ratio to Laurel at equal work is workload 2's.
PostgreSQL is left out for the same reason (its bulk load is ~2x slower).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from laurel_bench.common import (
    Context,
    remove_sqlite,
    run_child,
    run_rounds,
    sqlite_url,
)
from laurel_bench.rebuild import comparisons_for, figures_for, plan_for

SEED = 13
EVENTS_PER_STREAM = 20
FULL_SIZES = [100_000, 1_000_000, 3_000_000]
QUICK_SIZES = [2_000, 10_000]
SAFETY = 1.15  # projections are linear; leave room for the super-linear part


def run(ctx: Context) -> dict[str, Any]:
    sizes = ctx.scale_sizes or (QUICK_SIZES if ctx.quick else FULL_SIZES)
    path = ctx.scratch("scale").with_suffix(".sqlite")
    url = sqlite_url(path)
    steps: list[dict[str, Any]] = []
    figures_out: list[dict[str, Any]] = []
    comparisons: list[Callable[[], dict[str, Any]]] = []
    streams_so_far = 0
    previous: dict[str, Any] | None = None
    try:
        for size in sizes:
            streams = size // EVENTS_PER_STREAM
            if previous is not None:
                projected = _projection(previous, size, ctx.rounds)
                if projected > ctx.remaining():
                    reason = (f"skipped: projected {projected:.0f} s (build "
                              f"{size - previous['events']:,} more events plus "
                              f"{ctx.rounds} rounds of 6 operations, linear from "
                              f"{previous['events']:,} x {SAFETY}) exceeds the "
                              f"{max(ctx.remaining(), 0):.0f} s left of the "
                              f"{ctx.budget_seconds:.0f} s budget")
                    ctx.log(f"  scale {size:,}: {reason}")
                    steps.append({"events": size, "status": "skipped", "reason": reason,
                                  "projected_seconds": projected})
                    continue
            ctx.log(f"  scale {size:,}: adding {streams - streams_so_far:,} streams")
            build = run_child(
                "laurel_bench.stores:bulk_laurel_dataset",
                {"url": url, "seed": SEED, "n_streams": streams - streams_so_far,
                 "events_per_stream": EVENTS_PER_STREAM, "offset": streams_so_far},
                timeout=3600,
            )
            streams_so_far = streams
            figures = figures_for(f"sqlite.{_label(size)}", with_peer=False)
            run_rounds(plan_for(figures, url, None), ctx.rounds, ctx.log)
            step = {
                "events": size, "status": "measured", "streams": streams,
                "build": build, "db_mb": build.get("db_mb"),
                "figures": {name: f.id for name, f in figures.items()},
                "round_seconds": sum(
                    (f.to_json()["seconds"]["median"] or 0) for f in figures.values()),
            }
            steps.append(step)
            previous = step
            figures_out += [f.to_json() for f in figures.values()]
            comparisons += comparisons_for(
                "sqlite", figures, size,
                no_peer="not run at scale; workload 2 has its ratio at equal work")
    finally:
        remove_sqlite(path)
    return {
        "title": "Scale",
        "status": "measured",
        "settings": {
            "backend": "sqlite (WAL, synchronous=FULL)",
            "sizes_requested": sizes,
            "events_per_stream": EVENTS_PER_STREAM,
            "how_the_data_was_made": (
                "one SQLite file grown step by step: each stream's 20 events as the "
                "exact rows EventStore.append writes (computed with Laurel's own "
                "canonical_json and event_hash, chains included), bulk-inserted by "
                "sqlite3 executemany, 500 streams per commit; every round's verify() "
                "rechecks every hash and link"),
            "peer": "not run at scale (its data set would double generation time); "
                    "see workload 2 for its ratio at equal work",
        },
        "steps": steps,
        "growth": _growth(steps, figures_out),
        "figures": figures_out,
        "comparisons": [render() for render in comparisons],
    }


def _label(size: int) -> str:
    if size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    if size % 1_000 == 0:
        return f"{size // 1_000}k"
    return str(size)


def _projection(previous: dict[str, Any], size: int, rounds: int) -> float:
    factor = size / previous["events"]
    build_rate = previous["build"]["rate"] or 1
    build = (size - previous["events"]) / build_rate
    startup = 6 * rounds * 1.0  # a fresh interpreter per measurement
    return SAFETY * (build + rounds * previous["round_seconds"] * factor) + startup


def _growth(steps: list[dict[str, Any]], figures: list[dict[str, Any]]
            ) -> list[dict[str, Any]]:
    """Per operation: time and peak memory at each measured size, and their growth."""
    by_id = {f["id"]: f for f in figures}
    measured = [s for s in steps if s["status"] == "measured"]
    if not measured:
        return []
    rows = []
    for name in measured[0]["figures"]:
        first = by_id[measured[0]["figures"][name]]
        row: dict[str, Any] = {"operation": name, "label": first["label"],
                               "role": first["role"], "sizes": []}
        for step in measured:
            figure = by_id[step["figures"][name]]
            seconds = figure["seconds"]["median"]
            peak = figure["peak_rss_mb"]["median"]
            base_s = first["seconds"]["median"]
            base_m = first["peak_rss_mb"]["median"]
            row["sizes"].append({
                "events": step["events"], "seconds": seconds, "peak_rss_mb": peak,
                "time_x": seconds / base_s if seconds and base_s else None,
                "memory_x": peak / base_m if peak and base_m else None,
                "events_x": step["events"] / measured[0]["events"],
            })
        rows.append(row)
    return rows
