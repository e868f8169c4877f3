"""Audit's own settings, besides those every service reads.

Audit owns no event store: it reads the four services' stores, each named by
`LAUREL_DATABASE_URL_<SERVICE>` (the URL that service runs with as its
`LAUREL_DATABASE_URL`), and writes only the checkpoints it signs into them.
Its `LAUREL_DATABASE_URL` is therefore unused, and so are the Kafka settings:
audit talks to no broker, so none of `LAUREL_KAFKA_*` is required or read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from laurel.config import DEFAULT_PORTS, SERVICES, KafkaSettings, ServiceSettings


def _no_broker() -> KafkaSettings:
    """Kafka settings never read: built without validation, so an audit
    process needs no LAUREL_KAFKA_BOOTSTRAP."""
    return KafkaSettings.model_construct(bootstrap="")


def _store_url(service: str) -> Any:
    return Field(
        "", validation_alias=f"LAUREL_DATABASE_URL_{service.upper()}",
        description=f"{service}'s event store, for audit (the URL {service} runs with)")


class AuditSettings(ServiceSettings):
    """Read by variable name only (`AuditSettings.load(env, LAUREL_X=…)` to
    override): the image sets LAUREL_GRPC_PORT for the four services, and a
    field's own name must not let it stand in for LAUREL_AUDIT_GRPC_PORT."""

    model_config = SettingsConfigDict(validate_by_name=False)
    service: ClassVar[str] = "audit"

    grpc_port: int = Field(
        DEFAULT_PORTS["audit"], ge=0, le=65535, validation_alias="LAUREL_AUDIT_GRPC_PORT",
        description="audit's gRPC port (0: any free port)")
    checkpoint_key_file: Path | None = Field(
        None, validation_alias="LAUREL_CHECKPOINT_KEY_FILE",
        description="Ed25519 private key (PEM) that signs checkpoints and evidence "
                    "packages; without it audit only reads")
    checkpoint_interval_s: float = Field(
        0.0, ge=0, validation_alias="LAUREL_AUDIT_CHECKPOINT_INTERVAL_S",
        description="seconds between the audit service's checkpoint passes "
                    "(0: none; the chart's CronJob signs instead)")
    database_url_intake: str = _store_url("intake")
    database_url_scoring: str = _store_url("scoring")
    database_url_review: str = _store_url("review")
    database_url_notification: str = _store_url("notification")
    kafka: KafkaSettings = Field(default_factory=_no_broker, exclude=True)

    @field_validator("database_url_intake", "database_url_scoring", "database_url_review",
                     "database_url_notification")
    @classmethod
    def _store_backend(cls, value: str) -> str:
        return ServiceSettings._known_backend(value)

    def configured_stores(self) -> dict[str, str]:
        """The stores named by LAUREL_DATABASE_URL_<SERVICE>: service -> URL."""
        urls = {s: getattr(self, f"database_url_{s}") for s in SERVICES}
        return {service: url for service, url in urls.items() if url.strip()}
