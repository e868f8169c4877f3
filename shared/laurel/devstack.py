"""`laurel up`: the whole suite on one machine, as real processes.

Starts the embedded broker (unless LAUREL_KAFKA_BOOTSTRAP names another),
creates the topics, starts a local SMTP sink (unless LAUREL_SMTP_PORT names a
relay; mail is kept under <data dir>/mail), starts the four services with
SQLite stores under the data directory (or, with `--database
postgresql://…`, a PostgreSQL database per service on that server, created
if missing) and the auditors' AuditService over them (signing a checkpoint
every minute with a key kept in the data directory), waits for their health
checks, runs the demo campaign, and serves until Ctrl-C or SIGTERM.

Where the data goes: each `laurel up` gets a fresh folder, var/runs/<time>,
and var/latest points at it (the CLI reads the latest run's endpoints and
stores); `--keep` continues in the folder var/latest points at, and the demo
recognizes that it ran there before. `--data-dir` names a folder outright.

How it stops: the broker and every service run in sessions of their own, so
a Ctrl-C in the terminal reaches `laurel up` alone. It then stops the
services first (SIGTERM; each drains its consumers and outbox while the
broker is still there), then the broker. On Linux the children also get
SIGTERM should `laurel up` itself die without stopping them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import URL, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from laurel.broker import TansuBroker, child_process_options, ensure_topics, free_port
from laurel.client import DATA_ROOT, ENDPOINTS_FILE, LATEST
from laurel.config import DEFAULT_PORTS, SERVICES, KafkaSettings, Topics
from laurel.smtpsink import SmtpSink

AUDIT = "audit"
AUDIT_PORT = DEFAULT_PORTS[AUDIT]
# Each process serves /metrics on a port of its own (9464 is Prometheus's
# usual exporter port; a pod has it to itself, one machine does not).
METRICS_PORTS = {name: 9464 + i for i, name in enumerate((*SERVICES, AUDIT))}
CHECKPOINT_KEY = "checkpoint-key.pem"
DATABASES_FILE = "databases.json"  # with --database: service -> store URL
RUN_FILE = "run.json"  # the pid of the `laurel up` using a data folder
RUNS = "runs"
STOP_TIMEOUT_S = 20.0


class StartupFailed(RuntimeError):
    """A part of the suite did not come up; the message says which and where to look."""


def shown(path: Path) -> Path:
    """A path as a person types it: relative to the current folder when inside it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def port_or_free(preferred: int) -> int:
    """The usual port when it is free, else any free one (printed at start)."""
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", preferred))
        return preferred
    except OSError:
        return free_port()


# -- where the data goes ---------------------------------------------------------------


@dataclass(frozen=True)
class DataDir:
    path: Path
    fresh: bool  # a new folder (the demo runs), or an earlier run's (it is recognized)


def choose_data_dir(data_root: Path | None = None, data_dir: Path | None = None,
                    keep: bool = False) -> DataDir:
    """The folder this `laurel up` uses: --data-dir (or LAUREL_DATA_DIR) as
    given; else with --keep the one ROOT/latest points at; else a new
    ROOT/runs/<time>, which ROOT/latest then points at."""
    from laurel.cli import command_hint, fail

    explicit = data_dir or (Path(os.environ["LAUREL_DATA_DIR"])
                            if os.environ.get("LAUREL_DATA_DIR", "").strip() else None)
    if explicit is not None:
        if data_root is not None:
            fail("give --data-root or --data-dir (LAUREL_DATA_DIR), not both")
        _refuse_if_running(explicit)
        return DataDir(explicit, fresh=not (explicit / ENDPOINTS_FILE).exists())
    root = data_root or DATA_ROOT
    latest = root / LATEST
    if keep:
        if not latest.exists():
            fail(f"no earlier run under {shown(root)} to keep (no {shown(latest)}); "
                 f"run `{command_hint('up')}` without --keep first")
        _refuse_if_running(latest.resolve())
        return DataDir(latest.resolve(), fresh=False)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    runs = root / RUNS
    runs.mkdir(parents=True, exist_ok=True)
    path, n = runs / stamp, 1
    while True:
        try:
            path.mkdir()
            break
        except FileExistsError:
            n += 1
            path = runs / f"{stamp}-{n}"
    pointer = root / f".{LATEST}.{os.getpid()}"
    pointer.unlink(missing_ok=True)
    pointer.symlink_to(path.relative_to(root), target_is_directory=True)
    os.replace(pointer, latest)  # atomic: the CLI never sees no latest
    return DataDir(path, fresh=True)


def _refuse_if_running(path: Path) -> None:
    from laurel.cli import fail

    try:
        pid = int(json.loads((path / RUN_FILE).read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if pid != os.getpid() and _alive(pid):
        fail(f"a `laurel up` (pid {pid}) is already running on {path}; stop it first "
             "(Ctrl-C in its terminal, or kill it)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- the stack --------------------------------------------------------------------------


@dataclass
class DevStack:
    data_dir: Path
    kafka_bootstrap: str = ""
    broker: TansuBroker | None = None
    ports: dict[str, int] = field(default_factory=dict)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    smtp: SmtpSink | None = None
    database_server: str = ""  # a PostgreSQL server URL: a database per service there
    databases: dict[str, str] = field(default_factory=dict)
    # The usual ports (50051…, 9464…) when free; False: free ports only (tests,
    # which must not take a port a running stack or another test may want).
    usual_ports: bool = True

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        (self.data_dir / RUN_FILE).write_text(json.dumps({"pid": os.getpid()}))
        if not os.environ.get("LAUREL_SMTP_PORT"):
            self.smtp = SmtpSink(spool=self.data_dir / "mail").start()
        if not self.kafka_bootstrap:
            self.broker = TansuBroker(log_path=self.logs / "broker.log").start()
            self.kafka_bootstrap = self.broker.bootstrap
        ensure_topics(KafkaSettings(bootstrap=self.kafka_bootstrap), Topics().all())
        if self.database_server:
            self.databases = ensure_databases(self.database_server, run_name(self.data_dir))
            # where `laurel audit …` finds this run's stores (laurel.audit.adapters.stores)
            (self.data_dir / DATABASES_FILE).write_text(json.dumps(self.databases, indent=2))
        for service in SERVICES:  # every port first: consumers read their upstreams' logs
            self.ports[service] = self._port(DEFAULT_PORTS[service])
        for service in SERVICES:
            self.processes[service] = self._spawn(service)
        for service in SERVICES:
            self._wait_healthy(service)
        self.ports[AUDIT] = self._port(AUDIT_PORT)
        self.processes[AUDIT] = self._spawn_audit()
        self._wait_healthy(AUDIT)
        (self.data_dir / ENDPOINTS_FILE).write_text(json.dumps(
            {s: self.address(s) for s in (*SERVICES, AUDIT)}
            | {"kafka": self.kafka_bootstrap,
               "metrics": {s: f"127.0.0.1:{p}" for s, p in self.metrics_ports.items()}},
            indent=2,
        ))

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    def _wait_healthy(self, service: str) -> None:
        try:
            wait_healthy(self.address(service), self.processes[service], service)
        except (RuntimeError, TimeoutError) as error:
            raise StartupFailed(f"{error}; see {shown(self.logs / f'{service}.log')}"
                                f"{_last_error(self.logs / f'{service}.log')}") from None

    def _port(self, usual: int) -> int:
        return port_or_free(usual) if self.usual_ports else free_port()

    def _metrics_port(self, name: str) -> str:
        self.metrics_ports[name] = self._port(METRICS_PORTS[name])
        return str(self.metrics_ports[name])

    def _spawn(self, service: str) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.update({
            "LAUREL_ENV": "development",
            "LAUREL_GRPC_HOST": "127.0.0.1",
            "LAUREL_GRPC_PORT": str(self.ports[service]),
            "LAUREL_METRICS_PORT": self._metrics_port(service),
            "LAUREL_DATA_DIR": str(self.data_dir),
            "LAUREL_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            # where each service's published log is read (laurel.catchup)
            **{f"LAUREL_CATCHUP_{upstream.upper()}_ADDRESS": self.address(upstream)
               for upstream in SERVICES},
        })
        if self.smtp is not None:
            env.update(self.smtp.env())
        env.pop("LAUREL_DATABASE_URL", None)
        if service in self.databases:
            env["LAUREL_DATABASE_URL"] = self.databases[service]
        return self._popen([sys.executable, "-m", f"laurel.{service}"], env, service)

    def _spawn_audit(self) -> subprocess.Popen[bytes]:
        """The auditors' read-only API over the four stores (after they exist),
        signing with a development key made once in the data directory."""
        key = self.data_dir / CHECKPOINT_KEY
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_DATABASE_URL")}
        env.update({"LAUREL_ENV": "development", "LAUREL_GRPC_HOST": "127.0.0.1",
                    "LAUREL_DATA_DIR": str(self.data_dir)})
        env.update({f"LAUREL_DATABASE_URL_{s.upper()}": url for s, url in self.databases.items()})
        audit = [sys.executable, "-m", "laurel.audit"]
        if not key.exists():
            # Its output is a message for a person, not a log record.
            made = subprocess.run([*audit, "keygen", "--out", str(key)], env=env,
                                  capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=60)
            if made.returncode != 0:
                raise StartupFailed(f"making the development checkpoint key failed: "
                                    f"{(made.stderr or made.stdout).strip()[-300:]}")
        env["LAUREL_METRICS_PORT"] = self._metrics_port(AUDIT)
        return self._popen(
            [*audit, "serve", "--port", str(self.ports[AUDIT]), "--key", str(key),
             "--checkpoint-every", "60"], env, AUDIT)

    def _popen(self, argv: list[str], env: dict[str, str], name: str
               ) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "ab") as log:
            return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, **child_process_options())

    def stop(self, hurry: threading.Event | None = None) -> None:
        """Services first, each with SIGTERM and up to STOP_TIMEOUT_S to drain
        (killed sooner if `hurry` is set: a second Ctrl-C), then the broker."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for name, process in self.processes.items():
            while process.poll() is None:
                if (hurry is not None and hurry.is_set()) or time.monotonic() > deadline:
                    print(f"{name} did not stop in time; killing it", file=sys.stderr)
                    process.kill()
                    process.wait()
                    break
                try:
                    process.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    continue
        self.processes.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None
        (self.data_dir / RUN_FILE).unlink(missing_ok=True)


def run_name(data_dir: Path) -> str:
    """The data folder's name as a database name part (`20261207-193000` ->
    `20261207_193000`): each run gets its databases, --keep finds them again."""
    return "".join(c if c.isalnum() else "_" for c in data_dir.name.lower())[:40]


def postgres_url(url: str) -> URL:
    """A PostgreSQL URL with the driver Laurel ships (psycopg 3)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a postgresql:// URL: {url}")
    return parsed.set(drivername="postgresql+psycopg")


def ensure_databases(server: str, run: str) -> dict[str, str]:
    """service -> the URL of database laurel_<run>_<service> on `server`,
    each created if missing."""
    base = postgres_url(server)
    admin = create_engine(base.set(database=base.database or "postgres"),
                          isolation_level="AUTOCOMMIT")
    urls: dict[str, str] = {}
    try:
        with admin.connect() as conn:
            for service in SERVICES:
                name = f"laurel_{run}_{service}"
                known = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                     {"n": name}).first()
                if known is None:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                urls[service] = base.set(database=name).render_as_string(hide_password=False)
    except SQLAlchemyError as error:
        cause = str(getattr(error, "orig", None) or error).splitlines()[0]
        raise StartupFailed(f"PostgreSQL at {base.render_as_string(hide_password=True)}: "
                            f"{cause}") from None
    finally:
        admin.dispose()
    return urls


def _last_error(log: Path) -> str:
    """The log's last ERROR (or last) line, to print beside a failed start."""
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    errors = [line for line in lines
              if "ERROR" in line or "CRITICAL" in line or "Error" in line]
    last = (errors or lines or [""])[-1].strip()
    with contextlib.suppress(ValueError, KeyError, TypeError):  # a JSON record: its message
        last = str(json.loads(last)["message"])
    return f" (last: {last[:300]})" if last else ""


def wait_healthy(address: str, process: subprocess.Popen[bytes], name: str,
                 timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise TimeoutError(f"{name} at {address} not healthy after {timeout}s")


# -- `laurel up` ------------------------------------------------------------------------


class _Signals:
    """SIGINT and SIGTERM for `laurel up`: while starting (and during the
    demo) they interrupt; while serving they ask to stop; while stopping, a
    second one hurries the stop along (kills what has not stopped yet)."""

    def __init__(self) -> None:
        self.serving = False
        self.stopping = False
        self.stop_requested = threading.Event()
        self.hurry = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            self.hurry.set()
            return
        self.stop_requested.set()
        if not self.serving:
            raise KeyboardInterrupt

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self)


def up(chosen: DataDir, once: bool = False, demo: bool = True, database: str = "") -> int:
    """Run the stack (and the demo); with `once`, stop right after the demo;
    with `database` (a PostgreSQL server URL), the stores are there."""
    from laurel.demo import run_demo

    stack = DevStack(chosen.path, kafka_bootstrap=os.environ.get("LAUREL_KAFKA_BOOTSTRAP", ""),
                     database_server=database)
    signals = _Signals()
    signals.install()
    code = 0
    how = "a fresh folder" if chosen.fresh else "the data of an earlier run"
    print(f"Starting Laurel in {shown(chosen.path)} ({how}) …", flush=True)
    try:
        stack.start()
        print(_summary(stack), flush=True)
        if demo:
            code = run_demo({s: stack.address(s) for s in (*SERVICES, AUDIT)}, chosen.path)
        signals.serving = True
        if not once:
            print("\nServing. Press Ctrl-C to stop.", flush=True)
            signals.stop_requested.wait()
    except KeyboardInterrupt:
        print("\nInterrupted.", flush=True)
        code = 130
    except StartupFailed as error:
        print(f"laurel: {error}", file=sys.stderr, flush=True)
        code = 1
    finally:
        signals.stopping = True
        print("Stopping services, then the broker …", flush=True)
        stack.stop(signals.hurry)
        print("Stopped.", flush=True)
    return code


def _summary(stack: DevStack) -> str:
    lines = [f"  broker        {stack.kafka_bootstrap}"]
    lines += [f"  {s:<13} {stack.address(s)}" for s in SERVICES]
    for service, url in stack.databases.items():
        lines.append(f"  {service + ' db':<13} "
                     f"{make_url(url).render_as_string(hide_password=True)}")
    lines.append(f"  {AUDIT:<13} {stack.address(AUDIT)} (AuditService, auditors only)")
    if stack.smtp is not None:
        lines.append(f"  smtp sink     {stack.smtp.host}:{stack.smtp.port} "
                     f"(mail in {shown(stack.data_dir / 'mail')})")
    lines.append("  metrics       " + " ".join(
        f"{name}=:{port}" for name, port in stack.metrics_ports.items()))
    lines.append(f"  logs          {shown(stack.logs)}")
    lines.append(f"  endpoints     {shown(stack.data_dir / ENDPOINTS_FILE)}")
    return "Laurel is up and serving:\n" + "\n".join(lines)
