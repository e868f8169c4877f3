"""Workload 2: rebuilding state from the store, beside its limit and its peer.

One data set per backend (streams of 20 events, the same events as workload
1), built untimed; then, round by round, each in a fresh process:
- fold each stream: list the stream ids, `read_stream` each, fold it with
  intake's domain `fold` (every state kept, as a rebuild into memory does);
- replay: `EventStore.replay` folds every stream with intake's `evolve`,
  stream after stream, holding one state at a time;
- verify: `EventStore.verify()` over every hash chain.
Limits: the bare driver doing the same SELECTs plus json decoding (per stream,
and one ordered scan), for replay also the same scan with the same fold
(`plain_replay_fold`, the like-for-like limit; the fold-less scan is kept
beside it), and for verify the ordered scan plus one SHA-256 per
row and the link checks. Peer: `eventsourcing`'s `repository.get` per
aggregate and its notification log read in order; it has no hash chain.
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

SEED = 11
EVENTS_PER_STREAM = 20


def n_streams(quick: bool) -> int:
    return 50 if quick else 1500


def figures_for(prefix: str, with_peer: bool = True
                ) -> dict[str, Figure]:
    figures = {
        "laurel_fold_each": Figure(f"{prefix}.fold_each.laurel",
                                   "Laurel read_stream + intake fold, per stream",
                                   "laurel", "events/s", True),
        "plain_fold_each": Figure(f"{prefix}.fold_each.plain",
                                  "plain SELECT per stream + json decode",
                                  "limit", "events/s", True),
        "laurel_replay": Figure(f"{prefix}.replay.laurel",
                                "Laurel EventStore.replay, stream by stream + intake evolve",
                                "laurel", "events/s", True),
        "plain_replay_fold": Figure(f"{prefix}.replay.plain_fold",
                                    "plain SELECT by stream + json decode + intake evolve",
                                    "limit", "events/s", True),
        "plain_replay": Figure(f"{prefix}.replay.plain",
                               "plain ordered SELECT + json decode (no fold)", "limit",
                               "events/s", True),
        "laurel_verify": Figure(f"{prefix}.verify.laurel", "Laurel EventStore.verify()",
                                "laurel", "events/s", True),
        "plain_hash_scan": Figure(f"{prefix}.verify.plain",
                                  "plain ordered SELECT + SHA-256 + link check",
                                  "limit", "events/s", True),
    }
    if with_peer:
        figures["es_fold_each"] = Figure(f"{prefix}.fold_each.eventsourcing",
                                         "eventsourcing repository.get per aggregate",
                                         "peer", "events/s", True)
        figures["es_replay"] = Figure(f"{prefix}.replay.eventsourcing",
                                      "eventsourcing notification log + mutate",
                                      "peer", "events/s", True)
    return figures


def plan_for(figures: dict[str, Figure], url: str, es_target: dict[str, str] | None
             ) -> list[tuple[Figure, Callable[[], dict[str, Any]]]]:
    def child(func: str, args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
        return lambda: run_child(f"laurel_bench.stores:{func}", args)

    plan = []
    for name, figure in figures.items():
        if name.startswith("es_"):
            plan.append((figure, child(name, es_target or {})))
        else:
            plan.append((figure, child(name, {"url": url})))
    return plan


def comparisons_for(backend: str, figures: dict[str, Figure], events: int,
                    no_peer: str = "") -> list[Callable[[], dict[str, Any]]]:
    where = f"{backend}: {events:,} events"
    peers = {k: [figures[k]] if k in figures else [] for k in ("es_fold_each", "es_replay")}
    return [
        comparison(f"{where}, fold each stream", figures["laurel_fold_each"],
                   [figures["plain_fold_each"]], peers["es_fold_each"], no_peer=no_peer),
        comparison(f"{where}, replay (every stream folded)", figures["laurel_replay"],
                   [figures["plain_replay_fold"], figures["plain_replay"]],
                   peers["es_replay"], no_peer=no_peer),
        comparison(f"{where}, verify every hash chain", figures["laurel_verify"],
                   [figures["plain_hash_scan"]],
                   no_peer="eventsourcing keeps no hash chain: nothing to verify"),
    ]


def run(ctx: Context) -> dict[str, Any]:
    streams = n_streams(ctx.quick)
    events = streams * EVENTS_PER_STREAM
    all_figures: list[Figure] = []
    comparisons: list[Callable[[], dict[str, Any]]] = []
    datasets: dict[str, Any] = {}
    cleanups: list[Callable[[], None]] = []
    plan: list[tuple[Figure, Callable[[], dict[str, Any]]]] = []
    try:
        for backend in ctx.backends():
            figures = figures_for(f"{backend}")
            all_figures += figures.values()
            comparisons += comparisons_for(backend, figures, events)
            if backend == "postgres" and ctx.postgres_problem:
                for figure in figures.values():
                    figure.error = ctx.postgres_problem
                continue
            if backend == "sqlite":
                laurel_path = ctx.scratch("rebuild-laurel").with_suffix(".sqlite")
                es_path = ctx.scratch("rebuild-es").with_suffix(".sqlite")
                url, es_target = sqlite_url(laurel_path), str(es_path)
                cleanups += [lambda p=laurel_path: remove_sqlite(p),
                             lambda p=es_path: remove_sqlite(p)]
            else:
                url, es_target = create_postgres_database(), create_postgres_database()
                cleanups += [lambda u=url: drop_postgres_database(u),
                             lambda u=es_target: drop_postgres_database(u)]
            args = {"seed": SEED, "n_streams": streams,
                    "events_per_stream": EVENTS_PER_STREAM}
            ctx.log(f"  building {backend} data sets: {events:,} events each")
            datasets[backend] = {
                "laurel": run_child("laurel_bench.stores:build_laurel_dataset",
                                    {"url": url, **args}),
                "eventsourcing": run_child("laurel_bench.stores:build_es_dataset",
                                           {"backend": backend, "target": es_target,
                                            **args}),
            }
            plan += plan_for(figures, url, {"backend": backend, "target": es_target})
        run_rounds(plan, ctx.rounds, ctx.log)
    finally:
        for cleanup in cleanups:
            try:
                cleanup()
            except Exception as error:  # a leftover is reported, not fatal
                ctx.log(f"  ! cleanup failed: {error}")
    return {
        "title": "Rebuild",
        "status": "measured",
        "settings": {
            "streams": streams, "events_per_stream": EVENTS_PER_STREAM,
            "events": events, "read_all_batch_size": 2000,
            "datasets": datasets,
            "how_the_data_was_made": (
                "Laurel: EventStore.unit_of_work(), each stream's 20 events by one "
                "UnitOfWork.append, 500 streams per commit (hashes by the store); "
                "eventsourcing: Application.save of 50 aggregates (1,000 events) per call"),
        },
        "figures": [f.to_json() for f in all_figures],
        "comparisons": [render() for render in comparisons],
    }
