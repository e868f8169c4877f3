"""EventLogService.ReadLog over real gRPC on a real store (SQLite, PostgreSQL).

A service built by its own bootstrap serves its published log beside its own
service: pages in position order with the bytes Kafka carries (hash
included), unpublished positions skipped but covered, the head, and
refusals that name the field.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from laurel.auth import call_metadata, service_actor
from laurel.config import load_settings
from laurel.contracts import fixtures
from laurel.envelope import Actor, EventMetadata, NewEvent, RecordedEvent
from laurel.eventlog.v1 import eventlog_pb2 as pb
from laurel.eventlog.v1 import eventlog_pb2_grpc
from laurel.eventstore import EventStore, Publication
from laurel.grpcutil import client_channel, violations_of
from laurel.outbox import message_value
from laurel.published_log import EventLogClient
from laurel.runtime import ServiceRuntime
from laurel.scoring.bootstrap import build, projections

META = EventMetadata(Actor("organizer-1", "organizer"), correlation_id="c-1")
SERVICE = call_metadata(service_actor("review"))


@pytest.fixture
async def scoring(database_url: str, tmp_path: Path) -> AsyncIterator[ServiceRuntime]:
    settings = load_settings("scoring", {
        "LAUREL_ENV": "development", "LAUREL_GRPC_HOST": "127.0.0.1",
        "LAUREL_GRPC_PORT": "0", "LAUREL_DATA_DIR": str(tmp_path),
        "LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9"})  # no broker: with_kafka=False
    store = EventStore(database_url, projections=projections())
    store.create_schema()
    runtime = await build(settings, store=store, with_kafka=False)
    await runtime.start()
    yield runtime
    await runtime.stop()


def _append(store: EventStore, stream: str, n: int, published: bool) -> None:
    """Verdicts on nomination `stream` (keyed by it, as scoring's contract says)."""
    verdict = fixtures.load("scoring", "EligibilityVerdictRecorded", 1).payload
    publish = Publication("laurel.scoring.events") if published else None
    store.run(lambda uow: uow.append(
        stream, [NewEvent("EligibilityVerdictRecorded",
                          {**verdict, "nomination_id": stream, "reason": f"#{i}"})
                 for i in range(n)], META, publish=publish))


async def test_pages_of_published_events_with_the_head(scoring: ServiceRuntime) -> None:
    store = scoring.store
    _append(store, "a", 3, True)     # 1..3 published
    _append(store, "b", 2, False)    # 4..5 kept to itself
    _append(store, "c", 2, True)     # 6..7 published
    async with client_channel(f"127.0.0.1:{scoring.grpc.port}") as channel:
        stub = eventlog_pb2_grpc.EventLogServiceStub(channel)
        first = await stub.ReadLog(pb.ReadLogRequest(from_position=0, limit=2),
                                   metadata=SERVICE)
        assert [e.position for e in first.events] == [1, 2]
        assert (first.next_position, first.head_position, first.store) == (3, 7, "scoring")
        rest = await stub.ReadLog(pb.ReadLogRequest(from_position=3, limit=10),
                                  metadata=SERVICE)
        assert [e.position for e in rest.events] == [3, 6, 7]
        assert rest.next_position == 8  # positions 4 and 5 covered, not sent
        assert {(e.topic, e.key) for e in rest.events} == {
            ("laurel.scoring.events", "a"), ("laurel.scoring.events", "c")}
        stored = {e.position: e for e in store.read_all()}
        for sent in [*first.events, *rest.events]:  # what Kafka carries, hash included
            assert sent.envelope_json.encode() == message_value(stored[sent.position])
            assert json.loads(sent.envelope_json)["hash"] == stored[sent.position].hash
        beyond = await stub.ReadLog(pb.ReadLogRequest(from_position=8), metadata=SERVICE)
        assert (list(beyond.events), beyond.next_position, beyond.head_position) == (
            [], 8, 7)

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ReadLog(pb.ReadLogRequest(from_position=-1, limit=5000),
                               metadata=SERVICE)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert {f for f, _ in violations_of(refused.value)} == {"from_position", "limit"}

        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.ReadLog(pb.ReadLogRequest(), metadata=call_metadata(
                Actor("nominator-1", "nominator", "hospital-1")))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

    client = EventLogClient("scoring", f"127.0.0.1:{scoring.grpc.port}", "review")
    try:
        page = await asyncio.to_thread(client.read, 1, 500)  # blocking: a worker's
    finally:
        client.close()
    assert [(e.position, topic) for e, topic in page.events] == [
        (p, "laurel.scoring.events") for p in (1, 2, 3, 6, 7)]
    assert all(isinstance(e, RecordedEvent) for e, _ in page.events)
    assert (page.next_position, page.head_position) == (8, 7)
