"""Failures say what the reader can act on, and nothing an attacker could use.

An unexpected error in a handler reaches the caller as INTERNAL with an
opaque reference, and nothing of the cause (no host, port, SQL, driver or
file text); the log has the cause, with its traceback, under that
reference. The errors are forced for real: on SQLite a read model's table is
dropped under the running service; on PostgreSQL the service's database
refuses connections and its sessions are terminated.

A start-up that cannot succeed (a malformed database URL, an unreachable
server, a read-only, corrupt or truncated SQLite store) prints one line
naming the cause and exits non-zero, with no traceback; `laurel audit
verify` reports a corrupt store in one line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy.engine import make_url

from laurel.auth import call_metadata
from laurel.broker import free_port
from laurel.demo import ORGANIZER
from laurel.intake.v1 import intake_pb2, intake_pb2_grpc

REFERENCE = re.compile(r"^internal error, reference ([0-9a-f]{16}): ")
# What must not reach a caller (the ports are this machine's).
LEAKS = ("127.0.0.1", "localhost", "5432", "SELECT", "FROM ", "sqlite", "psycopg",
         "OperationalError", "Traceback", "nominations", "database or disk")


@contextmanager
def broken(url: str, ops: Any) -> Iterator[str]:
    """The store fails under the running service; yields what its log says."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with sqlite3.connect(parsed.database or "") as conn:
            conn.execute("DROP TABLE nominations")  # a read model: rebuildable
        yield "no such table: nominations"
        return
    with ops.database_down(url):
        yield "not currently accepting connections"


def list_nominations(address: str) -> Any:
    with grpc.insecure_channel(address) as channel:
        return intake_pb2_grpc.IntakeServiceStub(channel).ListNominations(
            intake_pb2.ListNominationsRequest(campaign_id="henan-2021"),
            metadata=call_metadata(ORGANIZER), timeout=15)


@pytest.mark.slow
def test_an_unexpected_error_is_internal_with_a_reference_and_the_cause_is_logged(
    processes: Any, kafka_broker: Any, database_url: str, ops: Any
) -> None:
    intake = processes.start("intake", processes.environment(
        LAUREL_KAFKA_BOOTSTRAP=kafka_broker.bootstrap, LAUREL_DATABASE_URL=database_url))
    list_nominations(intake.address)  # works

    with broken(database_url, ops) as cause, pytest.raises(grpc.RpcError) as raised:
        list_nominations(intake.address)
    error = raised.value
    assert error.code() == grpc.StatusCode.INTERNAL, error
    details = error.details() or ""
    found = REFERENCE.match(details)
    assert found, details
    assert not [leak for leak in LEAKS if leak in details], details

    # The operators find the cause under the reference the caller was given
    # (the call's request line is written as it ends, just after the reply).
    def internal_calls() -> list[dict[str, Any]]:
        return [r for r in map(json.loads, intake.records())
                if r["logger"] == "laurel.grpc.requests" and r["grpc_code"] == "INTERNAL"]

    [request] = ops.wait_until(internal_calls, "the request line of the failed call")
    records = [json.loads(line) for line in intake.records()]
    [logged] = [r for r in records if r.get("error_id") == found.group(1)]
    assert logged["level"] == "ERROR" and found.group(1) in logged["message"]
    assert cause in logged["traceback"] and logged["trace_id"]
    assert request["grpc_method"] == "laurel.intake.v1.IntakeService/ListNominations"
    assert request["trace_id"] == logged["trace_id"]


# -- start-up --------------------------------------------------------------------------


def start_once(folder: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}
    env.update({"LAUREL_ENV": "development", "LAUREL_GRPC_HOST": "127.0.0.1",
                "LAUREL_GRPC_PORT": str(free_port()), "LAUREL_DATA_DIR": str(folder),
                "LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9", "LAUREL_DATABASE_URL": url})
    return subprocess.run([sys.executable, "-m", "laurel.intake"], env=env,
                          capture_output=True, text=True, timeout=120)


def the_one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The line saying why the start failed, after checking there is just it."""
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out, out
    records = [json.loads(line) for line in out.splitlines()]  # JSON, every one
    failures = [r for r in records if r["level"] in ("ERROR", "CRITICAL")]
    assert len(failures) == 1, out
    [message] = [f["message"] for f in failures]
    assert "\n" not in message
    return str(message)


@pytest.fixture
def valid_store(tmp_path: Path) -> Path:
    """An intake store as `laurel migrate` makes it."""
    store = tmp_path / "stores" / "made.sqlite"
    store.parent.mkdir()
    subprocess.run([sys.executable, "-m", "laurel.cli", "migrate", "--service", "intake",
                    "--database", f"sqlite:///{store}"], check=True, capture_output=True,
                   timeout=120)
    return store


@pytest.mark.slow
def test_start_up_failures_are_one_line_naming_the_cause(
    valid_store: Path, tmp_path: Path
) -> None:
    folder = valid_store.parent
    said = the_one_line(start_once(tmp_path, "postgresql+psycopg://laurel@127.0.0.1:1/x"))
    assert "cannot open the event store" in said and "Connection refused" in said, said

    said = the_one_line(start_once(tmp_path, "postgresql+psycopg://laurel@db:port/x"))
    assert "LAUREL_DATABASE_URL" in said and "not a database URL" in said, said

    corrupt = folder / "corrupt.sqlite"
    shutil.copy(valid_store, corrupt)
    with corrupt.open("r+b") as file:
        file.write(b"not a database header")
    said = the_one_line(start_once(tmp_path, f"sqlite:///{corrupt}"))
    assert str(corrupt) in said and "file is not a database" in said, said
    assert "restore it from a backup" in said

    truncated = folder / "truncated.sqlite"
    shutil.copy(valid_store, truncated)
    os.truncate(truncated, truncated.stat().st_size // 3)
    said = the_one_line(start_once(tmp_path, f"sqlite:///{truncated}"))
    assert "malformed" in said and "restore it from a backup" in said, said

    # A store the service may read but not write: mode 0444, and immutable
    # when the tests run as root (who writes a 0444 file all the same).
    read_only = folder / "read-only.sqlite"
    shutil.copy(valid_store, read_only)
    with unwritable(read_only):
        said = the_one_line(start_once(folder, f"sqlite:///{read_only}"))
    assert "readonly database" in said and "read-only" in said, said


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    path.chmod(0o444)
    as_root = os.geteuid() == 0
    if as_root:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.slow
def test_audit_verify_reports_a_corrupt_store_in_one_line(valid_store: Path) -> None:
    folder = valid_store.parent
    for name, damage in (("intake", "header"), ("scoring", "truncate")):
        target = folder / f"{name}-damaged.sqlite"  # not read as a service's store
        shutil.copy(valid_store, target)
        if damage == "header":
            with target.open("r+b") as file:
                file.write(b"not a database header")
        else:
            os.truncate(target, target.stat().st_size // 3)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}
        done = subprocess.run(
            [sys.executable, "-m", "laurel.cli", "audit", "verify", "--database",
             f"{name}=sqlite:///{target}"], env=env, capture_output=True, text=True,
            timeout=120)
        assert done.returncode != 0, done.stdout + done.stderr
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stdout + done.stderr, done.stderr
        assert lines[0].startswith(f"laurel: cannot open the {name} store"), lines
        assert "restore it from a backup" in lines[0], lines
