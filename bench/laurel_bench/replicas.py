"""Workload 5: two intake replicas on one PostgreSQL store.

Each round runs, in alternating order, one intake process and then two (or
two, then one), each time on a fresh PostgreSQL database and a fresh Tansu
broker, both replicas on the same database (`LAUREL_DATABASE_URL`); the
leadership lock (`laurel.leadership`) makes one of them the store's only
publisher. The same load generator as the system workload's saturation
figure (`load:saturation`, closed loop, the best of a few concurrencies)
sends SubmitNomination, its callers taking turns between the replicas.

Reported, per configuration and round:
- throughput at saturation, and two replicas' as a ratio to one replica's in
  the same round;
- CPU per successful request: the client process, the broker, the intake
  processes and the PostgreSQL backends serving the bench's database (read
  from /proc/<pid>/stat before and after; the server's shared background
  processes, WAL writer and checkpointer, are not counted, since other
  users of the server share them);
- duplicates on the topic: once the outbox is fully marked, every event id
  read back from intake's topic; any id seen twice is a duplicate (must be 0:
  one publisher per store).
The client, the broker, PostgreSQL and the replicas share the 2 cores: two
replicas can only gain what the single one leaves idle.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from laurel_bench.common import (
    Context,
    Figure,
    comparison,
    create_postgres_database,
    drop_postgres_database,
    postgres_dsn,
    run_child,
)
from laurel_bench.services import Stack

CONFIGS = {1: "one", 2: "two"}


def sizes(quick: bool) -> dict[str, Any]:
    if quick:
        return {"levels": [4], "per_level": 20}
    return {"levels": [8, 32], "per_level": 250}


def _ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def _postgres_backends(database: str) -> list[int]:
    """The server processes serving `database` (their titles name it)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                title = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {database} " in title:
            found.append(int(entry))
    return found


class CpuWatch:
    """CPU seconds of some processes between `start` and `stop`: fixed ones
    (intake, broker) and the PostgreSQL backends of one database, which come
    and go (one seen only at the end counts from zero)."""

    def __init__(self, named: dict[str, int], database: str) -> None:
        self.named = named
        self.database = database
        self.tick = os.sysconf("SC_CLK_TCK")

    def _snapshot(self) -> dict[str, dict[int, int]]:
        found = {name: {pid: _ticks(pid)} for name, pid in self.named.items()}
        found["postgres"] = {pid: _ticks(pid) for pid in _postgres_backends(self.database)}
        return found

    def start(self) -> None:
        self._before = self._snapshot()

    def stop(self) -> dict[str, float]:
        after = self._snapshot()
        used: dict[str, float] = {}
        for name, pids in after.items():
            before = self._before.get(name, {})
            used[name] = sum(max(ticks - before.get(pid, 0), 0)
                             for pid, ticks in pids.items()) / self.tick
        return used


def run(ctx: Context) -> dict[str, Any]:
    title = "Two intake replicas on PostgreSQL"
    if ctx.postgres_problem:
        return {"title": title, "status": "not measured", "reason": ctx.postgres_problem}
    size = sizes(ctx.quick)
    fig = {
        n: {
            "sat": Figure(f"replicas.saturation.{word}",
                          f"{word} intake replica{'s' if n > 1 else ''}, best closed-loop "
                          "SubmitNomination throughput", "laurel" if n > 1 else "limit",
                          "requests/s", True, value_key="rate"),
            "cpu": Figure(f"replicas.cpu_per_request.{word}",
                          f"CPU per request, {word} replica{'s' if n > 1 else ''} (client, "
                          "broker, intake, PostgreSQL backends)",
                          "laurel" if n > 1 else "limit", "ms", False,
                          value_key="cpu_ms_per_request"),
            "dup": Figure(f"replicas.duplicates.{word}",
                          f"event ids seen twice on intake's topic, {word} "
                          f"replica{'s' if n > 1 else ''}", "laurel" if n > 1 else "limit",
                          "events", False, value_key="duplicates"),
        }
        for n, word in CONFIGS.items()
    }
    rounds_log: list[dict[str, Any]] = []
    not_measured: list[str] = []
    for round_no in range(1, ctx.rounds + 1):
        order = [1, 2] if round_no % 2 else [2, 1]
        record: dict[str, Any] = {"round": round_no, "order": order}
        for replicas in order:
            try:
                outcome = _one(ctx, replicas, size)
            except Exception as error:
                message = f"{type(error).__name__}: {error}"
                ctx.log(f"  ! {replicas} replica(s), round {round_no}: "
                        f"{message.splitlines()[0]}")
                record[f"error_{replicas}"] = message
                if round_no == 1:
                    not_measured.append(f"{replicas} replica(s), round 1: {message[:600]}")
                continue
            record[CONFIGS[replicas]] = outcome
            run_ = {"round": round_no, **outcome}
            for figure in fig[replicas].values():
                figure.add(run_)
            ctx.log(f"  round {round_no} {replicas} replica(s): "
                    f"{outcome['rate']:.0f}/s (" + ", ".join(
                        f"c={r['concurrency']}: {r['rate']:.0f}/s" for r in outcome["levels"])
                    + f"), {outcome['cpu_ms_per_request']:.1f} ms CPU/request "
                    f"{_shares(outcome['cpu_seconds_by_process'])}, "
                    f"{outcome['duplicates']} duplicates of {outcome['topic']['records']} "
                    "records")
        rounds_log.append(record)
    figures = [f for group in fig.values() for f in group.values()]
    ratios = comparison("SubmitNomination throughput at saturation: two replicas "
                        "(limit column: one replica, same round)",
                        fig[2]["sat"], [fig[1]["sat"]],
                        no_peer="the peer has no replicas to compare")
    cpu = comparison("CPU per request (below 1×: two replicas spend more per request)",
                     fig[2]["cpu"], [fig[1]["cpu"]], no_peer="not compared")
    rendered = [ratios(), cpu()]
    duplicates = sum(fig[2]["dup"].values()) + sum(fig[1]["dup"].values())
    ratio = rendered[0]["against"][0]["ratio"]
    publishers = sorted({len(r["publishers"]) for r in fig[2]["sat"].runs})
    summary = (f"**Two replicas: {ratio['median']:.2f}× one replica's throughput** "
               f"[{ratio['min']:.2f}–{ratio['max']:.2f}] (target ≥ 1.4×); duplicates on "
               f"the topic over every round and configuration: **{duplicates:g}**; "
               f"relays that published in a two-replica run: {publishers} (one expected)."
               if ratio.get("median") else "")
    status = "measured" if fig[2]["sat"].runs and fig[1]["sat"].runs else "not measured"
    return {
        "title": title,
        "status": status,
        "reason": "; ".join(not_measured) if status != "measured" else "",
        "summary": summary,
        "settings": {
            "services": "intake as `python -m laurel.intake`, one or two processes on one "
                        "fresh PostgreSQL database per configuration and round, one Tansu "
                        "broker (memory) each, LAUREL_ENV=development",
            "publisher": "one per store (laurel.leadership's advisory lock)",
            "client": "load:saturation, as the system workload's saturation figure; its "
                      "callers alternate between the replicas",
            "saturation_concurrency_levels": size["levels"],
            "requests_per_level": size["per_level"],
            "order": "one then two replicas in odd rounds, two then one in even rounds",
            "cpu": "client + broker + intake processes + the database's PostgreSQL "
                   "backends, from /proc/<pid>/stat, over the saturation levels",
        },
        "rounds": rounds_log,
        "notes": [],
        "not_measured": not_measured,
        "figures": [f.to_json() for f in figures],
        "comparisons": rendered,
    }


def _shares(used: dict[str, float]) -> str:
    return "(" + ", ".join(f"{k} {v:.1f}s" for k, v in used.items()) + ")"


def _one(ctx: Context, replicas: int, size: dict[str, Any]) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    url = create_postgres_database()
    database = make_url(url).database or ""
    stack = Stack(ctx.scratch(f"replicas-{replicas}"), services=("intake",),
                  database_url=url, intake_replicas=replicas)
    tag = uuid.uuid4().hex[:6]
    count = len(size["levels"]) * size["per_level"]
    try:
        stack.start()
        names = [name for name, _ in stack.instances()]
        addresses = ",".join(stack.address(name) for name in names)
        prep = run_child("laurel_bench.load:prepare", {
            "address": stack.address("intake"), "tag": tag, "hospitals": count + 2})
        if not prep["probe"].get("ok"):
            raise RuntimeError(f"intake refused the probe submission: "
                               f"{prep['probe'].get('code')} {prep['probe'].get('details')}")
        _until_published(url)
        watch = CpuWatch({**{n: stack.processes[n].pid for n in names},
                          "broker": stack.broker.process.pid}, database)
        levels = []
        watch.start()
        for i, concurrency in enumerate(size["levels"]):
            levels.append(run_child("laurel_bench.load:saturation", {
                "address": addresses, "tag": tag, "registered": prep["registered"],
                "first": i * size["per_level"], "count": size["per_level"],
                "concurrency": concurrency}))
        used = watch.stop()
        used["client"] = sum(r["cpu_seconds"] for r in levels)
        ok = sum(r["ok"] for r in levels)
        published = _until_published(url)
        topic = run_child("laurel_bench.load:topic_event_ids", {
            "bootstrap": stack.broker.bootstrap, "topic": _intake_topic(),
            "expected": published})
        best = max(levels, key=lambda r: r["rate"])
        return {
            "rate": best["rate"], "seconds": best["seconds"],
            "best_concurrency": best["concurrency"], "levels": levels,
            "errors": {k: v for r in levels for k, v in r["errors"].items()},
            "ok": ok, "cpu_seconds_by_process": {k: round(v, 2) for k, v in used.items()},
            "cpu_ms_per_request": sum(used.values()) / ok * 1000 if ok else None,
            "duplicates": topic["duplicates"], "topic": topic,
            "publishers": _publishers(stack.data_dir / "logs", names),
        }
    finally:
        stack.stop()
        drop_postgres_database(url)


def _intake_topic() -> str:
    from laurel.config import Topics

    return Topics().intake


def _until_published(url: str, timeout: float = 60.0) -> int:
    """Wait until no outbox row waits; how many rows the outbox holds."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(postgres_dsn(url), autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT count(*), count(*) FILTER (WHERE published_at IS "
                               "NULL) FROM outbox").fetchone()
            total, waiting = (row or (0, 0))
            if not waiting:
                return int(total)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{waiting} outbox rows still unpublished after "
                                   f"{timeout:.0f}s")
            time.sleep(0.2)


def _publishers(logs: Path, names: Iterable[str]) -> list[str]:
    """Which processes' relays published (their logs say `connected`)."""
    found = []
    for name in names:
        try:
            if "outbox relay: connected" in (logs / f"{name}.log").read_text(errors="replace"):
                found.append(name)
        except OSError:
            pass
    return found
