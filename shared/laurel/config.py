"""Settings from the environment (LAUREL_*), read once at start-up.

A service must refuse to start with a clear message rather than run half
configured, so every setting is parsed and checked here, up front.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

SERVICES = ("intake", "scoring", "review", "notification")
DEFAULT_PORTS = {"intake": 50051, "scoring": 50052, "review": 50053, "notification": 50054}
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ConfigError(SystemExit):
    """Stops start-up; the message names the setting and what is wrong."""


@dataclass(frozen=True)
class KafkaSettings:
    """Every Kafka client option Laurel uses, in one place.

    The defaults suit Tansu and Apache Kafka alike: short sessions because a
    group join takes about half the session timeout, `earliest` because Tansu
    reports wrong end offsets (consumers rely on committed offsets and their
    own inbox), no idempotent producer because Tansu refuses InitProducerId.
    """

    bootstrap: str
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1000
    request_timeout_ms: int = 15000
    partitions: int = 3
    replication_factor: int = 1
    security_protocol: str = "PLAINTEXT"
    group_prefix: str = "laurel"

    def producer_options(self) -> dict[str, object]:
        """kafka-python KafkaProducer options (the outbox relay)."""
        return {
            "bootstrap_servers": self.bootstrap.split(","),
            "acks": "all",
            "retries": 5,
            "linger_ms": 5,
            "request_timeout_ms": self.request_timeout_ms,
            "security_protocol": self.security_protocol,
        }

    def consumer_options(self, group_id: str) -> dict[str, object]:
        """FastStream subscriber options (aiokafka underneath)."""
        return {
            "group_id": f"{self.group_prefix}.{group_id}",
            "auto_offset_reset": "earliest",
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
        }


@dataclass(frozen=True)
class Topics:
    """Each service publishes its events on one topic, keyed by nomination id."""

    intake: str = "laurel.intake.events"
    scoring: str = "laurel.scoring.events"
    review: str = "laurel.review.events"
    notification: str = "laurel.notification.events"

    def all(self) -> list[str]:
        return [getattr(self, f.name) for f in fields(self)]


@dataclass(frozen=True)
class Settings:
    service: str
    environment: str
    grpc_host: str
    grpc_port: int
    database_url: str
    kafka: KafkaSettings
    topics: Topics = field(default_factory=Topics)
    otel_exporter: str = "none"
    otel_endpoint: str = ""
    outbox_poll_ms: int = 200
    campaigns_dir: Path = PROJECT_ROOT / "shared" / "laurel" / "campaigns"
    data_dir: Path = PROJECT_ROOT / "var"

    @property
    def development(self) -> bool:
        return self.environment == "development"

    def grpc_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"


def load_settings(service: str, env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings of `service`; raise ConfigError naming any bad one."""
    env = os.environ if env is None else env
    if service not in SERVICES:
        raise ConfigError(f"unknown service {service!r}; expected one of {SERVICES}")
    reader = _Reader(env)
    data_dir = Path(reader.text("DATA_DIR", str(PROJECT_ROOT / "var")))
    settings = Settings(
        service=service,
        environment=reader.choice("ENV", "production", ("production", "development")),
        grpc_host=reader.text("GRPC_HOST", "0.0.0.0"),
        grpc_port=reader.integer("GRPC_PORT", DEFAULT_PORTS[service]),
        database_url=reader.text(
            "DATABASE_URL", f"sqlite:///{data_dir / f'{service}.sqlite'}"
        ),
        kafka=KafkaSettings(
            bootstrap=reader.required("KAFKA_BOOTSTRAP"),
            session_timeout_ms=reader.integer("KAFKA_SESSION_TIMEOUT_MS", 6000),
            heartbeat_interval_ms=reader.integer("KAFKA_HEARTBEAT_INTERVAL_MS", 1000),
            partitions=reader.integer("TOPIC_PARTITIONS", 3),
            replication_factor=reader.integer("TOPIC_REPLICATION_FACTOR", 1),
            security_protocol=reader.choice(
                "KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", ("PLAINTEXT", "SSL")
            ),
            group_prefix=reader.text("KAFKA_GROUP_PREFIX", "laurel"),
        ),
        topics=Topics(
            intake=reader.text("TOPIC_INTAKE", Topics.intake),
            scoring=reader.text("TOPIC_SCORING", Topics.scoring),
            review=reader.text("TOPIC_REVIEW", Topics.review),
            notification=reader.text("TOPIC_NOTIFICATION", Topics.notification),
        ),
        otel_exporter=reader.choice("OTEL_EXPORTER", "none", ("none", "console", "otlp")),
        otel_endpoint=reader.text("OTEL_ENDPOINT", ""),
        outbox_poll_ms=reader.integer("OUTBOX_POLL_MS", 200),
        campaigns_dir=Path(
            reader.text("CAMPAIGNS_DIR", str(Settings.campaigns_dir))
        ),
        data_dir=data_dir,
    )
    if settings.otel_exporter == "otlp" and not settings.otel_endpoint:
        raise ConfigError("LAUREL_OTEL_EXPORTER=otlp needs LAUREL_OTEL_ENDPOINT")
    return settings


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str) -> str:
        return self.env.get(f"LAUREL_{name}", default)

    def required(self, name: str) -> str:
        value = self.env.get(f"LAUREL_{name}", "").strip()
        if not value:
            raise ConfigError(f"LAUREL_{name} is required and not set")
        return value

    def integer(self, name: str, default: int) -> int:
        raw = self.env.get(f"LAUREL_{name}")
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"LAUREL_{name}={raw!r} is not a whole number") from None

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.env.get(f"LAUREL_{name}", default)
        if value not in allowed:
            raise ConfigError(f"LAUREL_{name}={value!r}; expected one of {allowed}")
        return value
