"""`python -m laurel.healthcheck` against a real gRPC health server, in
plaintext and, as the chart's probes run it with TLS on, over mutual TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from laurel.broker import free_port
from laurel.config import SecuritySettings
from laurel.healthcheck import main
from laurel.runtime import secured_server

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
INTAKE = "laurel.intake.v1.IntakeService"


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


# --- the chart's probes with TLS on, run against a real TLS server ---------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _tls_secret(names: list[str]) -> dict[str, bytes]:
    """A kubernetes.io/tls Secret as cert-manager writes it: ca.crt, and a
    tls.crt for `names` only (not 127.0.0.1) usable by server and client."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def issue(subject: x509.Name, public: Any, *, ca: bool) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(_name("test CA"))
                .public_key(public).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=1))
                .not_valid_after(now + dt.timedelta(hours=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))

    ca = issue(_name("test CA"), ca_key.public_key(), ca=True).sign(ca_key, hashes.SHA256())
    leaf = (issue(_name(names[0]), key.public_key(), ca=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return {"ca.crt": ca.public_bytes(serialization.Encoding.PEM),
            "tls.crt": leaf.public_bytes(serialization.Encoding.PEM),
            "tls.key": _pem(key)}


@pytest.fixture(scope="module")
def full_intake(render_tool: Any) -> dict[str, Any]:
    """The intake container of ci/full-values.yaml: mutual TLS on."""
    objects = render_tool.objects(render_tool.render(render_tool.load_values(
        [render_tool.CHART / "ci" / "full-values.yaml"])))
    [deployment] = [o.obj for o in objects
                    if (o.kind, o.name) == ("Deployment", "laurel-intake")]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _server_security(env: dict[str, str]) -> SecuritySettings:
    """The TLS the server runs with, read by the services' own settings from
    the rendered environment's LAUREL_TLS_* (the rest is not this test's):
    mutual TLS, or the probes prove nothing."""
    security = SecuritySettings.load({k: v for k, v in env.items() if k.startswith("LAUREL_TLS_")})
    assert security.tls_cert_file and security.tls_client_ca_file, "mutual TLS expected"
    return security


async def _run(command: list[str], port: int) -> tuple[int, str]:
    """A probe's command, run as the kubelet would, against `port`."""
    command = [str(port).join(w.rsplit("50051", 1)) if w.startswith("127.0.0.1:") else w
               for w in command]
    assert command[:3] == ["python", "-m", "laurel.healthcheck"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:], stdout=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"})
    out, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    return process.returncode or 0, out.decode()


async def test_tls_probes_reach_a_mutual_tls_server(full_intake: dict[str, Any],
                                                    local_pod: Any) -> None:
    """The probes rendered with TLS on pass against a server that accepts only
    TLS with client certificates, with the files the chart mounts; readiness
    follows the service's status, liveness the server's."""
    secret = _tls_secret(["laurel-intake", "laurel-intake.laurel.svc"])
    pod = local_pod(full_intake, files={"/etc/laurel/tls": secret})
    security = _server_security(pod.env)
    server = secured_server("intake", True, security, "127.0.0.1:0",
                            lambda _: None, [INTAKE])
    await server.start()
    try:
        probes = {name: pod.command(full_intake[name]["exec"]["command"])
                  for name in ("startupProbe", "livenessProbe", "readinessProbe")}
        for name, command in probes.items():
            code, out = await _run(command, server.port)
            assert (code, out.split(":")[0]) == (0, "healthy"), (name, out)
        assert "laurel.intake.v1.IntakeService: SERVING" in (
            await _run(probes["readinessProbe"], server.port))[1]

        await server.health.set(INTAKE, NOT_SERVING)
        code, out = await _run(probes["readinessProbe"], server.port)
        assert (code, out.strip().rsplit(": ", 1)[1]) == (1, "NOT_SERVING")
        assert (await _run(probes["livenessProbe"], server.port))[0] == 0
    finally:
        await server.stop(0)


async def test_tls_probes_fail_without_the_ca_or_the_client_certificate(
        full_intake: dict[str, Any], local_pod: Any, tmp_path: Path) -> None:
    secret = _tls_secret(["laurel-intake"])
    pod = local_pod(full_intake, files={"/etc/laurel/tls": secret})
    security = _server_security(pod.env)
    server = secured_server("intake", True, security, "127.0.0.1:0", lambda _: None, [INTAKE])
    await server.start()
    try:
        liveness = pod.command(full_intake["livenessProbe"]["exec"]["command"])
        ca_file = liveness[liveness.index("--ca-file") + 1]

        other_ca = tmp_path / "other-ca.crt"
        other_ca.write_bytes(_tls_secret(["laurel-intake"])["ca.crt"])
        code, out = await _run([str(other_ca) if w == ca_file else w for w in liveness],
                               server.port)
        assert (code, out.split(":")[0]) == (1, "unhealthy"), out

        Path(ca_file).unlink()
        code, out = await _run(liveness, server.port)
        assert code == 1 and f"cannot read {ca_file}" in out, out
        Path(ca_file).write_bytes(secret["ca.crt"])

        at = liveness.index("--server-name")  # the certificate names no 127.0.0.1
        code, out = await _run(liveness[:at] + liveness[at + 2:], server.port)
        assert (code, out.split(":")[0]) == (1, "unhealthy"), out

        at = liveness.index("--cert-file")
        anonymous = liveness[:at] + liveness[at + 4:]
        code, out = await _run(anonymous, server.port)
        assert (code, out.split(":")[0]) == (1, "unhealthy"), out

        code, out = await _run(liveness, server.port)  # and whole again
        assert code == 0, out
    finally:
        await server.stop(0)


def test_client_certificate_options_are_checked() -> None:
    with pytest.raises(SystemExit) as usage:
        main(["--cert-file", "tls.crt"])
    assert usage.value.code == 2
    with pytest.raises(SystemExit):
        main(["--cert-file", "tls.crt", "--key-file", "tls.key"])
