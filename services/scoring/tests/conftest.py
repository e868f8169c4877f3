"""Fixtures for scoring's application tests: a real SQLite store, other
services' events as they arrive over Kafka, and a bound caller."""

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
from laurel.scoring.application import ScoringApplication
from laurel.scoring.engine import ScoringEngine
from laurel.scoring.inbox import ScoringInbox
from laurel.scoring.projection import ScoringProjection

ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")
FEED = Actor("hotline-12320", "service", "health-hotline")
NOW = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


class Scoring:
    def __init__(self, url: str) -> None:
        self.projection = ScoringProjection()
        self.store = EventStore(url, projections=[self.projection])
        self.store.create_schema()
        self.engine = ScoringEngine(self.store, self.projection,
                                    load_catalog(SHIPPED_DIR), Topics(),
                                    now=lambda: NOW)
        self.app = ScoringApplication(self.engine)
        self.inbox = ScoringInbox(self.engine)
        self._versions: dict[str, int] = {}

    def event(self, type_: str, payload: dict[str, Any], stream: str = "",
              at: str = "2021-11-20T08:00:00.000000Z") -> RecordedEvent:
        """Another service's event as it arrives: a fresh id, the next version."""
        stream = stream or f"nomination-{payload.get('nomination_id', 'x')}"
        self._versions[stream] = self._versions.get(stream, 0) + 1
        return RecordedEvent(
            position=1, event_id=str(uuid.uuid4()), stream_id=stream,
            version=self._versions[stream], type=type_, schema_version=1,
            payload=payload, metadata={"actor": ORGANIZER.to_dict(),
                                       "correlation_id": "c-1"},
            recorded_at=at, prev_hash="0" * 64, hash="f" * 64)

    def intake(self, type_: str, payload: dict[str, Any], **kw: Any) -> RecordedEvent:
        event = self.event(type_, payload, **kw)
        self.inbox.on_intake_event(event)
        return event

    def review(self, type_: str, payload: dict[str, Any]) -> RecordedEvent:
        event = self.event(type_, payload, stream=f"review-round-{payload['round_id']}")
        self.inbox.on_review_event(event)
        return event

    def submitted(self, nid: str, category: str, hospital: str, *,
                  kind: str = "hospital", name: str = "", org: str = "",
                  fields: dict[str, str] | None = None, total: int | None = None,
                  campaign: str = "henan-2021", received: bool = True,
                  at: str = "2021-11-20T08:00:00.000000Z") -> None:
        payload: dict[str, Any] = {
            "nomination_id": nid, "campaign_id": campaign, "category": category,
            "nominee": {"kind": kind, "name": name or nid,
                        "organization_id": org or hospital},
            "hospital_id": hospital, "jurisdiction_id": "zhengzhou",
            "route": {"to": "center", "organization_id": ""},
            "fields": fields or {}}
        if total is not None:
            payload["self_assessment_total"] = total
        self.intake("NominationSubmitted", payload, at=at)
        if received:
            self.intake("NominationReceived", {"nomination_id": nid,
                                                "center_id": "henan-center"})

    def verdicts(self, nid: str) -> dict[str, dict[str, Any]]:
        return {e.payload["rule"]: e.payload
                for e in self.store.read_stream(f"eligibility-{nid}")}


    @staticmethod
    @contextmanager
    def acting_as(actor: Actor) -> Iterator[None]:
        token = bind_request(RequestContext(actor, correlation_id=str(uuid.uuid4())))
        try:
            yield
        finally:
            unbind_request(token)


@pytest.fixture
def scoring(tmp_path) -> Iterator[Scoring]:  # noqa: ANN001
    built = Scoring(f"sqlite:///{tmp_path / 'scoring.sqlite'}")
    yield built
    built.store.close()
