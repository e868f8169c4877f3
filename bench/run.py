"""`make bench`: measure Laurel beside its limits and its peer, in one run.

    .venv/bin/python bench/run.py                 # everything (< 20 min, 2 cores)
    .venv/bin/python bench/run.py --quick         # a smoke run with tiny sizes
    .venv/bin/python bench/run.py --only append,rebuild

Writes bench/results.json and bench/RESULTS.md (or into --out). See
bench/README.md for what each workload does and how to read the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from laurel_bench.common import (  # noqa: E402
    BENCH_SITE,
    Context,
    postgres_problem,
)

WORKLOADS = ["append", "rebuild", "scale", "system", "replicas", "campaign"]
# Scale runs last: it takes whatever time the budget has left.
RUN_ORDER = ["append", "rebuild", "system", "replicas", "campaign", "scale"]
# What the workloads after the current one still need, in seconds (full mode).
EXPECTED_SECONDS = {"append": 170, "rebuild": 110, "system": 170, "replicas": 150,
                    "campaign": 800, "scale": 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes: a smoke run of the whole machinery")
    parser.add_argument("--only", default="",
                        help=f"comma-separated workloads to run, of {', '.join(WORKLOADS)}")
    parser.add_argument("--out", type=Path, default=BENCH_DIR,
                        help="where results.json and RESULTS.md go (default bench/)")
    parser.add_argument("--work", type=Path, default=BENCH_DIR / "work",
                        help="scratch space for databases and logs (default bench/work/)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs per figure, at least 3 (default 3)")
    parser.add_argument("--budget-seconds", type=float, default=1140,
                        help="the whole run's time budget; the scale workload "
                             "skips sizes that would not fit (default 1140)")
    parser.add_argument("--scale-sizes", default="",
                        help="comma-separated event counts for the scale workload "
                             "(default 100000,1000000,3000000)")
    parser.add_argument("--skip-install", action="store_true",
                        help="do not install bench/requirements.txt into .venv-bench")
    args = parser.parse_args(argv)

    only = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = sorted(set(only) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; expected some of {WORKLOADS}")
    if args.rounds < 3:
        parser.error("--rounds must be at least 3: each figure is a median of 3 or more")
    _check_laurel_importable()
    if not args.skip_install:
        ensure_bench_requirements()
    sys.path.insert(1, str(BENCH_SITE))

    from laurel_bench import machine, report

    started_wall = datetime.now(UTC)
    args.out.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        quick=args.quick, rounds=args.rounds,
        work_dir=args.work.resolve() / f"run-{os.getpid()}-{int(time.time())}",
        log=_log, postgres_problem=postgres_problem(),
        budget_seconds=args.budget_seconds,
        scale_sizes=[int(s) for s in args.scale_sizes.split(",") if s.strip()] or None,
    )
    selected = [w for w in RUN_ORDER if not only or w in only]
    load = _LOAD
    load.start()
    results: dict = {
        "schema": "laurel-bench/1",
        "started_at": started_wall.isoformat(timespec="seconds"),
        "quick": args.quick,
        "only": only,
        "rounds": args.rounds,
        "budget_seconds": args.budget_seconds,
        "machine": machine.describe(ctx.work_dir),
        "workloads": {},
        "not_measured": [ctx.postgres_problem] if ctx.postgres_problem else [],
        "load": load.summary(),
    }
    _log(f"Laurel bench: {', '.join(selected)}"
         f"{' (quick)' if args.quick else ''}; {args.rounds} rounds; "
         f"results into {args.out}")
    failed = False
    for position, name in enumerate(selected):
        ctx.reserved_seconds = 0 if args.quick else sum(
            EXPECTED_SECONDS[w] for w in selected[position + 1:])
        _log(f"[{name}] starting at {ctx.elapsed():.0f} s")
        began = time.monotonic()
        try:
            module = __import__(f"laurel_bench.{name}", fromlist=["run"])
            outcome = module.run(ctx)
        except Exception:
            failed = True
            outcome = {"title": name, "status": "failed",
                       "reason": traceback.format_exc(limit=8)}
            _log(f"[{name}] FAILED:\n{outcome['reason']}")
        outcome["wall_seconds"] = round(time.monotonic() - began, 1)
        results["workloads"][name] = outcome
        _log(f"[{name}] done in {outcome['wall_seconds']:.0f} s")
        _write(results, args.out, ctx, report)
    shutil.rmtree(ctx.work_dir, ignore_errors=True)  # this run's scratch only
    _write(results, args.out, ctx, report, final=True)
    _log(f"wrote {args.out / 'results.json'} and {args.out / 'RESULTS.md'} "
         f"in {ctx.elapsed():.0f} s")
    return 1 if failed else 0


def _write(results: dict, out: Path, ctx: Context, report: object,
           final: bool = False) -> None:
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["wall_seconds"] = round(ctx.elapsed(), 1)
    results["complete"] = final
    results["load_average_at_end"] = list(os.getloadavg())
    results["load"] = _LOAD.summary()
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False)
                                      + "\n", encoding="utf-8")
    (out / "RESULTS.md").write_text(report.render(results), encoding="utf-8")


class LoadSampler:
    """Samples the load every 5 s, to say how shared the machine was.

    Other work on the same cores (other people's test suites, say) slows every
    figure; the ratios hold, but RESULTS.md must say so.
    """

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.foreign: list[int] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    def _run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            self.foreign.append(_foreign_python_processes())
            time.sleep(5)

    def summary(self) -> dict:
        samples = sorted(self.samples) or [os.getloadavg()[0]]
        foreign = self.foreign or [0]
        busy = sum(1 for n in foreign if n) / len(foreign)
        return {
            "one_minute_load": {"median": samples[len(samples) // 2], "min": samples[0],
                                "max": samples[-1], "samples": len(samples),
                                "every_seconds": 5},
            "cores": len(os.sched_getaffinity(0)),
            "pytest_processes_max": max(foreign),
            "share_of_samples_with_pytest_running": round(busy, 2),
            # Only other test suites make the machine shared: a high load with
            # none of them is the bench's own services and load generators.
            "shared": max(foreign) > 0,
        }


def _foreign_python_processes() -> int:
    """How many pytest processes not of this run are alive right now."""
    mine = os.getpid()
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == mine:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"pytest" in cmdline:
            count += 1
    return count


_LOAD = LoadSampler()


def _log(message: str) -> None:
    print(message, flush=True)


def _check_laurel_importable() -> None:
    try:
        import laurel.eventstore  # noqa: F401
    except ImportError as error:
        sys.exit(f"Laurel is not importable ({error}): run `make install proto` and "
                 "use .venv/bin/python")


def ensure_bench_requirements() -> None:
    """Install bench/requirements.txt into .venv-bench (a --target dir) if stale."""
    requirements = BENCH_DIR / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()
    stamp = BENCH_SITE / ".installed"
    if stamp.exists() and stamp.read_text().strip() == digest:
        return
    _log(f"installing {requirements.name} into {BENCH_SITE} …")
    shutil.rmtree(BENCH_SITE, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--target", str(BENCH_SITE), "-r", str(requirements)],
        check=True,
    )
    stamp.write_text(digest + "\n")


if __name__ == "__main__":
    sys.exit(main())
