"""Notification's own settings (LAUREL_SMTP_*, LAUREL_EMAIL_*, approvals).

They live here rather than in `laurel.config` because only this service reads
them; like the shared settings they are parsed once at start-up, and a
malformed value stops the service with a message naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from laurel.config import ConfigError

LANGUAGES = ("zh-CN", "en")


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 0  # 0: e-mail disabled, the in-app inbox only
    sender: str = "laurel@localhost"
    timeout_s: float = 30.0
    starttls: bool = False
    username: str = ""
    password: str = ""

    @property
    def enabled(self) -> bool:
        return self.port > 0

    @property
    def message_id_domain(self) -> str:
        """The right-hand side of every Message-ID: the sender's domain."""
        return self.sender.rpartition("@")[2] or "laurel.invalid"


@dataclass(frozen=True)
class NotificationSettings:
    smtp: SmtpSettings = SmtpSettings()
    max_attempts: int = 5
    backoff_ms: int = 500
    backoff_cap_ms: int = 3_600_000
    poll_ms: int = 200
    approval_required_kinds: frozenset[str] = frozenset({"results"})
    default_language: str = "zh-CN"
    worker_name: str = ""  # empty: the host name

    @property
    def send_stale_after_s(self) -> float:
        """Longer than any live send lasts: two timeouts and a margin."""
        return 2 * self.smtp.timeout_s + 5


def load_notification_settings(
    env: Mapping[str, str] | None = None,
) -> NotificationSettings:
    """Read the notification settings; raise ConfigError naming any bad one."""
    env = os.environ if env is None else env
    port_text = env.get("LAUREL_SMTP_PORT", "").strip()
    smtp = SmtpSettings(
        host=env.get("LAUREL_SMTP_HOST", "127.0.0.1").strip() or "127.0.0.1",
        port=_integer(env, "LAUREL_SMTP_PORT", 0, minimum=0) if port_text else 0,
        sender=env.get("LAUREL_SMTP_FROM", "laurel@localhost").strip(),
        timeout_s=_integer(env, "LAUREL_SMTP_TIMEOUT_MS", 30_000, minimum=1) / 1000,
        starttls=_flag(env, "LAUREL_SMTP_STARTTLS"),
        username=env.get("LAUREL_SMTP_USERNAME", ""),
        password=env.get("LAUREL_SMTP_PASSWORD", ""),
    )
    if "@" not in smtp.sender:
        raise ConfigError(f"LAUREL_SMTP_FROM={smtp.sender!r} is not an e-mail address")
    language = env.get("LAUREL_NOTIFICATION_LANGUAGE", "zh-CN")
    if language not in LANGUAGES:
        raise ConfigError(
            f"LAUREL_NOTIFICATION_LANGUAGE={language!r}; expected one of {LANGUAGES}"
        )
    kinds = env.get("LAUREL_APPROVAL_REQUIRED_KINDS", "results")
    return NotificationSettings(
        smtp=smtp,
        max_attempts=_integer(env, "LAUREL_EMAIL_MAX_ATTEMPTS", 5, minimum=1),
        backoff_ms=_integer(env, "LAUREL_EMAIL_BACKOFF_MS", 500, minimum=0),
        backoff_cap_ms=_integer(
            env, "LAUREL_EMAIL_BACKOFF_CAP_MS", 3_600_000, minimum=0
        ),
        poll_ms=_integer(env, "LAUREL_EMAIL_POLL_MS", 200, minimum=10),
        approval_required_kinds=frozenset(
            k.strip() for k in kinds.split(",") if k.strip()
        ),
        default_language=language,
        worker_name=env.get("LAUREL_WORKER_NAME", "").strip(),
    )


def _integer(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ConfigError(f"{name}={raw!r}; expected true or false")
