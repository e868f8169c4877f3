"""Subscriber wiring with FastStream's in-memory broker (unit level only).

The real-broker behaviour is proven in tests/e2e; this checks that each
topic's messages reach that topic's handler, decoded, and that a failing
handler surfaces.
"""

from __future__ import annotations

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from laurel.config import KafkaSettings
from laurel.envelope import RecordedEvent
from laurel.messaging import events, subscribe

EVENT = RecordedEvent(
    position=1, event_id="e-1", stream_id="nomination-n1", version=1,
    type="NominationSubmitted", schema_version=1, payload={"nomination_id": "n1"},
    metadata={"actor": {"id": "u", "role": "nominator", "organization_id": "h"}},
    recorded_at="2021-11-20T08:00:00.000000Z", prev_hash="0" * 64, hash="a" * 64,
)
KAFKA = KafkaSettings(bootstrap="memory")


async def test_each_topic_reaches_its_own_handler_decoded() -> None:
    broker = KafkaBroker()
    intake: list[RecordedEvent] = []
    feed: list[dict] = []
    subscribe(broker, KAFKA, "scoring", {
        "laurel.intake.events": events(intake.append),
        "compliance.reports": feed.append,
    })
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(EVENT.to_dict(), "laurel.intake.events", key=b"n1")
        await test_broker.publish({"kind": "complaint"}, "compliance.reports", key=b"h1")

    assert intake == [EVENT]
    assert feed == [{"kind": "complaint"}]


async def test_a_failing_handler_surfaces() -> None:
    broker = KafkaBroker()

    def refuse(event: RecordedEvent) -> None:
        raise RuntimeError("store unavailable")

    subscribe(broker, KAFKA, "notification", {"laurel.intake.events": events(refuse)})
    async with TestKafkaBroker(broker) as test_broker:
        with pytest.raises(RuntimeError, match="store unavailable"):
            await test_broker.publish(EVENT.to_dict(), "laurel.intake.events", key=b"n1")


async def test_a_typed_topic_takes_its_producers_messages_and_refuses_others() -> None:
    from pydantic import ValidationError

    from laurel.contracts import fixtures

    broker = KafkaBroker()
    intake: list[RecordedEvent] = []
    subscribe(broker, KAFKA, "scoring", {
        "laurel.intake.events": events(intake.append, upstream="intake")})
    received = fixtures.load("intake", "NominationReceived", 1)
    returned_v1 = fixtures.load("intake", "NominationReturned", 1)  # upcast to validate
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(received.to_dict(), "laurel.intake.events")
        await test_broker.publish(returned_v1.to_dict(), "laurel.intake.events")
        broken = {**received.to_dict(), "payload": {"nomination_id": "n-1"}}
        with pytest.raises(ValidationError, match="center_id"):
            await test_broker.publish(broken, "laurel.intake.events")
        scored = fixtures.load("scoring", "EligibilityVerdictRecorded", 1)
        with pytest.raises(ValidationError):  # another producer's type
            await test_broker.publish(scored.to_dict(), "laurel.intake.events")

    assert intake == [received, returned_v1]  # as they arrived: hash and all
