"""Laurel's services as real processes, as `laurel up` starts them.

Each service runs as `python -m laurel.<service>` (see laurel.devstack) with
its SQLite store in a scratch directory, against a Tansu broker of its own, so
each process's peak memory (VmHWM) can be read before it is stopped.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from laurel_bench.common import child_env, proc_status_kb

SERVICES = ("intake", "scoring", "review", "notification")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen[bytes], name: str,
                  timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{name} not listening on {port} after {timeout}s")


def wait_healthy(port: int, process: subprocess.Popen[bytes], name: str,
                 timeout: float = 180) -> None:
    """Until the process serves gRPC. Four services (migrations, group joins,
    catch-up from each other's logs) starting at once on a busy 2-core
    machine took more than 60 s; a start that never comes still fails."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
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
            time.sleep(0.1)
    raise TimeoutError(f"{name} on port {port} not healthy after {timeout}s")


def log_tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Stack:
    """A broker and some of Laurel's services, each its own process."""

    data_dir: Path
    services: tuple[str, ...] = ("intake", "notification")
    outbox_poll_ms: int | None = None  # None: the services' default
    # A shared database (PostgreSQL) instead of each service's SQLite file,
    # and how many intake processes serve it ("intake", "intake-2", ...).
    database_url: str | None = None
    intake_replicas: int = 1
    broker: Any = None
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started_rss_kb: dict[str, int] = field(default_factory=dict)
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def env(self) -> dict[str, str]:
        env = {
            "LAUREL_ENV": "development",
            "LAUREL_GRPC_HOST": "127.0.0.1",
            "LAUREL_DATA_DIR": str(self.data_dir),
            "LAUREL_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "LAUREL_KAFKA_GROUP_PREFIX": f"bench-{self.suffix}",
        }
        if self.outbox_poll_ms is not None:
            env["LAUREL_OUTBOX_POLL_MS"] = str(self.outbox_poll_ms)
        return env

    def start(self) -> Stack:
        from laurel.broker import TansuBroker, ensure_topics
        from laurel.config import KafkaSettings, Topics

        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        self.broker = TansuBroker(log_path=self.data_dir / "logs" / "broker.log").start()
        ensure_topics(KafkaSettings(bootstrap=self.broker.bootstrap), Topics().all())
        for name, service in self.instances():
            self.ports[name] = free_port()
            env = child_env({**self.env, "LAUREL_GRPC_PORT": str(self.ports[name])})
            env.pop("LAUREL_DATABASE_URL", None)
            if self.database_url is not None:
                env["LAUREL_DATABASE_URL"] = self.database_url
            log = open(self.data_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", f"laurel.{service}"], env=env, stdout=log,
                stderr=subprocess.STDOUT, cwd=self.data_dir,
            )
        for service, _ in self.instances():
            try:
                wait_healthy(self.ports[service], self.processes[service], service)
            except Exception as error:
                tail = log_tail(self.data_dir / "logs" / f"{service}.log")
                last = tail.splitlines()[-1] if tail else ""
                self.stop()
                raise RuntimeError(f"{service} did not start ({error}): {last}\n"
                                   f"{tail}") from None
            self.started_rss_kb[service] = proc_status_kb(
                self.processes[service].pid, "VmRSS")
        return self

    def instances(self) -> list[tuple[str, str]]:
        """(process name, service) of every process to start."""
        found = []
        for service in self.services:
            count = self.intake_replicas if service == "intake" else 1
            found += [(service if i == 0 else f"{service}-{i + 1}", service)
                      for i in range(count)]
        return found

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    def memory(self) -> dict[str, dict[str, float]]:
        """Each process's resident memory after start-up and its peak so far."""
        found = {
            service: {
                "rss_after_start_mb": round(self.started_rss_kb.get(service, 0) / 1024, 1),
                "peak_rss_mb": round(proc_status_kb(process.pid, "VmHWM") / 1024, 1),
            }
            for service, process in self.processes.items()
        }
        if self.broker is not None and self.broker.process is not None:
            found["broker"] = {"peak_rss_mb": round(
                proc_status_kb(self.broker.process.pid, "VmHWM") / 1024, 1)}
        return found

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None


@dataclass
class BaselineServer:
    """The limit (no-op) or peer (eventsourcing) IntakeService, in its own process."""

    mode: str
    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    started_rss_kb: int = 0

    def start(self) -> BaselineServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        log = open(self.data_dir / f"baseline-{self.mode}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "laurel_bench.baseline_server", self.mode,
             str(self.port), str(self.data_dir / f"{self.mode}.sqlite")],
            env=child_env(), stdout=log, stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, self.process, f"baseline {self.mode}")
        self.started_rss_kb = proc_status_kb(self.process.pid, "VmRSS")
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def memory(self) -> dict[str, float]:
        assert self.process is not None
        return {"rss_after_start_mb": round(self.started_rss_kb / 1024, 1),
                "peak_rss_mb": round(proc_status_kb(self.process.pid, "VmHWM") / 1024, 1)}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

