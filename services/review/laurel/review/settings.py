"""Review's own settings, besides those every service reads."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from laurel.config import ServiceSettings


class ReviewSettings(ServiceSettings):
    service: ClassVar[str] = "review"

    reminder_poll_s: float = Field(
        60.0, ge=0, validation_alias="LAUREL_REVIEW_REMINDER_POLL_S",
        description="seconds between deadline-reminder passes (0 turns reminders off)")
