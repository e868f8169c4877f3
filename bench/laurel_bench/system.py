"""Workload 4: the running system — intake and notification as real processes.

Each round starts a fresh Tansu broker, intake and notification (each
`python -m laurel.<service>` with its SQLite store, as `laurel up` runs them),
registers one hospital per submission to come, then, from a client process:
- throughput at saturation: closed-loop SubmitNomination at several
  concurrencies, the best of them being the saturation throughput;
- latency at a fixed offered rate (open loop, half of round 1's saturation,
  the same rate for Laurel, its limit and its peer);
- end to end: one submission at a time, from the call until the receipt shows
  in the nominator's inbox (ListNotifications polled every 5 ms);
- each process's peak memory (VmHWM) before it is stopped.
Beside them, in the same round: the limit — the same gRPC service answering
at once (transport and client alone), and a Kafka produce→consume round trip
on the same broker; the peer — the same gRPC service saving an
`eventsourcing` aggregate per call to SQLite.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from laurel_bench.common import Context, Figure, comparison, run_child
from laurel_bench.services import BaselineServer, Stack


def sizes(quick: bool) -> dict[str, Any]:
    if quick:
        return {"levels": [1, 4], "per_level": 10, "fixed_count": 10, "e2e_count": 3,
                "rtt_count": 10, "default_rate": 20.0}
    return {"levels": [1, 8, 32], "per_level": 300, "fixed_count": 400, "e2e_count": 200,
            "rtt_count": 200, "default_rate": 50.0}


class SystemFigures:
    def __init__(self) -> None:
        def fig(fid: str, label: str, role: str, unit: str, key: str,
                higher: bool = False) -> Figure:
            return Figure(fid, label, role, unit, higher, value_key=key)

        self.sat = {
            "laurel": fig("submit.saturation.laurel", "intake SubmitNomination, best "
                          "closed-loop throughput", "laurel", "requests/s", "rate", True),
            "limit": fig("submit.saturation.noop", "same gRPC service, no-op handler",
                         "limit", "requests/s", "rate", True),
            "peer": fig("submit.saturation.eventsourcing", "same gRPC service, "
                        "eventsourcing save", "peer", "requests/s", "rate", True),
        }
        self.lat: dict[str, dict[str, Figure]] = {}
        for q in ("p50", "p95", "p99"):
            self.lat[q] = {
                "laurel": fig(f"submit.{q}.laurel", f"intake SubmitNomination {q} at the "
                              "fixed rate", "laurel", "ms", f"{q}_ms"),
                "limit": fig(f"submit.{q}.noop", f"no-op gRPC {q}", "limit", "ms",
                             f"{q}_ms"),
                "peer": fig(f"submit.{q}.eventsourcing", f"eventsourcing gRPC {q}", "peer",
                            "ms", f"{q}_ms"),
            }
        self.e2e: dict[str, dict[str, Figure]] = {}
        for q in ("p50", "p95", "p99"):
            self.e2e[q] = {
                "laurel": fig(f"e2e.{q}.laurel", f"submission → receipt in inbox, {q}",
                              "laurel", "ms", f"{q}_ms"),
                "limit": fig(f"e2e.{q}.kafka", f"Kafka produce (acks=all) → consume, {q}",
                             "limit", "ms", f"{q}_ms"),
            }
        self.mem = {
            "intake": fig("memory.intake", "intake process peak RSS", "laurel", "MB",
                          "peak_rss_mb"),
            "notification": fig("memory.notification", "notification process peak RSS",
                                "laurel", "MB", "peak_rss_mb"),
            "broker": fig("memory.broker", "Tansu broker peak RSS", "limit", "MB",
                          "peak_rss_mb"),
            "limit": fig("memory.noop", "no-op gRPC server peak RSS", "limit", "MB",
                         "peak_rss_mb"),
            "peer": fig("memory.eventsourcing", "eventsourcing gRPC server peak RSS",
                        "peer", "MB", "peak_rss_mb"),
        }

    def all(self) -> list[Figure]:
        found = list(self.sat.values())
        for group in (*self.lat.values(), *self.e2e.values()):
            found += group.values()
        return found + list(self.mem.values())


def run(ctx: Context) -> dict[str, Any]:
    size = sizes(ctx.quick)
    figs = SystemFigures()
    rate: float | None = None
    rounds_log: list[dict[str, Any]] = []
    notes: list[str] = []
    not_measured: list[str] = []
    per_round = len(size["levels"]) * size["per_level"] + size["fixed_count"] \
        + size["e2e_count"] + 1
    for round_no in range(1, ctx.rounds + 1):
        tag = uuid.uuid4().hex[:6]
        record: dict[str, Any] = {"round": round_no}
        # Laurel: broker + intake + notification
        stack = Stack(ctx.scratch("system"))
        try:
            stack.start()
            prep = run_child("laurel_bench.load:prepare", {
                "address": stack.address("intake"), "tag": tag, "hospitals": per_round + 2})
            record["prepare"] = prep
            for note in prep["notes"]:
                if note not in notes:
                    notes.append(note)
            if not prep["probe"].get("ok"):
                raise RuntimeError(
                    f"intake refused the probe submission: {prep['probe'].get('code')} "
                    f"{prep['probe'].get('details')}")
            registered = prep["registered"]
            first = 0
            best = _saturate(ctx, figs.sat["laurel"], stack.address("intake"), tag,
                             registered, size, round_no, first)
            first += len(size["levels"]) * size["per_level"]
            if rate is None:
                rate = round(max(best or 0, 2 * size["default_rate"]) / 2, 1)
                ctx.log(f"  fixed offered rate for every round and server: {rate}/s")
            _fixed(ctx, figs.lat, "laurel", stack.address("intake"), tag, registered,
                   size, rate, round_no, first)
            first += size["fixed_count"]
            e2e = run_child("laurel_bench.load:end_to_end", {
                "intake": stack.address("intake"),
                "notification": stack.address("notification"), "tag": tag,
                "registered": registered, "first": first, "count": size["e2e_count"]})
            record["end_to_end"] = e2e
            ctx.log(f"  round {round_no} e2e submission→receipt p50 "
                    f"{e2e['p50_ms'] or 0:.1f} ms p99 {e2e['p99_ms'] or 0:.1f} ms "
                    f"({e2e['ok']} ok, {e2e['missing']} missing)")
            for group in figs.e2e.values():
                group["laurel"].add(dict(e2e, round=round_no))
            memory = stack.memory()
            record["memory"] = memory
            for name in ("intake", "notification", "broker"):
                if name in memory:
                    figs.mem[name].add({"round": round_no, **memory[name]})
            ctx.log(f"  round {round_no} peak RSS: " + ", ".join(
                f"{k} {v['peak_rss_mb']:.0f} MB" for k, v in memory.items()))
            rtt = run_child("laurel_bench.load:kafka_round_trip", {
                "bootstrap": stack.broker.bootstrap, "count": size["rtt_count"]})
            for group in figs.e2e.values():
                group["limit"].add(dict(rtt, round=round_no))
            ctx.log(f"  round {round_no} kafka round trip p50 {rtt['p50_ms']:.2f} ms")
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            ctx.log(f"  ! laurel round {round_no}: {message.splitlines()[0]}")
            record["error"] = message
            if round_no == 1:
                not_measured.append(f"the running system (round 1): {message[:600]}")
        finally:
            stack.stop()
        offered = rate or size["default_rate"]
        for mode, role in (("noop", "limit"), ("eventsourcing", "peer")):
            server = BaselineServer(mode, ctx.scratch(f"baseline-{mode}"))
            try:
                server.start()
                _saturate(ctx, figs.sat[role], server.address, tag, False, size,
                          round_no, 0)
                _fixed(ctx, figs.lat, role, server.address, tag, False, size, offered,
                       round_no, len(size["levels"]) * size["per_level"])
                figs.mem[role].add({"round": round_no, **server.memory()})
            except Exception as error:
                ctx.log(f"  ! {mode} round {round_no}: {error}")
                record[f"{mode}_error"] = str(error)
            finally:
                server.stop()
        rounds_log.append(record)
    first_error = next((r["error"] for r in rounds_log if r.get("error")), "")
    for figure in figs.all():
        if figure.role == "laurel" and not figure.runs and first_error:
            figure.error = first_error
    comparisons = _comparisons(figs)
    status = "measured" if figs.sat["laurel"].runs else "not measured"
    return {
        "title": "The running system",
        "status": status,
        "reason": "; ".join(not_measured) if status != "measured" else "",
        "settings": {
            "services": "intake and notification as `python -m laurel.<service>` "
                        "subprocesses, SQLite stores (WAL, synchronous=FULL), one Tansu "
                        "broker (memory) per round, LAUREL_ENV=development, default "
                        "outbox poll interval",
            "outbox_poll_ms": _outbox_poll_ms(),
            "client": "one asyncio grpc.aio client process on the same 2 cores",
            "saturation_concurrency_levels": size["levels"],
            "requests_per_level": size["per_level"],
            "fixed_rate_requests": size["fixed_count"],
            "offered_rate_per_s": rate,
            "end_to_end_samples_per_round": size["e2e_count"],
            "kafka_round_trip_samples": size["rtt_count"],
            "hospitals": "one registered hospital per submission (quotas never refuse)",
        },
        "rounds": rounds_log,
        "notes": notes,
        "not_measured": not_measured,
        "figures": [f.to_json() for f in figs.all()],
        "comparisons": [render() for render in comparisons],
    }


def _saturate(ctx: Context, figure: Figure, address: str, tag: str, registered: bool,
              size: dict[str, Any], round_no: int, first: int) -> float | None:
    levels = []
    for i, concurrency in enumerate(size["levels"]):
        result = run_child("laurel_bench.load:saturation", {
            "address": address, "tag": tag, "registered": registered,
            "first": first + i * size["per_level"], "count": size["per_level"],
            "concurrency": concurrency})
        levels.append(result)
    best = max(levels, key=lambda r: r["rate"])
    figure.add({"round": round_no, "rate": best["rate"], "seconds": best["seconds"],
                "best_concurrency": best["concurrency"], "levels": levels,
                "errors": {k: v for r in levels for k, v in r["errors"].items()}})
    ctx.log(f"  round {round_no} {figure.id:<36} " + ", ".join(
        f"c={r['concurrency']}: {r['rate']:.0f}/s" for r in levels)
        + (f"  errors {best['errors']}" if best["errors"] else ""))
    return best["rate"]


def _fixed(ctx: Context, groups: dict[str, dict[str, Figure]], role: str, address: str,
           tag: str, registered: bool, size: dict[str, Any], rate: float, round_no: int,
           first: int) -> None:
    result = run_child("laurel_bench.load:fixed_rate", {
        "address": address, "tag": tag, "registered": registered, "first": first,
        "count": size["fixed_count"], "rate": rate})
    for group in groups.values():
        group[role].add(dict(result, round=round_no))
    shown = ", ".join(f"{q} {result[f'{q}_ms']:.1f} ms" for q in ("p50", "p95", "p99")
                      if result[f"{q}_ms"] is not None)
    ctx.log(f"  round {round_no} {role:<8} at {rate}/s: {shown or 'no successful call'}"
            + (f"  errors {result['errors']}" if result["errors"] else ""))


def _comparisons(figs: SystemFigures) -> list[Callable[[], dict[str, Any]]]:
    found = [comparison("SubmitNomination throughput at saturation",
                        figs.sat["laurel"], [figs.sat["limit"]], [figs.sat["peer"]])]
    for q, group in figs.lat.items():
        found.append(comparison(f"SubmitNomination latency {q} at the fixed rate",
                                group["laurel"], [group["limit"]], [group["peer"]]))
    for q, group in figs.e2e.items():
        found.append(comparison(
            f"end to end {q}: submission → receipt", group["laurel"], [group["limit"]],
            no_peer="eventsourcing has no broker integration to go end to end with"))
    found.append(comparison("intake peak memory", figs.mem["intake"],
                            [figs.mem["limit"]], [figs.mem["peer"]]))
    found.append(comparison("notification peak memory", figs.mem["notification"],
                            [figs.mem["limit"]], [figs.mem["peer"]]))
    return found


def _outbox_poll_ms() -> Any:
    """The relay's idle poll interval the services run with (their default)."""
    try:
        from laurel.config import Settings

        return Settings.outbox_poll_ms
    except Exception:
        return "unknown"
