"""A consumer catches up from its upstream's published log (laurel.catchup).

Real parts: the upstream's store (a SQLite file) served over real gRPC by
`EventLogService`, review's own reactions on its own store. What Kafka would
hand over is handed to `Inbox.deliver`; what it skips is not.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from laurel import published_log
from laurel.catchup import Inbox, Upstream
from laurel.config import SecuritySettings
from laurel.contracts import REGISTRY, fixtures
from laurel.envelope import Actor, EventMetadata, NewEvent
from laurel.eventstore import EventStore, Publication, applied_positions_table
from laurel.published_log import EventLogClient
from laurel.review.bootstrap import projections
from laurel.review.domain import events as review_events
from laurel.review.domain import facts
from laurel.review.reactions import CONSUMER, Reactions
from laurel.runtime import secured_server

TOPIC = "laurel.intake.events.catchup"
META = EventMetadata(Actor("nominator-1", "nominator", "hospital-1"), correlation_id="c")


@dataclass
class Setup:
    upstream: EventStore
    consumer: EventStore
    inbox: Inbox

    def append(self, nomination_id: str, type_: str, payload: dict[str, Any] | None = None,
               *, published: bool = True) -> int:
        stream = f"nomination-{nomination_id}"
        # the type's golden payload (intake's contract), for this nomination
        contract = REGISTRY["intake"][type_]
        body = {**fixtures.load("intake", type_, contract.version).payload,
                "nomination_id": nomination_id, **(payload or {})}
        if "nomination_id" not in contract.model.model_fields:
            body.pop("nomination_id")
        publish = Publication(TOPIC) if published else None
        [recorded] = self.upstream.run(lambda uow: uow.append(
            stream, [NewEvent(type_, body)], META, publish=publish))
        return recorded.position

    def kafka_brings(self, position: int) -> None:
        [event] = list(self.upstream.read_all(position))[:1]
        self.inbox.deliver("intake", event)

    def status(self, nomination_id: str) -> str | None:
        state = self.consumer.run(lambda uow: uow.load(
            review_events.nomination_stream(nomination_id), facts.NOMINATION))
        return None if state is None else state.status

    def outcomes(self) -> dict[int, str]:
        t = applied_positions_table.c
        with self.consumer.engine.connect() as conn:
            return dict(conn.execute(select(t.position, t.outcome).where(
                t.consumer == CONSUMER, t.upstream == "intake")).tuples().all())


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    upstream = EventStore(f"sqlite:///{tmp_path / 'intake.sqlite'}")
    upstream.create_schema()
    server = secured_server("intake", True, SecuritySettings(), "127.0.0.1:0",
                            published_log.register("intake", upstream),
                            [published_log.SERVICE_NAME])
    await server.start()
    consumer = EventStore(f"sqlite:///{tmp_path / 'review.sqlite'}",
                          projections=projections())
    consumer.create_schema()
    reactions = Reactions(consumer)
    log = EventLogClient("intake", f"127.0.0.1:{server.port}", CONSUMER)
    inbox = Inbox(consumer, CONSUMER, [Upstream("intake", TOPIC, reactions.on_intake_event)],
                  {"intake": log}, grace_s=0.5)
    yield Setup(upstream, consumer, inbox)
    inbox.close()
    await server.stop(0)
    upstream.close()
    consumer.close()


def submitted(nomination_id: str) -> dict[str, Any]:
    return {"campaign_id": "henan-2021", "category": "warm_service_post",
            "hospital_id": "hospital-1", "jurisdiction_id": "zhengzhou",
            "nominee": {"kind": "department", "name": "ward", "organization_id": "h-1-w"},
            "fields": {}}


async def test_gaps_are_filled_from_the_log_in_stream_order(setup: Setup) -> None:
    inbox = setup.inbox
    assert await asyncio.to_thread(inbox.reconcile) == 0  # start-up: nothing there yet
    n1, n2, n3 = (str(uuid.uuid4()) for _ in range(3))
    p1 = setup.append(n1, "NominationSubmitted", submitted(n1))
    p2 = setup.append(n2, "NominationSubmitted", submitted(n2))
    p3 = setup.append(n1, "NominationReceived")
    p4 = setup.append(n2, "NominationReceived")
    p5 = setup.append("org", "OrganizationRegistered", published=False)  # not in the log
    p6 = setup.append(n3, "NominationSubmitted", submitted(n3))
    p7 = setup.append(n3, "NominationEndorsed")  # a type review ignores

    # Kafka lost n1's submission and brings its receipt first: what precedes
    # it in its stream is read from the log and applied before it.
    await asyncio.to_thread(setup.kafka_brings, p2)
    await asyncio.to_thread(setup.kafka_brings, p3)
    assert setup.status(n1) == "received"
    assert setup.outcomes() == {p1: "applied", p2: "applied", p3: "applied"}

    # Kafka skips n2's receipt (nothing follows in its stream) and brings the rest.
    await asyncio.to_thread(setup.kafka_brings, p6)
    await asyncio.to_thread(setup.kafka_brings, p7)
    assert await asyncio.to_thread(inbox.reconcile) == 0  # within the grace period
    lag = inbox.lag()["intake"]
    assert (lag.watermark, lag.head, lag.missing) == (p3, p7, [p4])
    assert setup.status(n2) == "submitted"

    # Once the grace period is over, a pass applies it from the log.
    deadline = time.monotonic() + 10
    while setup.status(n2) != "received":
        assert time.monotonic() < deadline, "the skipped receipt was never applied"
        await asyncio.sleep(0.2)
        await asyncio.to_thread(inbox.reconcile)
    lag = inbox.lag()["intake"]
    assert (lag.watermark, lag.head, lag.missing) == (p7, p7, [])
    assert p5 not in setup.outcomes()
    assert setup.outcomes() == {p1: "applied", p2: "applied", p3: "applied",
                                p4: "applied", p6: "applied", p7: "ignored"}

    # A redelivery changes nothing; a restarted consumer starts from its watermark.
    await asyncio.to_thread(setup.kafka_brings, p4)
    assert await asyncio.to_thread(inbox.reconcile) == 0
    again = Inbox(setup.consumer, CONSUMER, list(inbox.upstreams.values()), {})
    assert again.lag()["intake"].watermark == p7


async def test_a_consumer_starting_behind_applies_everything_at_once(setup: Setup) -> None:
    ids = [str(uuid.uuid4()) for _ in range(4)]
    for nid in ids:
        setup.append(nid, "NominationSubmitted", submitted(nid))
        setup.append(nid, "NominationReceived")
    assert await asyncio.to_thread(setup.inbox.reconcile) == 8  # the first pass: start-up
    assert [setup.status(nid) for nid in ids] == ["received"] * 4
    assert setup.inbox.lag()["intake"].watermark == 8
