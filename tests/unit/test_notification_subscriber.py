"""Subscriber wiring with FastStream's in-memory broker (unit level only).

The real-broker behaviour is proven in tests/e2e; this checks that an intake
event reaches the use case decoded, and that a failing handler surfaces.
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker, TestKafkaBroker

from laurel.config import KafkaSettings
from laurel.envelope import RecordedEvent
from laurel.messaging import subscribe

EVENT = RecordedEvent(
    position=1, event_id="e-1", stream_id="nomination-n1", version=1,
    type="NominationSubmitted", schema_version=1, payload={"nomination_id": "n1"},
    metadata={"actor": {"id": "u", "role": "nominator", "organization_id": "h"}},
    recorded_at="2021-11-20T08:00:00.000000Z", prev_hash="0" * 64, hash="a" * 64,
)


async def test_an_event_on_the_topic_reaches_the_handler_decoded() -> None:
    broker = KafkaBroker()
    received: list[RecordedEvent] = []

    async def on_intake_event(event: RecordedEvent) -> None:
        received.append(event)

    subscribe(broker, KafkaSettings(bootstrap="memory"), "laurel.intake.events", "notification",
              on_intake_event)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(EVENT.to_dict(), "laurel.intake.events", key=b"n1")

    assert received == [EVENT]
