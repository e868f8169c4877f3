"""Notification's settings: the shared ones and its own (LAUREL_SMTP_*,
LAUREL_EMAIL_*, approvals, language, the worker's name).

Read once at start-up by pydantic-settings; a malformed value stops the
service with one line naming the variable. The SMTP password comes from
LAUREL_SMTP_PASSWORD or, where a Secret is mounted as a file (the chart),
from LAUREL_SMTP_PASSWORD_FILE.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from laurel.config import ConfigError, ServiceSettings


class NotificationSettings(ServiceSettings):
    service: ClassVar[str] = "notification"

    smtp_host: str = Field("127.0.0.1", description="SMTP relay host")
    smtp_port: int = Field(
        0, ge=0, le=65535,
        description="SMTP relay port; empty or 0: e-mail off, the in-app inbox only")
    smtp_from: str = Field(
        "laurel@localhost",
        description="sender of every e-mail; its domain is every Message-ID's")
    smtp_timeout_ms: int = Field(30_000, ge=1, description="per-connection SMTP timeout")
    smtp_starttls: bool = Field(False, description="upgrade the relay connection with "
                                                   "STARTTLS")
    smtp_username: str = Field("", description="relay login (none when empty)")
    smtp_password: SecretStr = Field(
        SecretStr(""), description="relay password (or the next)")
    smtp_password_file: Path | None = Field(
        None, description="file holding the relay password (a mounted Secret)")
    email_max_attempts: int = Field(5, ge=1, description="tries before an e-mail is "
                                                         "dead-lettered")
    email_backoff_ms: int = Field(500, ge=0, description="wait after the first failed "
                                                         "try; doubles each time")
    email_backoff_cap_ms: int = Field(3_600_000, ge=0,
                                      description="longest wait between tries")
    email_poll_ms: int = Field(200, ge=10, description="delivery worker idle poll")
    approval_required_kinds: Annotated[frozenset[str], NoDecode] = Field(
        frozenset({"results"}),
        description="notification kinds held until an organizer approves them "
                    "(comma-separated)")
    notification_language: Literal["zh-CN", "en"] = Field(
        "zh-CN", description="language for people who state none")
    worker_name: str = Field(
        "", json_schema_extra={"shown_default": "the host name"},
        description="names the delivery worker's sends, so a restart settles its "
                    "own interrupted ones")

    @field_validator("approval_required_kinds", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(k.strip() for k in value.split(",") if k.strip())
        return value

    @field_validator("smtp_from")
    @classmethod
    def _an_address(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError("not an e-mail address")
        return value

    @model_validator(mode="after")
    def _one_password(self) -> Self:
        if self.smtp_password.get_secret_value() and self.smtp_password_file:
            raise ValueError("set LAUREL_SMTP_PASSWORD or LAUREL_SMTP_PASSWORD_FILE, "
                             "not both")
        return self

    @property
    def email_enabled(self) -> bool:
        return self.smtp_port > 0

    @property
    def message_id_domain(self) -> str:
        """The right-hand side of every Message-ID: the sender's domain."""
        return self.smtp_from.rpartition("@")[2] or "laurel.invalid"

    @property
    def send_stale_after_s(self) -> float:
        """Longer than any live send lasts: two timeouts and a margin."""
        return 2 * self.smtp_timeout_ms / 1000 + 5

    def relay_password(self) -> str:
        """The relay password, read from its file when one is named."""
        if self.smtp_password_file is None:
            return self.smtp_password.get_secret_value()
        try:
            return self.smtp_password_file.read_text().strip()
        except OSError as error:
            raise ConfigError(f"LAUREL_SMTP_PASSWORD_FILE={str(self.smtp_password_file)!r} "
                              f"cannot be read: {error.strerror}") from None
