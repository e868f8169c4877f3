"""One tracer set-up for every service, and trace context in and out of events.

The stored event keeps the W3C trace context of the request that caused it, so
the outbox relay (maybe minutes later, maybe after a restart) publishes in the
same trace and the consumer continues it from the Kafka headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

_provider: TracerProvider | None = None


def configure_tracing(
    service_name: str,
    exporter: str = "none",
    endpoint: str = "",
    extra_processors: tuple[SpanProcessor, ...] = (),
) -> TracerProvider:
    """Install the process's tracer provider once; later calls add processors."""
    global _provider
    if _provider is None:
        _provider = TracerProvider(
            resource=Resource.create({"service.name": f"laurel-{service_name}"})
        )
        trace.set_tracer_provider(_provider)
        if exporter == "console":
            _provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter,
            )

            _provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True))
            )
    for processor in extra_processors:
        _provider.add_span_processor(processor)
    return _provider


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
