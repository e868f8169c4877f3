"""Prometheus metrics: one registry per service runtime, served at /metrics.

The series are a contract with the chart's alerts and Grafana dashboard:
deploy/README.md ("Metrics and alerts") lists them, and tests/ops scrape a
running service for each. Counters are counted where things happen (the gRPC
interceptor, the store's commit hook, notification's delivery worker);
gauges about the store (the outbox backlog, the age of its oldest event, a
checkpoint's time) are computed when Prometheus scrapes, from the database,
so they are true after a restart and across replicas sharing a database. A
gauge whose source fails (the database is down) is left out of that scrape,
and the failure is logged, rather than failing the whole scrape.

Each runtime has its own registry, so several services can run in one
process (the tests do); `laurel.runtime.run_service` serves it on
LAUREL_METRICS_PORT.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from laurel.envelope import RecordedEvent, parse_time, utcnow

if TYPE_CHECKING:
    from laurel.eventstore import EventStore

log = logging.getLogger("laurel.metrics")

# Latency buckets for calls that mostly take milliseconds (a unit of work on
# SQLite) and sometimes seconds (a PostgreSQL lock wait, a large result).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0)

# A source of a scrape-time gauge: a value, or values by one label's value.
Reading = float | Mapping[str, float] | None


class Metrics:
    """A service's metrics. Service-specific series are added with
    `counter` (counted as it happens) or `gauge` (read at scrape time)."""

    def __init__(self, service: str, host: str = "0.0.0.0", port: int | None = None) -> None:
        self.service = service
        self.host = host
        self.port_wanted = port  # None: not served
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        for shared in (PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(_Borrowed(shared))
        self.grpc_requests = Counter(
            "laurel_grpc_requests", "gRPC calls served, by method and status code",
            ["method", "code"], registry=self.registry)
        self.grpc_latency = Histogram(
            "laurel_grpc_request_duration_seconds", "gRPC call latency, by method",
            ["method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.events_appended = Counter(
            "laurel_events_appended", "events committed to the store, by event type",
            ["type"], registry=self.registry)
        self._gauges = _ScrapeTimeGauges()
        self.registry.register(self._gauges)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- what is counted ---------------------------------------------------------------

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        """A counter of this service (`name` without `_total`)."""
        return Counter(name, documentation, list(labels), registry=self.registry)

    def observe_call(self, method: str, code: str, seconds: float) -> None:
        self.grpc_requests.labels(method, code).inc()
        self.grpc_latency.labels(method).observe(seconds)

    def count_appended(self, events: Sequence[RecordedEvent]) -> None:
        for event in events:
            self.events_appended.labels(event.type).inc()

    # -- what is read at scrape time ------------------------------------------------------

    def gauge(self, name: str, documentation: str, read: Callable[[], Reading],
              label: str = "") -> None:
        """A gauge computed at each scrape by `read` (None: leave it out)."""
        self._gauges.add(name, documentation, read, label)

    def watch_store(self, store: EventStore, *, clock: Callable[[], datetime] = utcnow,
                    outbox: bool = True) -> None:
        """Count what `store` commits; with `outbox`, its backlog and the age
        of the oldest event in it."""
        store.on_committed.append(self.count_appended)
        if not outbox:
            return
        backlog: dict[str, Any] = {}

        def count() -> float:
            backlog["count"], backlog["oldest"] = store.outbox_backlog()
            return float(backlog["count"])

        def age() -> float:
            oldest = backlog.get("oldest")
            if not backlog.get("count") or oldest is None:
                return 0.0
            return max(0.0, (clock() - parse_time(oldest)).total_seconds())

        self.gauge("laurel_outbox_backlog_events",
                   "events committed but not yet published to Kafka", count)
        self.gauge("laurel_outbox_oldest_unpublished_age_seconds",
                   "age of the oldest event not yet published (0 when none)", age)

    # -- serving -----------------------------------------------------------------------------

    def serve(self, port: int | None = None) -> int | None:
        """Serve /metrics on the host and port given at construction (or
        `port`; 0: any free port) in a daemon thread; returns the port bound,
        None when no port was given."""
        port = self.port_wanted if port is None else port
        if port is None:
            return None
        self._server, self._thread = start_http_server(port, self.host, registry=self.registry)
        bound = int(self._server.server_port)
        log.info("%s serving metrics on port %s", self.service, bound,
                 extra={"metrics_port": bound})
        return bound

    @property
    def port(self) -> int | None:
        return int(self._server.server_port) if self._server is not None else None

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _Borrowed(Collector):
    """A collector of the process-wide registry, also in this one (the
    platform and GC collectors register themselves globally on import)."""

    def __init__(self, collector: Any) -> None:
        self.collector = collector

    def collect(self) -> Iterable[Any]:
        return list(self.collector.collect())


class _ScrapeTimeGauges(Collector):
    """Gauges whose values are read when Prometheus scrapes."""

    def __init__(self) -> None:
        self._sources: list[tuple[str, str, Callable[[], Reading], str]] = []
        self._failing: set[str] = set()

    def add(self, name: str, documentation: str, read: Callable[[], Reading],
            label: str) -> None:
        self._sources.append((name, documentation, read, label))

    def describe(self) -> Iterable[Any]:
        return []  # computed at scrape time; nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, documentation, read, label in list(self._sources):
            started = time.monotonic()
            try:
                value = read()
            except Exception as error:
                if name not in self._failing:
                    log.warning("metric %s could not be read (%s); left out until it can",
                                name, type(error).__name__)
                self._failing.add(name)
                continue
            if name in self._failing:
                self._failing.discard(name)
                log.info("metric %s can be read again (%.3fs)", name,
                         time.monotonic() - started)
            if value is None:
                continue
            family = GaugeMetricFamily(name, documentation, labels=[label] if label else None)
            if isinstance(value, Mapping):
                for key, number in sorted(value.items()):
                    family.add_metric([key], float(number))
            else:
                family.add_metric([], float(value))
            yield family
