"""Notification's own settings: parsed once, refused with the variable named."""

from __future__ import annotations

from pathlib import Path

import pytest

from laurel.config import ConfigError, load_settings
from laurel.notification.bootstrap import build
from laurel.notification.settings import NotificationSettings

KAFKA = {"LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9"}


def settings(**env: str) -> NotificationSettings:
    return NotificationSettings.load({**KAFKA, **env})


def test_defaults_keep_email_off_and_hold_results() -> None:
    found = settings()

    assert not found.email_enabled
    assert found.approval_required_kinds == {"results"}
    assert (found.email_max_attempts, found.email_backoff_ms) == (5, 500)
    assert found.notification_language == "zh-CN"


def test_the_service_reads_its_own_settings_class() -> None:
    assert isinstance(load_settings("notification", KAFKA), NotificationSettings)


def test_a_port_turns_email_on_and_the_senders_domain_names_message_ids() -> None:
    found = settings(
        LAUREL_SMTP_HOST="relay.example.cn",
        LAUREL_SMTP_PORT="2525",
        LAUREL_SMTP_FROM="noreply@hnyl.example.cn",
        LAUREL_APPROVAL_REQUIRED_KINDS="results, forum_invitation_region",
        LAUREL_EMAIL_MAX_ATTEMPTS="3",
        LAUREL_EMAIL_BACKOFF_MS="100",
    )

    assert found.email_enabled and found.smtp_port == 2525
    assert found.message_id_domain == "hnyl.example.cn"
    assert found.approval_required_kinds == {"results", "forum_invitation_region"}
    assert (found.email_max_attempts, found.email_backoff_ms) == (3, 100)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LAUREL_SMTP_PORT", "twenty-five"),
        ("LAUREL_EMAIL_MAX_ATTEMPTS", "0"),
        ("LAUREL_SMTP_FROM", "nobody"),
        ("LAUREL_NOTIFICATION_LANGUAGE", "fr"),
        ("LAUREL_SMTP_STARTTLS", "maybe"),
    ],
)
def test_a_malformed_setting_stops_start_up_naming_it(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}="):
        settings(**{name: value})


def test_the_relay_password_may_come_from_a_mounted_file(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret\n")

    assert settings(LAUREL_SMTP_PASSWORD="inline").relay_password() == "inline"
    assert settings(LAUREL_SMTP_PASSWORD_FILE=str(secret)).relay_password() == "s3cret"
    with pytest.raises(ConfigError, match="not both"):
        settings(LAUREL_SMTP_PASSWORD="inline", LAUREL_SMTP_PASSWORD_FILE=str(secret))
    with pytest.raises(ConfigError, match="^LAUREL_SMTP_PASSWORD_FILE=.*cannot be read"):
        settings(LAUREL_SMTP_PASSWORD_FILE=str(tmp_path / "missing")).relay_password()


def test_the_password_is_not_shown_with_the_settings() -> None:
    assert "inline" not in repr(settings(LAUREL_SMTP_PASSWORD="inline"))


async def test_an_unknown_approval_kind_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="resutls"):
        await build(settings(LAUREL_DATA_DIR=str(tmp_path),
                             LAUREL_APPROVAL_REQUIRED_KINDS="results,resutls"))


async def test_an_unreadable_password_file_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LAUREL_SMTP_PASSWORD_FILE"):
        await build(settings(LAUREL_DATA_DIR=str(tmp_path), LAUREL_SMTP_PORT="2525",
                             LAUREL_SMTP_PASSWORD_FILE=str(tmp_path / "missing")))
