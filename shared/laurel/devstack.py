"""`laurel up`: the whole suite on one machine, as real processes.

Starts the embedded broker (unless LAUREL_KAFKA_BOOTSTRAP names another),
creates the topics, starts a local SMTP sink (unless LAUREL_SMTP_PORT names a
relay; mail is kept under <data dir>/mail), starts the four services with
SQLite stores under the data directory and the auditors' AuditService over
them (signing a checkpoint every minute with a key kept in the data
directory), waits for their health checks, runs the demo campaign, and serves
until Ctrl-C or SIGTERM, then stops everything in reverse order.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from laurel.broker import TansuBroker, ensure_topics, free_port
from laurel.config import DEFAULT_PORTS, SERVICES, KafkaSettings, Topics
from laurel.smtpsink import SmtpSink

ENDPOINTS_FILE = "endpoints.json"
AUDIT = "audit"
AUDIT_PORT = 50055
CHECKPOINT_KEY = "checkpoint-key.pem"


def port_or_free(preferred: int) -> int:
    """The usual port when it is free, else any free one (printed at start)."""
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", preferred))
        return preferred
    except OSError:
        return free_port()


@dataclass
class DevStack:
    data_dir: Path
    kafka_bootstrap: str = ""
    broker: TansuBroker | None = None
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    smtp: SmtpSink | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        if not os.environ.get("LAUREL_SMTP_PORT"):
            self.smtp = SmtpSink(spool=self.data_dir / "mail").start()
        if not self.kafka_bootstrap:
            self.broker = TansuBroker(log_path=self.data_dir / "logs" / "broker.log").start()
            self.kafka_bootstrap = self.broker.bootstrap
        ensure_topics(KafkaSettings(bootstrap=self.kafka_bootstrap), Topics().all())
        for service in SERVICES:
            self.ports[service] = port_or_free(DEFAULT_PORTS[service])
            self.processes[service] = self._spawn(service)
        for service in SERVICES:
            wait_healthy(self.address(service), self.processes[service], service)
        self.ports[AUDIT] = port_or_free(AUDIT_PORT)
        self.processes[AUDIT] = self._spawn_audit()
        wait_healthy(self.address(AUDIT), self.processes[AUDIT], AUDIT)
        (self.data_dir / ENDPOINTS_FILE).write_text(json.dumps(
            {s: self.address(s) for s in (*SERVICES, AUDIT)}
            | {"kafka": self.kafka_bootstrap},
            indent=2,
        ))

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    def _spawn(self, service: str) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.update({
            "LAUREL_ENV": "development",
            "LAUREL_GRPC_HOST": "127.0.0.1",
            "LAUREL_GRPC_PORT": str(self.ports[service]),
            "LAUREL_DATA_DIR": str(self.data_dir),
            "LAUREL_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
        })
        if self.smtp is not None:
            env.update(self.smtp.env())
        env.pop("LAUREL_DATABASE_URL", None)
        log = open(self.data_dir / "logs" / f"{service}.log", "ab")  # noqa: SIM115
        return subprocess.Popen(
            [sys.executable, "-m", f"laurel.{service}"], env=env, stdout=log,
            stderr=subprocess.STDOUT,
        )

    def _spawn_audit(self) -> subprocess.Popen[bytes]:
        """The auditors' read-only API over the four stores (after they exist),
        signing with a development key made once in the data directory."""
        key = self.data_dir / CHECKPOINT_KEY
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_DATABASE_URL")}
        env.update({"LAUREL_ENV": "development", "LAUREL_GRPC_HOST": "127.0.0.1",
                    "LAUREL_DATA_DIR": str(self.data_dir)})
        log = open(self.data_dir / "logs" / "audit.log", "ab")  # noqa: SIM115
        audit = [sys.executable, "-m", "laurel.audit"]
        if not key.exists():
            subprocess.run([*audit, "keygen", "--out", str(key)], env=env, stdout=log,
                           stderr=subprocess.STDOUT, check=True, timeout=60)
        return subprocess.Popen(
            [*audit, "serve", "--port", str(self.ports[AUDIT]), "--key", str(key),
             "--checkpoint-every", "60"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for service, process in self.processes.items():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                print(f"{service} did not stop in 15 s; killing it", file=sys.stderr)
                process.kill()
                process.wait()
        self.processes.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None


def wait_healthy(address: str, process: subprocess.Popen[bytes], name: str,
                 timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}; see its log")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise TimeoutError(f"{name} at {address} not healthy after {timeout}s")


def up(data_dir: Path, once: bool) -> int:
    """Run the stack and the demo; with `once`, stop right after the demo."""
    from laurel.demo import run_demo

    stack = DevStack(data_dir, kafka_bootstrap=os.environ.get("LAUREL_KAFKA_BOOTSTRAP", ""))
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    print(f"Starting Laurel in {data_dir} …", flush=True)
    try:
        stack.start()
        print(_summary(stack), flush=True)
        run_demo({s: stack.address(s) for s in (*SERVICES, AUDIT)})
        if not once:
            print("\nServing. Press Ctrl-C to stop.", flush=True)
            stopping.wait()
    finally:
        print("Stopping services and broker …", flush=True)
        stack.stop()
        print("Stopped.", flush=True)
    return 0


def _summary(stack: DevStack) -> str:
    lines = [f"  broker        {stack.kafka_bootstrap}"]
    lines += [f"  {s:<13} {stack.address(s)}" for s in SERVICES]
    lines.append(f"  {AUDIT:<13} {stack.address(AUDIT)} (AuditService, auditors only)")
    if stack.smtp is not None:
        lines.append(f"  smtp sink     {stack.smtp.host}:{stack.smtp.port} "
                     f"(mail in {stack.data_dir / 'mail'})")
    lines.append(f"  logs          {stack.data_dir / 'logs'}")
    return "Laurel is up:\n" + "\n".join(lines)
