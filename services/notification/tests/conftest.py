"""Fixtures for notification's fast tests: the service built through its
bootstrap on a real SQLite file (no broker started), and other services'
events as they arrive over Kafka."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

from laurel.campaigns import SHIPPED_DIR
from laurel.campaigns import load_catalog as load_campaigns
from laurel.envelope import Actor, Caller, RecordedEvent
from laurel.eventstore import EventStore
from laurel.notification.adapters.templates import load_catalog
from laurel.notification.bootstrap import NotificationRuntime, build
from laurel.notification.handlers import Context
from laurel.notification.read_models import Row
from laurel.notification.settings import NotificationSettings
from laurel.unit_of_work import UnitOfWork

M = TypeVar("M")
T = TypeVar("T")
NOMINATOR = Actor("nominator-lankao-1", "nominator", "lankao-peoples")
ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")


class Upstream:
    """Intake's, scoring's and review's events, each with a fresh id."""

    nominator = NOMINATOR
    organizer = ORGANIZER

    @staticmethod
    def event(type_: str, payload: dict[str, Any], actor: Actor = NOMINATOR,
              recorded_at: str = "2021-11-25T02:30:00.000000Z") -> RecordedEvent:
        return RecordedEvent(
            position=1, event_id=str(uuid.uuid4()), stream_id="s", version=1,
            type=type_, schema_version=1, payload=payload,
            metadata={"actor": actor.to_dict(), "correlation_id": "c"},
            recorded_at=recorded_at, prev_hash="0" * 64, hash="a" * 64)

    def submitted(self, nid: str = "n-1", email: str = "office@lankao.example.cn",
                  **fields: str) -> RecordedEvent:
        return self.event("NominationSubmitted", {
            "nomination_id": nid,
            "campaign_id": "henan-2021",
            "category": "ten_measures_benchmark",
            "nominee": {"kind": "hospital", "name": "兰考县人民医院",
                        "organization_id": "lankao-peoples"},
            "hospital_id": "lankao-peoples",
            "jurisdiction_id": "lankao",
            "route": {"to": "commission", "organization_id": "lankao"},
            "fields": {"contact.email": email, "contact.mobile": "13900000002", **fields},
        })

    def campaign_clock(self, moment: datetime, campaign_id: str = "henan-2021"
                       ) -> RecordedEvent:
        """Intake's CampaignClockSet."""
        return self.event("CampaignClockSet", {"campaign_id": campaign_id,
                                               "now": moment.isoformat()}, actor=ORGANIZER)

    def results(self, *nids: str) -> RecordedEvent:
        return self.event("ResultsPublished", {
            "round_id": "r1", "campaign_id": "henan-2021", "category": "c",
            "result_version": 1,
            "decisions": [{"nomination_id": n, "outcome": "award", "tier": ""}
                          for n in nids],
        }, actor=ORGANIZER)


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


class Notification:
    """The service as its bootstrap builds it; use cases run as the servicer
    runs them, each in its own unit of work."""

    def __init__(self, runtime: NotificationRuntime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.ctx: Context = runtime.app.context
        self.reactions = runtime.app.reactions

    @staticmethod
    def settings(data_dir: Path, **env: str) -> NotificationSettings:
        return NotificationSettings.load({
            "LAUREL_ENV": "development",
            "LAUREL_GRPC_PORT": "0",
            "LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9",  # never dialled: no broker starts
            "LAUREL_DATA_DIR": str(data_dir),
            "LAUREL_SMTP_PORT": "2525",  # e-mail on; no worker runs unless a test starts one
            "LAUREL_SMTP_FROM": "laurel@laurel.test",
            **env,
        })

    def react(self, event: RecordedEvent) -> int:
        return self.reactions.on_event(event)

    def run(self, handler: Callable[[M, UnitOfWork, Context], T], message: M) -> T:
        return self.store.run(lambda uow: handler(message, uow, self.ctx))

    def read(self, query: Callable[[UnitOfWork], T]) -> T:
        return self.store.run(query)

    @staticmethod
    def caller(actor: Actor) -> Caller:
        return Caller(actor, correlation_id=str(uuid.uuid4()))

    def inbox(self, actor: Actor = NOMINATOR) -> list[Row]:
        return self.read(lambda uow: self.ctx.read.inbox.page(uow.conn, actor.id, limit=100))


@pytest.fixture(scope="session")
def shipped() -> dict[str, Any]:
    """The shipped templates and campaigns, parsed once for every test."""
    return {"catalog": load_catalog(), "campaigns": load_campaigns(SHIPPED_DIR)}


Build = Callable[..., Awaitable[Notification]]


@pytest.fixture
async def build_notification(tmp_path: Path, shipped: dict[str, Any]
                             ) -> AsyncIterator[Build]:
    """`await build_notification(LAUREL_X="…", store=…)`: the service with
    these settings (and adapters) on this test's SQLite file."""
    built: list[NotificationRuntime] = []

    async def make(store: EventStore | None = None, **env: str) -> Notification:
        runtime = await build(Notification.settings(tmp_path, **env), store=store,
                              **shipped)
        built.append(runtime)
        return Notification(runtime)

    yield make
    for runtime in built:
        runtime.store.close()


# henan-2021's forums and awards (2022-01): results and invitations go out.
FORUMS = datetime(2022, 1, 10, 9, 0, tzinfo=timezone(timedelta(hours=8)))


@pytest.fixture
async def notification(build_notification: Build, upstream: Upstream) -> Notification:
    built = await build_notification()
    built.react(upstream.campaign_clock(FORUMS))
    return built
