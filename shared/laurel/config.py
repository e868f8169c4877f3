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
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    # An event of record can be large (a round's result with every breakdown):
    # the producer accepts it up to this size and gzips it, so what reaches the
    # broker stays under its default 1 MB message limit.
    max_message_bytes: int = 8 * 1024 * 1024

    def producer_options(self) -> dict[str, object]:
        """kafka-python KafkaProducer options (the outbox relay)."""
        return {
            "bootstrap_servers": self.bootstrap.split(","),
            "acks": "all",
            "retries": 5,
            "linger_ms": 5,
            "compression_type": "gzip",
            "max_request_size": self.max_message_bytes,
            "request_timeout_ms": self.request_timeout_ms,
            "security_protocol": self.security_protocol,
            **self.tls_options(),
        }

    def tls_options(self) -> dict[str, object]:
        """kafka-python TLS options when the protocol is SSL (CA, client cert)."""
        if self.security_protocol != "SSL":
            return {}
        options: dict[str, object] = {"ssl_check_hostname": True}
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if getattr(self, name):
                options[name] = getattr(self, name)
        return options

    def ssl_context(self) -> object | None:
        """An ssl.SSLContext for aiokafka/FastStream consumers, or None."""
        if self.security_protocol != "SSL":
            return None
        import ssl

        context = ssl.create_default_context(cafile=self.ssl_cafile or None)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile or None)
        return context

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
class SecuritySettings:
    """Who may call (JWT keys), how (TLS), and how much (message size).

    Outside development the JWT settings are required: `laurel.auth.
    authenticator_for` refuses to build a server without them. Refused calls
    are recorded in a separate security log store, so the service's own event
    store is never changed by a refusal.
    """

    jwt_public_key_files: tuple[Path, ...] = ()  # PEM files and/or a JWKS (.json)
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_leeway_s: int = 30
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    max_message_bytes: int = 8 * 1024 * 1024
    security_log_url: str = ""

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None


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
    security: SecuritySettings = field(default_factory=SecuritySettings)

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
            ssl_cafile=reader.text("KAFKA_SSL_CAFILE", ""),
            ssl_certfile=reader.text("KAFKA_SSL_CERTFILE", ""),
            ssl_keyfile=reader.text("KAFKA_SSL_KEYFILE", ""),
            max_message_bytes=reader.integer("KAFKA_MAX_MESSAGE_BYTES",
                                             KafkaSettings.max_message_bytes),
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
        security=load_security(reader, data_dir / f"{service}.security.sqlite"),
    )
    if settings.otel_exporter == "otlp" and not settings.otel_endpoint:
        raise ConfigError("LAUREL_OTEL_EXPORTER=otlp needs LAUREL_OTEL_ENDPOINT")
    return settings


def security_settings(env: Mapping[str, str], default_log: Path) -> SecuritySettings:
    """The LAUREL_JWT_* / LAUREL_TLS_* settings alone (for `laurel audit serve`)."""
    return load_security(_Reader(env), default_log)


def load_security(reader: _Reader, default_log: Path) -> SecuritySettings:
    """JWT, TLS and size settings. The files are read when the server is built
    (`laurel.runtime.secured_server`), which names any that cannot be."""
    keys = tuple(Path(p.strip()) for p in reader.text("JWT_PUBLIC_KEY_FILE", "").split(",")
                 if p.strip())
    jwks = reader.path("AUTH_JWKS_FILE")
    tls = {name: reader.path(f"TLS_{name.upper()}") for name in
           ("cert_file", "key_file", "ca_file")}
    if (tls["cert_file"] is None) != (tls["key_file"] is None):
        raise ConfigError("LAUREL_TLS_CERT_FILE and LAUREL_TLS_KEY_FILE go together")
    if tls["ca_file"] is not None and tls["cert_file"] is None:
        raise ConfigError("LAUREL_TLS_CA_FILE (mutual TLS) needs "
                          "LAUREL_TLS_CERT_FILE and LAUREL_TLS_KEY_FILE")
    size = reader.integer("GRPC_MAX_MESSAGE_BYTES", SecuritySettings.max_message_bytes)
    if not 1024 <= size <= 64 * 1024 * 1024:
        raise ConfigError("LAUREL_GRPC_MAX_MESSAGE_BYTES must be between 1 KiB and 64 MiB")
    return SecuritySettings(
        jwt_public_key_files=keys + ((jwks,) if jwks else ()),
        jwt_issuer=reader.text("JWT_ISSUER", ""),
        jwt_audience=reader.text("JWT_AUDIENCE", ""),
        jwt_leeway_s=reader.integer("JWT_LEEWAY_S", 30),
        tls_cert_file=tls["cert_file"],
        tls_key_file=tls["key_file"],
        tls_client_ca_file=tls["ca_file"],
        max_message_bytes=size,
        security_log_url=reader.text("SECURITY_LOG_URL", f"sqlite:///{default_log}"),
    )


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str) -> str:
        return self.env.get(f"LAUREL_{name}", default)

    def path(self, name: str) -> Path | None:
        value = self.env.get(f"LAUREL_{name}", "").strip()
        return Path(value) if value else None

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
