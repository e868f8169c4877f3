"""OTLP trace export over TLS (the default) or plaintext (LAUREL_OTEL_INSECURE),
against a real gRPC collector endpoint: the exporter the services build
(laurel.telemetry.otlp_span_exporter) delivers spans only to a collector it
can verify, with the CA the chart mounts (LAUREL_OTEL_CA_FILE)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from laurel.config import ConfigError
from laurel.telemetry import otlp_span_exporter


@dataclass
class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    received: list[str] = field(default_factory=list)

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC API)
        self.received += [span.name for rs in request.resource_spans
                          for ss in rs.scope_spans for span in ss.spans]
        return trace_service_pb2.ExportTraceServiceResponse()


def _pki(folder: Path) -> dict[str, Path]:
    """A CA and a collector certificate for `localhost`, as PEM files."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def builder(subject: str, public: Any, ca: bool) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name("otel CA"))
                .public_key(public).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=1))
                .not_valid_after(now + dt.timedelta(hours=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))

    ca = builder("otel CA", ca_key.public_key(), True).sign(ca_key, hashes.SHA256())
    cert = (builder("localhost", key.public_key(), False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                           critical=False).sign(ca_key, hashes.SHA256()))
    files = {"ca": folder / "ca.crt", "cert": folder / "tls.crt", "key": folder / "tls.key"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return files


def _serve(collector: Collector, credentials: grpc.ServerCredentials | None) -> tuple[Any, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = (server.add_secure_port("127.0.0.1:0", credentials) if credentials
            else server.add_insecure_port("127.0.0.1:0"))
    server.start()
    return server, port


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _pki(tmp_path_factory.mktemp("otel"))


@pytest.fixture
def tls_collector(pki: dict[str, Path]) -> Iterator[tuple[Collector, int]]:
    collector = Collector()
    server, port = _serve(collector, grpc.ssl_server_credentials(
        [(pki["key"].read_bytes(), pki["cert"].read_bytes())]))
    yield collector, port
    server.stop(0)


@pytest.fixture
def plain_collector() -> Iterator[tuple[Collector, int]]:
    collector = Collector()
    server, port = _serve(collector, None)
    yield collector, port
    server.stop(0)


def _span(name: str) -> ReadableSpan:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("deploy-test").start_span(name).end()
    [span] = memory.get_finished_spans()
    return span


def test_tls_export_with_the_mounted_ca_reaches_the_collector(
        tls_collector: tuple[Collector, int], pki: dict[str, Path]) -> None:
    collector, port = tls_collector
    exporter = otlp_span_exporter(f"localhost:{port}", ca_file=pki["ca"], timeout_s=5)
    try:
        assert exporter.export([_span("verified")]) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert collector.received == ["verified"]


def test_tls_export_refuses_a_collector_it_cannot_verify(
        tls_collector: tuple[Collector, int]) -> None:
    """Without the collector's CA, the system's CAs do not know it: nothing sent."""
    collector, port = tls_collector
    exporter = otlp_span_exporter(f"localhost:{port}", timeout_s=2)
    try:
        assert exporter.export([_span("unverified")]) == SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert collector.received == []


def test_plaintext_export_only_when_asked(
        plain_collector: tuple[Collector, int], tls_collector: tuple[Collector, int]) -> None:
    plain, plain_port = plain_collector
    exporter = otlp_span_exporter(f"localhost:{plain_port}", insecure=True, timeout_s=5)
    try:
        assert exporter.export([_span("plain")]) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert plain.received == ["plain"]
    # The default is TLS: it does not talk plaintext to a plaintext collector.
    exporter = otlp_span_exporter(f"localhost:{plain_port}", timeout_s=2)
    try:
        assert exporter.export([_span("not plain")]) == SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert plain.received == ["plain"]


def test_an_unreadable_ca_file_is_named_at_start(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.crt"
    with pytest.raises(ConfigError, match=f"LAUREL_OTEL_CA_FILE={missing}: No such file"):
        otlp_span_exporter("localhost:4317", ca_file=missing)
