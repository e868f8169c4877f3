"""`python -m laurel.healthcheck` against a real gRPC health server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from laurel.broker import free_port
from laurel.healthcheck import main

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    servicer = health.HealthServicer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        server.stop(0)


def test_serving_exits_0(health_server, capsys: pytest.CaptureFixture[str]) -> None:
    address, servicer = health_server
    servicer.set("", SERVING)
    assert main(["--address", address]) == 0
    assert capsys.readouterr().out == f"healthy: {address} (server): SERVING\n"


def test_not_serving_exits_1(health_server, capsys: pytest.CaptureFixture[str]) -> None:
    address, servicer = health_server
    servicer.set("laurel.intake.v1.IntakeService", NOT_SERVING)
    assert (
        main(["--address", address, "--service", "laurel.intake.v1.IntakeService"]) == 1
    )
    assert "unhealthy" in capsys.readouterr().out


def test_unknown_service_exits_1(
    health_server, capsys: pytest.CaptureFixture[str]
) -> None:
    address, _ = health_server
    assert main(["--address", address, "--service", "nope"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().out


def test_nothing_listening_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    address = f"127.0.0.1:{free_port()}"
    assert main(["--address", address, "--timeout", "1"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"unhealthy: {address}") and out.count("\n") == 1


def test_module_reads_the_port_from_the_environment(health_server) -> None:
    address, servicer = health_server
    servicer.set("", SERVING)
    port = address.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, "-m", "laurel.healthcheck"],
        capture_output=True,
        text=True,
        env={"LAUREL_GRPC_PORT": port, "PATH": "/usr/bin:/bin"},
        timeout=30,
    )
    assert (result.returncode, result.stdout) == (
        0,
        f"healthy: {address} (server): SERVING\n",
    )
