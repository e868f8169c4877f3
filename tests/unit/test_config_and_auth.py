"""Start-up refuses bad settings; development tokens need development mode."""

from __future__ import annotations

import pytest

from laurel.auth import DevTokenAuthenticator, dev_token
from laurel.config import PROJECT_ROOT, ConfigError, load_settings, settings_table
from laurel.envelope import Actor
from laurel.errors import Unauthenticated

BASE = {"LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9092"}


def test_missing_bootstrap_stops_start_up_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="LAUREL_KAFKA_BOOTSTRAP is required"):
        load_settings("intake", {})


@pytest.mark.parametrize(("name", "value", "message"), [
    ("LAUREL_GRPC_PORT", "fifty", "not a whole number"),
    ("LAUREL_ENV", "staging", "expected one of"),
    ("LAUREL_OTEL_EXPORTER", "otlp", "needs LAUREL_OTEL_ENDPOINT"),
    ("LAUREL_TOPIC_PARTITIONS", "many", "not a whole number"),
    ("LAUREL_GRPC_MAX_MESSAGE_BYTES", "10", "at least 1024"),
    ("LAUREL_DATABASE_URL", "mysql://db/laurel", "expected sqlite"),
    ("LAUREL_KAFKA_SECURITY_PROTOCOL", "SASL_SSL", "needs LAUREL_KAFKA_SASL_USERNAME"),
    ("LAUREL_TLS_CERT_FILE", "/etc/cert.pem", "go together"),
    ("LAUREL_KAFKA_BROKER_KIND", "redpanda", "expected one of"),
])
def test_bad_settings_are_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        load_settings("intake", {**BASE, name: value})
    text = str(refused.value)
    assert "\n" not in text and name in text  # one line, naming the variable


def test_the_readme_lists_every_setting() -> None:
    """`python -m laurel.config --write README.md` renders this table."""
    assert settings_table() in (PROJECT_ROOT / "README.md").read_text()


def test_defaults_are_production_with_a_sqlite_file_per_service() -> None:
    settings = load_settings("scoring", BASE)
    assert settings.environment == "production" and not settings.development
    assert settings.grpc_port == 50052
    assert settings.database_url.endswith("scoring.sqlite")
    assert settings.kafka.consumer_options("g")["auto_offset_reset"] == "earliest"


def test_the_broker_kind_picks_the_fetch_wait() -> None:
    """Tansu answers a waiting fetch only when the wait ends: a short wait
    there; Apache Kafka answers when data arrives: its client default."""
    def wait(**env: str) -> object:
        settings = load_settings("scoring", {**BASE, **env})
        return settings.kafka.consumer_options("g")["fetch_max_wait_ms"]

    assert wait() == 25
    assert wait(LAUREL_KAFKA_BROKER_KIND="kafka") == 500
    assert wait(LAUREL_KAFKA_BROKER_KIND="kafka", LAUREL_KAFKA_FETCH_MAX_WAIT_MS="100") == 100
    producer = load_settings("intake", {**BASE, "LAUREL_KAFKA_LINGER_MS": "2"}).kafka
    assert producer.producer_options()["linger_ms"] == 2


def test_the_broker_kind_picks_the_relay_compression() -> None:
    """Tansu takes a large record as it is (compressing only costs CPU);
    Apache Kafka's 1 MB record limit needs a large result gzipped."""
    def compression(**env: str) -> object:
        return load_settings("intake", {**BASE, **env}).kafka.producer_options()[
            "compression_type"]

    assert compression() is None
    assert compression(LAUREL_KAFKA_BROKER_KIND="kafka") == "gzip"


def test_the_producer_checksums_with_the_crc32c_extension() -> None:
    """kafka-python takes the C extension when it is installed (the lock pins
    it): CRC-32C in pure Python costs the relay's network thread ~25 %."""
    import crc32c
    from kafka.record import util

    assert util.calc_crc32c.__defaults__ == (crc32c.crc32c,)


ACTOR = Actor("nominator-1", "nominator", "hospital-zz-1")


def headers(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "x-correlation-id": "corr-1"}


def test_development_token_is_refused_unless_in_development_mode() -> None:
    with pytest.raises(Unauthenticated, match="LAUREL_ENV=development"):
        DevTokenAuthenticator(development=False).authenticate(headers(dev_token(ACTOR)))


def test_development_token_names_the_actor() -> None:
    request = DevTokenAuthenticator(development=True).authenticate(headers(dev_token(ACTOR)))
    assert request.actor == ACTOR and request.correlation_id == "corr-1"


@pytest.mark.parametrize("token", ["", "dev.!!!", "dev.e30", "jwt.abc"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(Unauthenticated):
        DevTokenAuthenticator(development=True).authenticate(headers(token))
