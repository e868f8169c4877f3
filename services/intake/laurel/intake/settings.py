"""Intake's settings: what every service reads, and intake's own."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from laurel.config import ServiceSettings


class IntakeSettings(ServiceSettings):
    service: ClassVar[str] = "intake"

    center_id: str = Field(
        "henan-center", validation_alias="LAUREL_INTAKE_CENTER_ID",
        description="no longer read: who receives a campaign's nominations is the "
                    "campaign's routing (its definition's `routing.receivers`); kept "
                    "so that existing configurations still load")
