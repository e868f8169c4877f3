"""Measures what the operator guide's capacity section says: events, database
size and service memory for a demo campaign of N nominations, on PostgreSQL.

For each size it starts the dev stack (`laurel up`'s DevStack: the broker,
the four services as processes, the AuditService) on fresh databases on the
given server, runs the demo campaign with that many nominations, then reads
each service's event count, the size of its tables and indexes
(pg_total_relation_size, summed) and the peak resident memory of its process
(VmHWM), and drops the databases. Two sizes give the cost per nomination
(the difference) apart from the campaign's fixed part.

    python deploy/tools/capacity.py --database postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from laurel.config import SERVICES
from laurel.demo import run_demo
from laurel.devstack import DevStack, postgres_url, run_name


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(server: str, size: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="laurel-capacity-") as folder:
        data_dir = Path(folder) / f"capacity-{size}"
        stack = DevStack(data_dir, database_server=server)
        found: dict[str, dict[str, float]] = {}
        try:
            stack.start()
            with contextlib.redirect_stdout(io.StringIO()):
                code = run_demo({s: stack.address(s) for s in (*SERVICES, "audit")},
                                data_dir, size)
            if code != 0:
                logs = {p.name: p.read_text()[-2000:] for p in stack.logs.glob("*.log")}
                raise SystemExit(f"the demo campaign of {size} failed (exit {code}): "
                                 f"{json.dumps(logs, indent=1)}")
            for service in SERVICES:
                found[service] = {"rss_mb": _peak_rss_mb(stack.processes[service].pid)}
        finally:
            stack.stop()
        for service, url in stack.databases.items():
            engine = create_engine(url)
            with engine.connect() as conn:
                found[service]["events"] = conn.execute(
                    text("SELECT count(*) FROM events")).scalar_one()
                found[service]["bytes"] = int(conn.execute(text(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'r' AND n.nspname = 'public'")).scalar_one())
            engine.dispose()
        _drop(server, run_name(data_dir))
    return found


def _drop(server: str, run: str) -> None:
    base = postgres_url(server)
    admin = create_engine(base.set(database=base.database or "postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for service in SERVICES:
            conn.execute(text(f'DROP DATABASE IF EXISTS "laurel_{run}_{service}" WITH (FORCE)'))
    admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="a PostgreSQL server URL")
    parser.add_argument("--sizes", default="8,20", help="two campaign sizes (default 8,20)")
    args = parser.parse_args(argv)
    small, large = (int(s) for s in args.sizes.split(","))
    runs = {size: measure(args.database, size) for size in (small, large)}
    per = large - small
    report: dict[str, object] = {"server": make_url(postgres_url(args.database))
                                 .render_as_string(hide_password=True), "runs": runs}
    rows = []
    for service in SERVICES:
        a, b = runs[small][service], runs[large][service]
        rows.append({
            "service": service,
            "events_per_nomination": (b["events"] - a["events"]) / per,
            "fixed_events": a["events"] - small * (b["events"] - a["events"]) / per,
            "bytes_per_nomination": (b["bytes"] - a["bytes"]) / per,
            "peak_rss_mb": max(a["rss_mb"], b["rss_mb"]),
        })
    report["per_service"] = rows
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
