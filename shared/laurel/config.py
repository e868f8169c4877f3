"""Settings from the environment (LAUREL_*), read once at start-up.

A service must refuse to start with a clear message rather than run half
configured, so every setting is declared here (or in a service's own
`settings` module, on `ServiceSettings`), typed, documented and checked up
front by pydantic-settings. A malformed value stops start-up with one line
naming the variable (`ConfigError`), never a traceback.

Each group of settings is its own class with its own prefix, so the variable
names stay flat (`LAUREL_KAFKA_BOOTSTRAP`, not `LAUREL_KAFKA__BOOTSTRAP`):
`KafkaSettings`, `Topics`, `SecuritySettings`, `TelemetrySettings`, and the
`ServiceSettings` every service starts from. `python -m laurel.config --write
README.md` renders every variable of every class (the services' own classes
are found through the `laurel.settings` entry points their distributions
declare) into the README's configuration table; a test fails when it is stale.
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

SERVICES = ("intake", "scoring", "review", "notification")
DEFAULT_PORTS = {"intake": 50051, "scoring": 50052, "review": 50053, "notification": 50054,
                 "audit": 50055}
CAMPAIGNS_DIR = Path(__file__).resolve().parent / "campaigns"
# The source tree, where there is one (development): tools and tests find
# repo files from here. Installed code must not depend on it.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINT_GROUP = "laurel.settings"


class ConfigError(SystemExit):
    """Stops start-up; the message names the setting and what is wrong."""


# -- reading a given mapping instead of os.environ -----------------------------

_environment: ContextVar[Mapping[str, str] | None] = ContextVar(
    "laurel_settings_environment", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """The environment source, reading the mapping `LaurelSettings.load` was
    given (tests run several services in one process, each with its own
    variables) or else os.environ. pydantic-settings reads os.environ only;
    this is its documented source with the one method that fetches it
    replaced."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = _environment.get()
        return parse_env_vars(os.environ if env is None else env, self.case_sensitive,
                              self.env_ignore_empty, self.env_parse_none_str)


@contextmanager
def _reading(env: Mapping[str, str] | None) -> Iterator[None]:
    token = _environment.set(env)
    try:
        yield
    finally:
        _environment.reset(token)


class LaurelSettings(BaseSettings):
    """A group of LAUREL_* settings: frozen, documented, checked at start."""

    model_config = SettingsConfigDict(env_prefix="LAUREL_", frozen=True, extra="ignore",
                                      env_ignore_empty=True,
                                      populate_by_name=True)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _MappingEnvSource(settings_cls)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **values: Any) -> Self:
        """Read from `env` (default os.environ); `values` win over both.

        A malformed or missing value raises ConfigError with one line naming
        the variable, the value and what is expected."""
        with _reading(env):
            try:
                return cls(**values)
            except ValidationError as error:
                raise ConfigError(_one_line(cls, error, env)) from None

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable that sets field `name`."""
        field = cls.model_fields[name]
        if isinstance(field.validation_alias, str):
            return field.validation_alias
        return f"{cls.model_config.get('env_prefix', '')}{name}".upper()

    @classmethod
    def documented(cls) -> Iterator[tuple[str, str, str]]:
        """(variable, default, meaning) of every field read from the environment."""
        for name, field in cls.model_fields.items():
            if field.exclude or (field.json_schema_extra or {}) == {"nested": True}:
                continue
            yield cls.variable(name), _default_text(field), field.description or ""


def _default_text(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "shown_default" in extra:
        return str(extra["shown_default"])
    if field.is_required():
        return "(required)"
    default = field.get_default(call_default_factory=False)
    if default is None or default == "" or default == ():
        return ""
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, tuple | frozenset | list):
        return ",".join(sorted(str(v) for v in default))
    return str(default)


# pydantic's wording for the commonest mistakes, said as a person would.
_PLAIN = {
    "int_parsing": "not a whole number",
    "float_parsing": "not a number",
    "bool_parsing": "expected true or false",
    "literal_error": "expected one of {expected}",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
}


def _groups(cls: type[LaurelSettings]) -> Iterator[type[LaurelSettings]]:
    """`cls` and the groups nested in it."""
    yield cls
    for field in cls.model_fields.values():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, LaurelSettings):
            yield from _groups(annotation)


def _one_line(cls: type[LaurelSettings], error: ValidationError,
              env: Mapping[str, str] | None) -> str:
    """The first problem as `LAUREL_X='value': what is wrong`."""
    problem = error.errors(include_url=False)[0]
    # A nested group (kafka, topics, security) reports its own fields.
    owner = next((g for g in _groups(cls) if g.__name__ == error.title), cls)
    location = [str(part) for part in problem["loc"]]
    while len(location) > 1 and location[0] in owner.model_fields:
        annotation = owner.model_fields[location[0]].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, LaurelSettings)):
            break
        owner, location = annotation, location[1:]
    name = location[0] if location else ""
    aliases = {f.validation_alias: n for n, f in owner.model_fields.items()
               if isinstance(f.validation_alias, str)}
    name = aliases.get(name, name)
    message = _PLAIN.get(problem["type"], str(problem["msg"])).format(
        **problem.get("ctx", {})).removeprefix("Value error, ")
    if name not in owner.model_fields:
        return message  # a rule over several settings names them itself
    variable = owner.variable(name)
    source = os.environ if env is None else env
    if problem["type"] == "missing":
        return f"{variable} is required and not set"
    if variable in source:
        return f"{variable}={source[variable]!r}: {message}"
    return f"{variable}: {message}"


def _nested(factory: type[LaurelSettings]) -> Any:
    """A group read from the same environment as its parent."""
    return Field(default_factory=factory, json_schema_extra={"nested": True})


# -- the groups -------------------------------------------------------------------

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
BrokerKind = Literal["tansu", "kafka"]
# How long a consumer's fetch may wait at the broker for data, per broker kind.
# Apache Kafka answers a waiting fetch as soon as data arrives, so its client
# default (500 ms) costs no latency. Tansu answers only when the wait is over:
# at 500 ms that wait was 238 ms of a 264 ms submission-to-receipt median
# (issue 14); at 25 ms the median was 18-20 ms for ~1.7 % of a core per idle
# consumer.
FETCH_MAX_WAIT_MS: dict[str, int] = {"tansu": 25, "kafka": 500}
# The relay's producer compression, per broker kind. Tansu takes a record of
# several MB as it is, and compressing cost ~15 % of the relay's CPU per
# event (gzip in kafka-python's network thread; A/B measured, issue 14 item
# 4). Apache Kafka refuses a record over its 1 MB `message.max.bytes` by
# default: gzip keeps a round's result with every breakdown under it.
PRODUCER_COMPRESSION: dict[str, str | None] = {"tansu": None, "kafka": "gzip"}
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(LaurelSettings):
    """Every Kafka client option Laurel uses, in one place.

    `broker_kind` says which broker the clients talk to, and picks the
    options where the two differ (`fetch_max_wait_ms`, see FETCH_MAX_WAIT_MS;
    the relay's compression, see PRODUCER_COMPRESSION);
    the rest suit Tansu and Apache Kafka alike: short sessions because a
    group join takes about half the session timeout on Tansu, `earliest`
    because Tansu reports wrong end offsets (consumers rely on committed
    offsets and their own inbox).

    The relay's producer is not idempotent unless `idempotent_producer` says
    so: kafka-python 3 turns idempotence on by default, so `producer_options`
    passes `enable_idempotence` explicitly. Against Tansu an idempotent
    producer fails with UnknownProducerIdError after a broker restart (the
    broker forgets producer ids); consumers drop duplicates by event id, so
    idempotence adds nothing Laurel relies on. Turn it on only for a broker
    that keeps producer state (Apache Kafka 3+, Redpanda). Without it, one
    request in flight per connection keeps the events in position order
    through retries. Every blocking step of the producer is bounded (a stop
    must not wait for a lost broker): see `producer_options`.
    """

    model_config = SettingsConfigDict(env_prefix="LAUREL_KAFKA_")

    bootstrap: str = Field(description="Kafka bootstrap servers (host:port, comma-separated)")
    broker_kind: BrokerKind = Field(
        "tansu", description="`tansu` (the development broker) or `kafka` (Apache Kafka, "
                             "Strimzi): picks the consumers' fetch wait and the relay's "
                             "compression")
    fetch_max_wait_ms: int | None = Field(
        None, ge=0, le=60000,
        json_schema_extra={"shown_default": "25 on tansu, 500 on kafka"},
        description="longest a consumer's fetch waits at the broker for data (Tansu "
                    "answers only when it is over, Kafka as soon as data arrives)")
    linger_ms: int = Field(5, ge=0, le=10000,
                           description="the relay's producer: wait this long to fill a batch")
    batch_size: int = Field(16384, ge=1024,
                            description="the relay's producer: bytes per partition batch")
    session_timeout_ms: int = Field(6000, ge=1000, description="consumer group session timeout")
    heartbeat_interval_ms: int = Field(1000, ge=100, description="consumer heartbeat interval")
    request_timeout_ms: int = Field(15000, ge=1000, description="client request timeout")
    partitions: int = Field(3, ge=1, validation_alias="LAUREL_TOPIC_PARTITIONS",
                            description="partitions per topic, for topic creation")
    replication_factor: int = Field(
        1, ge=1, validation_alias="LAUREL_TOPIC_REPLICATION_FACTOR",
        description="replication factor, for topic creation")
    security_protocol: SecurityProtocol = Field(
        "PLAINTEXT", description="`SSL` for TLS; `SASL_PLAINTEXT`/`SASL_SSL` with SASL")
    group_prefix: str = Field("laurel", description="consumer group prefix")
    idempotent_producer: bool = Field(
        False, description="idempotent outbox producer: only for a broker that keeps "
                           "producer ids across restarts (Apache Kafka), never Tansu")
    max_block_ms: int = Field(
        5000, ge=100, description="longest the relay's producer blocks for metadata or "
                                  "a connection before the pass fails and backs off")
    ssl_cafile: str = Field("", description="CA bundle (PEM) that signed the brokers' certificates")
    ssl_certfile: str = Field("", description="client certificate (PEM), for mutual TLS")
    ssl_keyfile: str = Field("", description="client private key (PEM), for mutual TLS")
    sasl_mechanism: SaslMechanism = Field("PLAIN", description="SASL mechanism")
    sasl_username: str = Field("", description="SASL user name")
    sasl_password_file: str = Field("", description="file holding the SASL password")
    # An event of record can be large (a round's result with every breakdown):
    # the producer accepts it up to this size and gzips it, so what reaches the
    # broker stays under its default 1 MB message limit.
    max_message_bytes: int = Field(
        8 * 1024 * 1024, ge=1024,
        description="largest event the relay publishes (gzipped on the wire against "
                    "Apache Kafka, so its 1 MB limit holds a much larger result; Tansu "
                    "takes it as it is)")

    @model_validator(mode="after")
    def _sasl_complete(self) -> Self:
        if self.security_protocol.startswith("SASL") and not (
                self.sasl_username and self.sasl_password_file):
            raise ValueError(f"LAUREL_KAFKA_SECURITY_PROTOCOL={self.security_protocol} "
                             "needs LAUREL_KAFKA_SASL_USERNAME and "
                             "LAUREL_KAFKA_SASL_PASSWORD_FILE")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def sasl_password(self) -> str:
        try:
            return Path(self.sasl_password_file).read_text().strip()
        except OSError as error:
            raise ConfigError(f"LAUREL_KAFKA_SASL_PASSWORD_FILE={self.sasl_password_file!r} "
                              f"cannot be read: {error.strerror}") from None

    def producer_options(self) -> dict[str, object]:
        """kafka-python KafkaProducer options (the outbox relay)."""
        return {
            "bootstrap_servers": self.bootstrap.split(","),
            "acks": "all",
            "enable_idempotence": self.idempotent_producer,  # see the class docstring
            "max_in_flight_requests_per_connection": 5 if self.idempotent_producer else 1,
            "retries": 5,
            "allow_auto_create_topics": False,  # the relay creates them (partitions)
            "max_block_ms": self.max_block_ms,
            "bootstrap_timeout_ms": self.max_block_ms,
            "delivery_timeout_ms": self.delivery_timeout_ms(),
            "linger_ms": self.linger_ms,
            "batch_size": self.batch_size,
            "compression_type": PRODUCER_COMPRESSION[self.broker_kind],
            "max_request_size": self.max_message_bytes,
            "request_timeout_ms": self.request_timeout_ms,
            "security_protocol": self.security_protocol,
            **self.tls_options(),
            **self.sasl_options(),
        }

    def delivery_timeout_ms(self) -> int:
        """How long a sent event may wait for the broker's answer (kafka-python
        requires at least linger + request timeout)."""
        return self.request_timeout_ms + 5000

    def tls_options(self) -> dict[str, object]:
        """kafka-python TLS options when the protocol uses TLS (CA, client cert)."""
        if not self.uses_tls:
            return {}
        options: dict[str, object] = {"ssl_check_hostname": True}
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if getattr(self, name):
                options[name] = getattr(self, name)
        return options

    def sasl_options(self) -> dict[str, object]:
        """kafka-python SASL options when the protocol uses SASL."""
        if not self.security_protocol.startswith("SASL"):
            return {}
        return {"sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password()}

    def ssl_context(self) -> ssl.SSLContext | None:
        """An ssl.SSLContext for aiokafka/FastStream consumers, or None."""
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile or None)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile or None)
        return context

    @property
    def fetch_wait_ms(self) -> int:
        """The consumers' fetch wait: the setting, or the broker kind's."""
        if self.fetch_max_wait_ms is not None:
            return self.fetch_max_wait_ms
        return FETCH_MAX_WAIT_MS[self.broker_kind]

    def consumer_options(self, group_id: str) -> dict[str, Any]:
        """FastStream subscriber options (aiokafka underneath)."""
        return {
            "group_id": f"{self.group_prefix}.{group_id}",
            "auto_offset_reset": "earliest",
            "fetch_max_wait_ms": self.fetch_wait_ms,
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
        }


class Topics(LaurelSettings):
    """Each service publishes its events on one topic (keys: see README, Kafka)."""

    model_config = SettingsConfigDict(env_prefix="LAUREL_TOPIC_")

    intake: str = Field("laurel.intake.events", description="intake's event topic")
    scoring: str = Field("laurel.scoring.events", description="scoring's event topic")
    review: str = Field("laurel.review.events", description="review's event topic")
    notification: str = Field("laurel.notification.events",
                              description="notification's event topic")

    def all(self) -> list[str]:
        return [self.intake, self.scoring, self.review, self.notification]


class CatchUpSettings(LaurelSettings):
    """Where a consumer reads its upstreams' published logs, and how often.

    Kafka is the fast path; the upstream's store is the truth. A consumer
    compares what it applied with each upstream's log (`EventLogService.
    ReadLog` on the upstream's own gRPC port) at start-up and every
    `interval_s`, and applies from the log what Kafka did not bring within
    `grace_s` (laurel.catchup). Outside development the calls carry the
    bearer token in `token_file` (a token of the service role).
    """

    model_config = SettingsConfigDict(env_prefix="LAUREL_CATCHUP_")

    intake_address: str = Field(f"127.0.0.1:{DEFAULT_PORTS['intake']}",
                                description="intake's gRPC address (its published log)")
    scoring_address: str = Field(f"127.0.0.1:{DEFAULT_PORTS['scoring']}",
                                 description="scoring's gRPC address (its published log)")
    review_address: str = Field(f"127.0.0.1:{DEFAULT_PORTS['review']}",
                                description="review's gRPC address (its published log)")
    notification_address: str = Field(
        f"127.0.0.1:{DEFAULT_PORTS['notification']}",
        description="notification's gRPC address (its published log)")
    interval_s: float = Field(10.0, gt=0, description="how often a consumer compares what "
                                                       "it applied with each upstream's log")
    grace_s: float = Field(5.0, ge=0, description="how long a position Kafka has not "
                                                   "brought may stay missing before it "
                                                   "is read from the upstream's log")
    token_file: Path | None = Field(
        None, description="bearer token (service role) sent to upstreams; required "
                          "outside development")
    ca_file: Path | None = Field(
        None, description="CA (PEM) of the upstreams' TLS certificates: call them over TLS")

    def address(self, upstream: str) -> str:
        address: str = getattr(self, f"{upstream}_address")
        return address


class SecuritySettings(LaurelSettings):
    """Who may call (JWT keys), how (TLS), and how much (message size).

    Outside development the JWT settings are required: `laurel.auth.
    authenticator_for` refuses to build a server without them. Refused calls
    are recorded in a separate security log store, so the service's own event
    store is never changed by a refusal. The files are read when the server is
    built (`laurel.runtime.secured_server`), which names any that cannot be.
    """

    jwt_public_key_file: str = Field(
        "", description="PEM public key(s) of the token issuer (Ed25519 or RSA; several "
                        "files comma-separated, several keys per file: rotation); this or "
                        "the next is required outside development")
    auth_jwks_file: Path | None = Field(
        None, description="the issuer's keys as a JSON Web Key Set (what the chart mounts)")
    jwt_issuer: str = Field("", description="the `iss` every token must carry (with a key)")
    jwt_audience: str = Field("", description="the `aud` every token must carry (with a key)")
    jwt_leeway_s: int = Field(30, ge=0, description="clock skew allowed on `exp`/`nbf`")
    tls_cert_file: Path | None = Field(
        None, description="serve gRPC over TLS with this certificate (PEM), with the key")
    tls_key_file: Path | None = Field(None, description="the TLS private key (PEM)")
    tls_ca_file: Path | None = Field(
        None, description="require client certificates signed by this CA (mutual TLS)")
    max_message_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024,
        validation_alias="LAUREL_GRPC_MAX_MESSAGE_BYTES",
        description="largest gRPC message a service accepts or sends")
    security_log_url: str = Field(
        "", json_schema_extra={"shown_default": "sqlite:///var/<service>.security.sqlite"},
        description="where refused calls are recorded (an event store of its own)")

    @model_validator(mode="after")
    def _tls_complete(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("LAUREL_TLS_CERT_FILE and LAUREL_TLS_KEY_FILE go together")
        if self.tls_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("LAUREL_TLS_CA_FILE (mutual TLS) needs LAUREL_TLS_CERT_FILE "
                             "and LAUREL_TLS_KEY_FILE")
        return self

    @property
    def jwt_public_key_files(self) -> tuple[Path, ...]:
        """PEM files and/or a JWKS (.json)."""
        keys = tuple(Path(p.strip()) for p in self.jwt_public_key_file.split(",")
                     if p.strip())
        return keys + ((self.auth_jwks_file,) if self.auth_jwks_file else ())

    @property
    def tls_client_ca_file(self) -> Path | None:
        return self.tls_ca_file

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None


class TelemetrySettings(LaurelSettings):
    """Where traces go."""

    model_config = SettingsConfigDict(env_prefix="LAUREL_OTEL_")

    exporter: Literal["none", "console", "otlp"] = Field(
        "none", description="`console` or `otlp`")
    endpoint: str = Field("", description="OTLP gRPC endpoint (with `otlp`)")
    insecure: bool = Field(False, description="send OTLP without TLS (a collector on "
                                              "localhost or in the pod)")
    ca_file: Path | None = Field(None, description="CA bundle (PEM) for the OTLP endpoint")

    @model_validator(mode="after")
    def _endpoint_for_otlp(self) -> Self:
        if self.exporter == "otlp" and not self.endpoint:
            raise ValueError("LAUREL_OTEL_EXPORTER=otlp needs LAUREL_OTEL_ENDPOINT")
        return self


class LogSettings(LaurelSettings):
    """How a service process logs (`laurel.logs`)."""

    model_config = SettingsConfigDict(env_prefix="LAUREL_LOG_")

    format: Literal["json", "text"] = Field(
        "json", description="`json`: one JSON object a line (for a log collector); `text`: "
                            "for a person at a terminal")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="the least severe records written")


class ServiceSettings(LaurelSettings):
    """What every service reads. A service's own settings class extends it
    (`laurel.<service>.settings`) and is declared as a `laurel.settings`
    entry point of its distribution."""

    service: ClassVar[str] = ""  # each service's class names itself

    environment: Literal["production", "development"] = Field(
        "production", validation_alias="LAUREL_ENV",
        description="`development` accepts development tokens")
    grpc_host: str = Field("0.0.0.0", description="listen address")
    grpc_port: int = Field(
        0, ge=0, le=65535, json_schema_extra={"shown_default": "50051–50055 by service"},
        description="listen port (0: any free port)")
    data_dir: Path = Field(Path("var"), description="SQLite files and dev logs")
    database_url: str = Field(
        "", json_schema_extra={"shown_default": "sqlite:///var/<service>.sqlite"},
        description="event store URL (`postgresql+psycopg://…`)")
    outbox_poll_ms: int = Field(200, ge=1, description="outbox relay idle poll")
    leader_check_s: float = Field(
        1.0, gt=0, description="how often a replica tries to become, or confirms it is, the "
                               "one that publishes the outbox and runs periodic jobs")
    outbox_stuck_after_s: float = Field(
        30.0, gt=0, description="the relay reports unhealthy (readiness) once events "
                                "have waited this long unpublished")
    metrics_port: int | None = Field(
        None, ge=0, le=65535,
        description="serve Prometheus metrics at /metrics on this port, on the gRPC listen "
                    "address (0: any free port; unset: not served; the chart and the "
                    "image set 9464)")
    campaigns_dir: Path = Field(
        CAMPAIGNS_DIR, json_schema_extra={"shown_default": "the shipped definitions"},
        description="campaign definitions")
    kafka: KafkaSettings = _nested(KafkaSettings)
    topics: Topics = _nested(Topics)
    security: SecuritySettings = _nested(SecuritySettings)
    telemetry: TelemetrySettings = _nested(TelemetrySettings)
    catchup: CatchUpSettings = _nested(CatchUpSettings)
    logging: LogSettings = _nested(LogSettings)

    @model_validator(mode="after")
    def _per_service_defaults(self) -> Self:
        """Defaults that depend on the service and the data directory."""
        name = self.service
        if not self.database_url:
            object.__setattr__(self, "database_url",
                               f"sqlite:///{self.data_dir / f'{name}.sqlite'}")
        if not self.security.security_log_url:
            object.__setattr__(self, "security", self.security.model_copy(update={
                "security_log_url": f"sqlite:///{self.data_dir / f'{name}.security.sqlite'}"}))
        if self.grpc_port == 0 and "grpc_port" not in self.model_fields_set:
            object.__setattr__(self, "grpc_port", DEFAULT_PORTS.get(name, 0))
        return self

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("expected sqlite:///<file> or postgresql+psycopg://…")
        if value:
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                make_url(value).port  # noqa: B018 (parsed lazily: a bad port shows here)
            except (ArgumentError, ValueError) as error:
                raise ValueError(f"not a database URL ({error}); expected "
                                 "sqlite:///<file> or postgresql+psycopg://…") from None
        return value

    @property
    def development(self) -> bool:
        return self.environment == "development"

    @property
    def otel_exporter(self) -> str:
        return self.telemetry.exporter

    @property
    def otel_endpoint(self) -> str:
        return self.telemetry.endpoint

    def grpc_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"


def service_settings_class(service: str) -> type[ServiceSettings]:
    """A service's settings class: its declared entry point, else the shared one."""
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == service:
            found = entry.load()
            if isinstance(found, type) and issubclass(found, ServiceSettings):
                return found
    return type(f"{service.title()}Settings", (ServiceSettings,), {"service": service})


def load_settings(service: str, env: Mapping[str, str] | None = None) -> ServiceSettings:
    """Read the settings of `service`; raise ConfigError naming any bad one."""
    if service not in (*SERVICES, "audit"):
        raise ConfigError(f"unknown service {service!r}; expected one of {SERVICES}")
    return service_settings_class(service).load(env)


# Older name, kept for the modules that annotate with it.
Settings = ServiceSettings


# -- the README table ----------------------------------------------------------------

TABLE_BEGIN = ("<!-- settings-table:begin "
               "(generated by `python -m laurel.config --write README.md`) -->")
TABLE_END = "<!-- settings-table:end -->"
SHARED_GROUPS: tuple[type[LaurelSettings], ...] = (
    ServiceSettings, KafkaSettings, Topics, SecuritySettings, TelemetrySettings,
    CatchUpSettings, LogSettings)


def settings_table() -> str:
    """Every variable of every settings class, shared and per service."""
    rows: dict[str, tuple[str, str, str]] = {}
    classes: list[tuple[str, type[LaurelSettings]]] = [("all", c) for c in SHARED_GROUPS]
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        classes.append((entry.name, entry.load()))
    for who, cls in classes:
        for variable, default, meaning in cls.documented():
            rows.setdefault(variable, (who, default, meaning))
    lines = ["| variable | service | default | meaning |", "|---|---|---|---|"]
    for variable in sorted(rows):
        who, default, meaning = rows[variable]
        plain = not default or default.startswith("(") or " " in default
        shown = default if plain else f"`{default}`"
        lines.append(f"| `{variable}` | {who} | {shown} | {meaning} |")
    return "\n".join([TABLE_BEGIN, *lines, TABLE_END])


def write_table(path: Path) -> bool:
    """Replace the table between the markers; True when the file changed."""
    text = path.read_text()
    start, end = text.index(TABLE_BEGIN), text.index(TABLE_END) + len(TABLE_END)
    updated = text[:start] + settings_table() + text[end:]
    if updated != text:
        path.write_text(updated)
    return updated != text


if __name__ == "__main__":  # python -m laurel.config [--write README.md]
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        write_table(Path(sys.argv[2]))
    else:
        print(settings_table())
