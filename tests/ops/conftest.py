"""What the operability tests share: services as real processes, their
/metrics scraped over HTTP, their gRPC health asked over a socket.

Services run as `python -m laurel.<service>`, as the image runs them, with
their logs in files (JSON, the default), so what a test reads is what an
operator's log collector would read.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from laurel.broker import TansuBroker, ensure_topics, free_port
from laurel.config import SERVICES, KafkaSettings, Topics
from laurel.devstack import AUDIT, DevStack, wait_healthy

READINESS_NAMES = {
    "intake": "laurel.intake.v1.IntakeService",
    "scoring": "laurel.scoring.v1.ScoringService",
    "review": "laurel.review.v1.ReviewService",
    "notification": "laurel.notification.v1.NotificationService",
    "audit": "laurel.audit.v1.AuditService",
}


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return str(reply.read().decode())


def series(text: str) -> set[str]:
    """The names the exposition declares (`# TYPE name kind`)."""
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample (labels matched exactly), None when absent."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def health(address: str, service: str = "") -> str:
    """The health status name, or the error code when the call failed."""
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=3)
        except grpc.RpcError as error:
            return str(error.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def wait_until(probe: Callable[[], Any], what: str, timeout: float = 30.0,
               every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"gave up waiting for {what} after {timeout}s (last: {last!r})")


@contextmanager
def database_down(url: str) -> Iterator[None]:
    """The service's database stops answering, then comes back."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # The file is gone from its folder (a volume lost, a file moved by
        # mistake); the service's open connections still hold it.
        path = Path(parsed.database or "")
        aside = path.with_name(path.name + ".aside")
        os.replace(path, aside)
        try:
            yield
        finally:
            os.replace(aside, path)
        return
    name = parsed.database
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :name AND pid <> pg_backend_pid()"),
                         {"name": name})
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def ready(self) -> str:
        return health(self.address, READINESS_NAMES[self.name])

    def metrics(self) -> str:
        return scrape(self.metrics_port)

    def records(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


@dataclass
class Processes:
    """Services started as processes; all stopped (SIGTERM) at the end."""

    folder: Path
    started: list[Service] = field(default_factory=list)

    def environment(self, **values: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}
        env.update({"LAUREL_ENV": "development", "LAUREL_GRPC_HOST": "127.0.0.1",
                    "LAUREL_DATA_DIR": str(self.folder), "LAUREL_OUTBOX_POLL_MS": "100"})
        env.update(values)
        return env

    def start(self, name: str, env: dict[str, str], *, wait: bool = True) -> Service:
        port, metrics_port = free_port(), free_port()
        env = {**env, "LAUREL_GRPC_PORT": str(port), "LAUREL_METRICS_PORT": str(metrics_port)}
        log = self.folder / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen([sys.executable, "-m", f"laurel.{name}"], env=env,
                                       stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        service = Service(name, process, port, metrics_port, log)
        self.started.append(service)
        if wait:
            try:
                wait_healthy(service.address, process, name)
            except (RuntimeError, TimeoutError) as error:
                raise AssertionError(f"{error}:\n{log.read_text()[-3000:]}") from None
        return service

    def stop(self, service: Service) -> int:
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
            try:
                service.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
        return int(service.process.returncode)

    def stop_all(self) -> None:
        for service in reversed(self.started):
            self.stop(service)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A broker of this test's own, which it may stop and start again (on
    the same port; memory-only, so it comes back empty)."""
    broker = TansuBroker(log_path=tmp_path / "broker.log").start()
    ensure_topics(KafkaSettings(bootstrap=broker.bootstrap), Topics().all())
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class DemoRun:
    """The dev stack `laurel up` starts (broker, four services, the
    AuditService, an SMTP sink), after the demo campaign ran on it."""

    stack: DevStack
    output: str
    code: int

    def stop(self) -> None:
        self.stack.stop()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    from laurel.demo import run_demo

    folder = tmp_path_factory.mktemp("devstack")
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("LAUREL_")}
    stack = DevStack(folder, usual_ports=False)  # a running stack may hold the usual
    try:
        stack.start()
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = run_demo({s: stack.address(s) for s in (*SERVICES, AUDIT)}, folder)
        yield DemoRun(stack, printed.getvalue(), code)
    finally:
        stack.stop()
        os.environ.update(saved)


class Ops:
    """The helpers above, for the test modules (a fixture hands them over)."""

    scrape = staticmethod(scrape)
    series = staticmethod(series)
    sample = staticmethod(sample)
    health = staticmethod(health)
    wait_until = staticmethod(wait_until)
    database_down = staticmethod(database_down)


@pytest.fixture
def ops() -> type[Ops]:
    return Ops
