"""Fixtures for scoring's handler tests: the service as its bootstrap wires it
(a real SQLite store, a fixed clock), other services' events handed to its
reactions as they arrive over Kafka, commands run as the gRPC edge runs them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from laurel.envelope import Actor, Caller, RecordedEvent
from laurel.policy import DEFAULT_POLICY
from laurel.scoring import handlers
from laurel.scoring.bootstrap import wire
from laurel.scoring.domain import commands
from laurel.scoring.settings import ScoringSettings
from laurel.unit_of_work import UnitOfWork

ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")
FEED = Actor("hotline-12320", "service", "health-hotline")
NOW = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
SERVICE = "/laurel.scoring.v1.ScoringService/"

# Each command by the RPC of its name, with the handler that carries it out.
HANDLERS: dict[type, Callable[[Any, UnitOfWork, handlers.Context], Any]] = {
    commands.RecordComplaint: handlers.record_complaint,
    commands.RecordPenalty: handlers.record_penalty,
    commands.WithdrawComplianceEntry: handlers.withdraw_compliance_entry,
    commands.ListComplianceEntries: lambda c, uow, _: handlers.list_compliance_entries(
        c, uow),
    commands.GetEligibility: lambda c, uow, _: handlers.get_eligibility(c, uow),
    commands.ComputeResults: handlers.compute_results,
    commands.GetRanking: lambda c, uow, _: handlers.get_ranking(c, uow),
    commands.GetScoreBreakdown: lambda c, uow, _: handlers.get_score_breakdown(c, uow),
}


class Scoring:
    def __init__(self, data_dir: str) -> None:
        settings = ScoringSettings.load(
            {"LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9"},  # never dialled: no broker here
            data_dir=data_dir)
        self.parts = wire(settings, clock=lambda: NOW)
        self.store = self.parts.store
        self.context = self.parts.context
        self.reactions = self.parts.reactions
        self._versions: dict[str, int] = {}

    @staticmethod
    def caller(actor: Actor) -> Caller:
        """Who calls, as the gRPC edge puts it on the command."""
        return Caller(actor, correlation_id=str(uuid.uuid4()))

    def call(self, cmd: Any) -> Any:
        """As a gRPC call runs: the policy table (the interceptor's check) for
        the caller's role, then the handler in one unit of work."""
        DEFAULT_POLICY.check(SERVICE + type(cmd).__name__, cmd.caller.actor)
        handle = HANDLERS[type(cmd)]
        return self.store.run(lambda uow: handle(cmd, uow, self.context))

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
        self.reactions.on_intake_event(event)
        return event

    def campaign_clock(self, moment: datetime, campaign_id: str = "henan-2021"
                       ) -> RecordedEvent:
        """Intake's CampaignClockSet, as its topic brings it."""
        return self.intake("CampaignClockSet", {"campaign_id": campaign_id,
                                                "now": moment.isoformat()},
                           stream=f"campaign-clock-{campaign_id}")

    def review(self, type_: str, payload: dict[str, Any]) -> RecordedEvent:
        event = self.event(type_, payload, stream=f"review-round-{payload['round_id']}")
        self.reactions.on_review_event(event)
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


@pytest.fixture
def scoring(tmp_path) -> Iterator[Scoring]:  # noqa: ANN001
    built = Scoring(str(tmp_path))
    yield built
    built.store.close()
