"""One tracer set-up for every service, and trace context in and out of events.

The stored event keeps the W3C trace context of the request that caused it, so
the outbox relay (maybe minutes later, maybe after a restart) publishes in the
same trace and the consumer continues it from the Kafka headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)

from laurel.config import ConfigError

_provider: TracerProvider | None = None


def configure_tracing(
    service_name: str,
    exporter: str = "none",
    endpoint: str = "",
    extra_processors: tuple[SpanProcessor, ...] = (),
    *,
    insecure: bool = False,
    ca_file: Path | None = None,
) -> TracerProvider:
    """Install the process's tracer provider once; later calls add processors.

    OTLP export is TLS unless `insecure` (LAUREL_OTEL_INSECURE=true), verified
    with `ca_file` (LAUREL_OTEL_CA_FILE) or else the system's CAs."""
    global _provider
    if _provider is None:
        _provider = TracerProvider(
            resource=Resource.create({"service.name": f"laurel-{service_name}"})
        )
        trace.set_tracer_provider(_provider)
        if exporter == "console":
            _provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif exporter == "otlp":
            _provider.add_span_processor(
                BatchSpanProcessor(
                    otlp_span_exporter(endpoint, insecure=insecure, ca_file=ca_file)
                )
            )
    for processor in extra_processors:
        _provider.add_span_processor(processor)
    return _provider


def otlp_span_exporter(
    endpoint: str,
    *,
    insecure: bool = False,
    ca_file: Path | None = None,
    timeout_s: float | None = None,
) -> SpanExporter:
    """The OTLP/gRPC span exporter: plaintext only when asked, else TLS trusting
    `ca_file` (a PEM bundle, e.g. the collector's private CA) or the system's
    CAs. An unreadable CA file fails here, at start-up, not at the first export.
    """
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter,
    )

    if insecure:
        return OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=timeout_s)
    try:
        roots = ca_file.read_bytes() if ca_file is not None else None
    except OSError as error:
        raise ConfigError(f"LAUREL_OTEL_CA_FILE={ca_file}: {error.strerror}") from None
    credentials = grpc.ssl_channel_credentials(root_certificates=roots)
    return OTLPSpanExporter(
        endpoint=endpoint, insecure=False, credentials=credentials, timeout=timeout_s
    )


def shutdown_tracing() -> None:
    if _provider is not None:
        _provider.force_flush()


def current_trace_carrier() -> dict[str, str]:
    """The active context as W3C headers, for storing in event metadata."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def continued_from(carrier: dict[str, str]) -> Iterator[None]:
    """Make the context stored in `carrier` the current one."""
    token = otel_context.attach(propagate.extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)
