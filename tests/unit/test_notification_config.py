"""Notification's own settings: parsed once, refused with the variable named."""

from __future__ import annotations

import pytest

from laurel.config import ConfigError, load_settings
from laurel.notification.bootstrap import build_notification
from laurel.notification.config import load_notification_settings


def test_defaults_keep_email_off_and_hold_results() -> None:
    settings = load_notification_settings({})

    assert not settings.smtp.enabled
    assert settings.approval_required_kinds == {"results"}
    assert (settings.max_attempts, settings.backoff_ms) == (5, 500)
    assert settings.default_language == "zh-CN"


def test_a_port_turns_email_on_and_the_senders_domain_names_message_ids() -> None:
    settings = load_notification_settings(
        {
            "LAUREL_SMTP_HOST": "relay.example.cn",
            "LAUREL_SMTP_PORT": "2525",
            "LAUREL_SMTP_FROM": "noreply@hnyl.example.cn",
            "LAUREL_APPROVAL_REQUIRED_KINDS": "results, forum_invitation_region",
            "LAUREL_EMAIL_MAX_ATTEMPTS": "3",
            "LAUREL_EMAIL_BACKOFF_MS": "100",
        }
    )

    assert settings.smtp.enabled and settings.smtp.port == 2525
    assert settings.smtp.message_id_domain == "hnyl.example.cn"
    assert settings.approval_required_kinds == {"results", "forum_invitation_region"}
    assert (settings.max_attempts, settings.backoff_ms) == (3, 100)


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
    with pytest.raises(ConfigError, match=name):
        load_notification_settings({name: value})


async def test_an_unknown_approval_kind_stops_start_up(tmp_path) -> None:
    env = {
        "LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9",
        "LAUREL_DATA_DIR": str(tmp_path),
        "LAUREL_APPROVAL_REQUIRED_KINDS": "results,resutls",
    }

    with pytest.raises(ConfigError, match="resutls"):
        await build_notification(load_settings("notification", env), env)
