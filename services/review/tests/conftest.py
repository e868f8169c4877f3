"""Fixtures for review's application tests: a real SQLite store, intake's and
scoring's events as they arrive over Kafka, and a bound caller."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from laurel.auth import RequestContext, bind_request, unbind_request
from laurel.campaigns import SHIPPED_DIR, load_catalog
from laurel.config import Topics
from laurel.envelope import Actor, RecordedEvent
from laurel.eventstore import EventStore
from laurel.review.application import ReviewApplication
from laurel.review.definitions import Definitions
from laurel.review.inbox import ReviewInbox
from laurel.review.projection import ReviewProjection

NOW = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


class Review:
    def __init__(self, url: str) -> None:
        self.projection = ReviewProjection()
        self.store = EventStore(url, projections=[self.projection])
        self.store.create_schema()
        self.clock = [NOW]
        self.app = ReviewApplication(
            self.store, self.projection, Definitions(self.store,
                                                     load_catalog(SHIPPED_DIR)),
            Topics(), now=lambda: self.clock[0])
        self.inbox = ReviewInbox(self.store, self.projection)

    @staticmethod
    def event(type_: str, payload: dict[str, Any]) -> RecordedEvent:
        return RecordedEvent(
            position=1, event_id=str(uuid.uuid4()), stream_id="s", version=1,
            type=type_, schema_version=1, payload=payload,
            metadata={"actor": {"id": "x", "role": "service"},
                      "correlation_id": "c-1"},
            recorded_at="2021-11-20T08:00:00.000000Z", prev_hash="0" * 64,
            hash="f" * 64)

    def nomination(self, nid: str, hospital: str, jurisdiction: str, *,
                   category: str = "warm_service_post", kind: str = "department",
                   org: str = "", received: bool = True) -> None:
        self.inbox.on_intake_event(self.event("NominationSubmitted", {
            "nomination_id": nid, "campaign_id": "henan-2021", "category": category,
            "nominee": {"kind": kind, "name": f"{nid} 科室",
                        "organization_id": org or f"{hospital}-ward"},
            "hospital_id": hospital, "jurisdiction_id": jurisdiction,
            "fields": {"department_name": f"{nid} 科室"}}))
        if received:
            self.inbox.on_intake_event(self.event("NominationReceived",
                                                  {"nomination_id": nid}))

    def verdict(self, nid: str, rule: str, decision: str, reason: str) -> None:
        self.inbox.on_scoring_event(self.event("EligibilityVerdictRecorded", {
            "nomination_id": nid, "rule": rule, "decision": decision,
            "reason": reason, "parameters": {}}))

    def result(self, round_id: str, version: int, ranked: list[str],
               category: str = "warm_service_post") -> None:
        self.inbox.on_scoring_event(self.event("ResultComputed", {
            "round_id": round_id, "campaign_id": "henan-2021", "category": category,
            "version": version, "ineligible": {},
            "entries": [{"rank": i + 1, "nomination_id": nid, "score_display": "90",
                         "tier": "awarded"} for i, nid in enumerate(ranked)]}))

    @staticmethod
    @contextmanager
    def acting_as(actor: Actor) -> Iterator[None]:
        token = bind_request(RequestContext(actor, correlation_id=str(uuid.uuid4())))
        try:
            yield
        finally:
            unbind_request(token)


@pytest.fixture
def review(tmp_path) -> Iterator[Review]:  # noqa: ANN001
    built = Review(f"sqlite:///{tmp_path / 'review.sqlite'}")
    yield built
    built.store.close()
