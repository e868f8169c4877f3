"""Intake's settings: what every service reads, and intake's own."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from laurel.config import ServiceSettings


class IntakeSettings(ServiceSettings):
    service: ClassVar[str] = "intake"

    center_id: str = Field(
        "henan-center", validation_alias="LAUREL_INTAKE_CENTER_ID",
        description="the organization id of the provincial center, which receives "
                    "nominations (and is where provincial-level hospitals submit)")
