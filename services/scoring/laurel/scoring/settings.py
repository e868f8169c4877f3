"""Scoring's settings: the shared ones and the compliance feed's topic."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from laurel.config import ServiceSettings


class ScoringSettings(ServiceSettings):
    service: ClassVar[str] = "scoring"

    topic_compliance: str = Field(
        "laurel.compliance.reports",
        description="the compliance feed: complaints, penalties and withdrawals "
                    "reported by other systems (not Laurel events)")
