"""Fixtures shared by every test: real broker, real databases, real ports.

PostgreSQL runs when LAUREL_TEST_POSTGRES_URL names a server (CI sets it);
a test told to use PostgreSQL that cannot reach it fails, it never skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from laurel.broker import TansuBroker, ensure_topics
from laurel.config import KafkaSettings
from laurel.telemetry import configure_tracing

POSTGRES_URL = os.environ.get("LAUREL_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    configure_tracing("tests", extra_processors=(SimpleSpanProcessor(exporter),))
    return exporter


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """One real Tansu broker for the session; tests isolate by topic names."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with TansuBroker(log_path=log) as broker:
        yield broker


@pytest.fixture
def topic_suffix() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def service_env(kafka_broker: TansuBroker, topic_suffix: str, tmp_path) -> dict[str, str]:
    """Environment for in-process services: fresh topics, stores under tmp_path."""
    env = {
        "LAUREL_ENV": "development",
        "LAUREL_GRPC_HOST": "127.0.0.1",
        "LAUREL_GRPC_PORT": "0",
        "LAUREL_DATA_DIR": str(tmp_path),
        "LAUREL_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "LAUREL_OUTBOX_POLL_MS": "50",
        "LAUREL_KAFKA_GROUP_PREFIX": f"test-{topic_suffix}",
    }
    for service in ("intake", "scoring", "review", "notification"):
        env[f"LAUREL_TOPIC_{service.upper()}"] = f"laurel.{service}.events.{topic_suffix}"
    ensure_topics(
        KafkaSettings(bootstrap=kafka_broker.bootstrap),
        [v for k, v in env.items() if k.startswith("LAUREL_TOPIC_")],
    )
    return env


def _fresh_postgres_database() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not requested: set LAUREL_TEST_POSTGRES_URL (CI does)")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"laurel_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # unreachable server: fail loudly, never skip
        pytest.fail(f"LAUREL_TEST_POSTGRES_URL={POSTGRES_URL} is not usable: {error}")
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
    else:
        yield from _fresh_postgres_database()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (for tests about PostgreSQL only)."""
    yield from _fresh_postgres_database()
