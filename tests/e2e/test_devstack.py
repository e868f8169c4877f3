"""`laurel up`: the main job as processes, exactly as `make run` starts it.

Two runs in one data root each get a fresh folder and finish the demo;
`--keep` continues the last run's data and the demo recognizes its own
earlier run; a Ctrl-C in a terminal (SIGINT to `laurel up`'s whole process
group, as the terminal sends it) leaves no ERROR line, no process and no
bound port behind.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVICES = ("intake", "scoring", "review", "notification")
UP = [sys.executable, "-m", "laurel.cli", "up"]


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}


@dataclass
class Run:
    result: subprocess.CompletedProcess[str]
    folder: Path


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Run]]:
    """`laurel up --once` twice in a row in one data root."""
    root = tmp_path_factory.mktemp("var")
    runs = []
    for _ in range(2):
        result = subprocess.run([*UP, "--once", "--data-root", str(root)], env=environment(),
                                capture_output=True, text=True, timeout=300)
        runs.append(Run(result, (root / "latest").resolve()))
    return root, runs


@pytest.mark.slow
def test_two_runs_in_one_data_root_each_get_a_fresh_folder_and_finish_the_demo(
    two_runs: tuple[Path, list[Run]],
) -> None:
    root, runs = two_runs
    for run in runs:
        assert run.result.returncode == 0, run.result.stdout + run.result.stderr
        assert "Laurel is up and serving" in run.result.stdout
        assert f"Starting Laurel in {run.folder} (a fresh folder)" in run.result.stdout
        assert_demo_ran(run.result.stdout, run.folder)
        assert_clean_logs(run.folder)
    first, second = (run.folder for run in runs)
    assert first != second and first.parent == second.parent == root / "runs"
    assert (root / "latest").resolve() == second

    # What the demo left behind is verifiable and replayable by an auditor.
    audit_env = {**environment(), "LAUREL_DATA_DIR": str(first)}
    for command in (["verify"], ["replay"]):
        audited = subprocess.run(
            [sys.executable, "-m", "laurel.cli", "audit", *command],
            env=audit_env, capture_output=True, text=True, timeout=120,
        )
        assert audited.returncode == 0, audited.stdout + audited.stderr
        for service in SERVICES:
            assert service in audited.stdout


def assert_demo_ran(out: str, folder: Path, sqlite: bool = True) -> None:
    for service in SERVICES:
        assert service in out
    assert f"(mail in {folder / 'mail'})" in out  # e-mail goes to a local SMTP sink
    assert list((folder / "mail").glob("*.eml"))
    # the demo campaign, step by step, through all four services
    for step in ("1. organizations", "3. commissions endorse", "4. the expert evaluation",
                 "5. a complaint", "6. blind scoring", "7. rounds closed",
                 "8. decisions recorded", "9. the organizer approves", "10. e-mails"):
        assert f"\n{step}" in out
    assert "status=received" in out
    assert "notification received the events over Kafka" in out
    assert "[results]" in out and "tie broken by" in out
    # the auditor's view over the AuditService, started beside the services
    assert "AuditService, auditors only" in out
    assert "The auditor's view (AuditService)" in out and "BROKEN" not in out
    for service in SERVICES:
        assert f"   {service}: hash chains and positions hold" in out
        assert (folder / f"{service}.sqlite").exists() == sqlite
    assert "\nDone: 8 nominations" in out
    # the hints name a command that works as typed, and the data it reads
    assert f"export LAUREL_DATA_DIR={folder}" in out
    assert "laurel audit timeline --nomination " in out
    assert out.rstrip().endswith("Stopped.")


def assert_clean_logs(folder: Path) -> None:
    logs = sorted((folder / "logs").glob("*.log"))
    assert {p.stem for p in logs} >= {*SERVICES, "audit", "broker"}
    for log in logs:
        bad = [line for line in log.read_text(errors="replace").splitlines()
               if "ERROR" in line or "Traceback" in line]
        assert not bad, f"{log.name}: {bad[:5]}"


@pytest.mark.slow
def test_keep_continues_the_last_run_and_a_ctrl_c_stops_everything_cleanly(
    two_runs: tuple[Path, list[Run]],
) -> None:
    root, runs = two_runs
    folder = runs[-1].folder
    # A terminal starts a job as the leader of its own process group and sends
    # Ctrl-C's SIGINT to that whole group.
    leader = subprocess.Popen([*UP, "--data-root", str(root), "--keep"], env=environment(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        lines = _lines(leader)
        out = _read_until(lines, "Serving. Press Ctrl-C to stop.", deadline_s=240)
        assert f"Starting Laurel in {folder} (the data of an earlier run)" in out, out
        assert "The demo campaign ran here before" in out and "\n1. organizations" not in out
        endpoints = json.loads((folder / "endpoints.json").read_text())
        children = _processes(folder, endpoints["kafka"])
        assert len(children) == 6, children  # broker, four services, AuditService

        os.killpg(leader.pid, signal.SIGINT)
        assert leader.wait(timeout=90) == 0
        out += "".join(_drain(lines))
    finally:
        if leader.poll() is None:
            os.killpg(leader.pid, signal.SIGKILL)
            leader.wait()
    assert out.rstrip().endswith("Stopped."), out
    assert (root / "latest").resolve() == folder  # --keep made no new folder
    _wait_until(lambda: not any(_alive(pid) for pid in children), 30,
                lambda: f"still running: {[c for p, c in children.items() if _alive(p)]}")
    addresses = [a for a in endpoints.values() if isinstance(a, str)]
    addresses += list(endpoints.get("metrics", {}).values())  # each process's /metrics
    ports = [int(a.rsplit(":", 1)[1]) for a in addresses]
    _wait_until(lambda: all(_free(port) for port in ports), 30,
                lambda: f"still bound: {[p for p in ports if not _free(p)]}")
    assert_clean_logs(folder)
    assert not (folder / "run.json").exists()


# -- watching processes, lines and ports ---------------------------------------------


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The process's output lines, read by a thread (None at the end)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _read_until(lines: queue.Queue[str | None], marker: str, deadline_s: float) -> str:
    seen: list[str] = []
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"no {marker!r} within {deadline_s}s:\n{''.join(seen)}")
        if line is None:
            pytest.fail(f"ended before {marker!r}:\n{''.join(seen)}")
        seen.append(line)
        if marker in line:
            return "".join(seen)


def _drain(lines: queue.Queue[str | None]) -> Iterator[str]:
    while (line := lines.get(timeout=30)) is not None:
        yield line


def _processes(folder: Path, kafka: str) -> dict[int, str]:
    """Processes serving `folder` (their LAUREL_DATA_DIR) and the broker on `kafka`."""
    mine = f"LAUREL_DATA_DIR={folder}".encode()
    broker = f"tcp://{kafka}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if mine in environ or broker in argv:
            found[int(entry.name)] = b" ".join(argv).decode(errors="replace")
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _free(port: int) -> bool:
    """Nothing listens on the port (connections closing in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_until(condition: Callable[[], bool], deadline_s: float,
                why: Callable[[], str]) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(why())
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.postgres
def test_up_on_postgresql_makes_a_database_per_service_and_serves(tmp_path: Path) -> None:
    """`laurel up --database postgresql://…`: each service's store is a
    database of its own on that server (created), the demo runs to its end."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = os.environ.get("LAUREL_TEST_POSTGRES_URL", "")
    if not server:
        pytest.skip("PostgreSQL not requested: set LAUREL_TEST_POSTGRES_URL (CI does)")
    folder = tmp_path / "pg-run"
    names = [f"laurel_pg_run_{s}" for s in SERVICES]
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        result = subprocess.run(
            [*UP, "--once", "--data-dir", str(folder), "--database",
             make_url(server).set(drivername="postgresql").render_as_string(False)],
            env=environment(), capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Laurel is up and serving" in result.stdout
        for name in names:
            assert f"/{name}" in result.stdout
        assert_demo_ran(result.stdout, folder, sqlite=False)  # no SQLite store was made
        assert_clean_logs(folder)
        audited = subprocess.run(  # as the demo's hints say: the run's stores are found
            [sys.executable, "-m", "laurel.cli", "audit", "verify"],
            env={**environment(), "LAUREL_DATA_DIR": str(folder)},
            capture_output=True, text=True, timeout=120)
        assert audited.returncode == 0, audited.stdout + audited.stderr
        for name in names:
            assert f"/{name}): ok" in audited.stdout
            database = create_engine(make_url(server).set(database=name))
            with database.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() > 0
            database.dispose()
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
