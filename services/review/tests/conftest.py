"""Fixtures for review's handler tests: the service built by its bootstrap on a
real SQLite file (no broker, a clock the test moves), intake's and scoring's
events handed to its reactions as its Kafka subscriber would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from laurel.envelope import RecordedEvent
from laurel.review.bootstrap import ReviewRuntime, build
from laurel.review.settings import ReviewSettings

NOW = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)  # the wall clock: deadlines
BEIJING = timezone(timedelta(hours=8))
# The campaign clock intake announced: henan-2021's expert evaluation.
EVALUATION = datetime(2021, 12, 10, 9, 0, tzinfo=BEIJING)
FORUMS = datetime(2022, 1, 10, 9, 0, tzinfo=BEIJING)


class Review:
    def __init__(self, runtime: ReviewRuntime, clock: list[datetime]) -> None:
        self.runtime = runtime
        self.app = runtime.app
        self.store = runtime.store
        self.reactions = runtime.app.reactions
        self.clock = clock

    def handle(self, message: Any) -> Any:
        return self.app.handle(message)

    @staticmethod
    def event(type_: str, payload: dict[str, Any]) -> RecordedEvent:
        return RecordedEvent(
            position=1, event_id=str(uuid.uuid4()), stream_id="s", version=1,
            type=type_, schema_version=1, payload=payload,
            metadata={"actor": {"id": "x", "role": "service"},
                      "correlation_id": "c-1"},
            recorded_at="2021-11-20T08:00:00.000000Z", prev_hash="0" * 64,
            hash="f" * 64)

    def campaign_clock(self, moment: datetime, campaign_id: str = "henan-2021") -> None:
        """Intake's CampaignClockSet, as its topic brings it."""
        self.reactions.on_intake_event(self.event("CampaignClockSet", {
            "campaign_id": campaign_id, "now": moment.isoformat()}))

    def nomination(self, nid: str, hospital: str, jurisdiction: str, *,
                   category: str = "warm_service_post", kind: str = "department",
                   org: str = "", received: bool = True) -> None:
        self.reactions.on_intake_event(self.event("NominationSubmitted", {
            "nomination_id": nid, "campaign_id": "henan-2021", "category": category,
            "nominee": {"kind": kind, "name": f"{nid} 科室",
                        "organization_id": org or f"{hospital}-ward"},
            "hospital_id": hospital, "jurisdiction_id": jurisdiction,
            "fields": {"department_name": f"{nid} 科室"}}))
        if received:
            self.reactions.on_intake_event(self.event("NominationReceived",
                                                      {"nomination_id": nid}))

    def verdict(self, nid: str, rule: str, decision: str, reason: str) -> None:
        self.reactions.on_scoring_event(self.event("EligibilityVerdictRecorded", {
            "nomination_id": nid, "rule": rule, "decision": decision,
            "reason": reason, "parameters": {}}))

    def result(self, round_id: str, version: int, ranked: list[str],
               category: str = "warm_service_post") -> None:
        self.reactions.on_scoring_event(self.event("ResultComputed", {
            "round_id": round_id, "campaign_id": "henan-2021", "category": category,
            "version": version, "ineligible": {},
            "entries": [{"rank": i + 1, "nomination_id": nid, "score_display": "90",
                         "tier": "awarded"} for i, nid in enumerate(ranked)]}))


@pytest.fixture
async def review(tmp_path) -> AsyncIterator[Review]:  # noqa: ANN001
    settings = ReviewSettings.load({
        "LAUREL_ENV": "development", "LAUREL_DATA_DIR": str(tmp_path),
        "LAUREL_GRPC_HOST": "127.0.0.1", "LAUREL_GRPC_PORT": "0",
        "LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9",  # never dialled: no Kafka here
    })
    clock = [NOW]
    runtime = await build(settings, clock=lambda: clock[0], with_kafka=False)
    served = Review(runtime, clock)
    served.campaign_clock(EVALUATION)
    yield served
    await runtime.stop()
