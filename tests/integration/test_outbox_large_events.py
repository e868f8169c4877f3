"""A large event of record (a round's result with every breakdown) still
reaches Kafka instead of stalling the outbox behind it (Tansu takes it as it
is; against Apache Kafka the relay gzips it under the broker's 1 MB limit)."""

from __future__ import annotations

import json
import random
import string

from kafka import KafkaConsumer

from laurel.broker import ensure_topics
from laurel.config import KafkaSettings
from laurel.contracts import fixtures
from laurel.envelope import Actor, EventMetadata, NewEvent
from laurel.eventstore import EventStore, Publication
from laurel.outbox import OutboxRelay

META = EventMetadata(Actor("scoring", "service"), correlation_id="c")


def test_an_event_over_a_megabyte_is_published_and_the_ones_after_it_too(
    kafka_broker, topic_suffix: str, tmp_path,
) -> None:
    topic = f"laurel.scoring.events.{topic_suffix}"
    kafka = KafkaSettings(bootstrap=kafka_broker.bootstrap)
    ensure_topics(kafka, [topic])
    store = EventStore(f"sqlite:///{tmp_path / 'scoring.sqlite'}")
    store.create_schema()
    rng = random.Random(7)
    breakdowns = {f"n-{i}": {"inputs": ["".join(rng.choices(string.digits, k=40))
                                        for _ in range(8)]} for i in range(4000)}
    result = fixtures.load("scoring", "ResultComputed", 1).payload
    big = NewEvent("ResultComputed", {**result, "round_id": "r-1", "breakdowns": breakdowns})
    assert len(json.dumps(big.payload)) > 1_300_000
    after = NewEvent("ResultComputed", {**result, "round_id": "r-1", "version": 2,
                                        "supersedes": 1})
    store.append("scoring-round-r-1", 0, [big], META, publish=Publication(topic))
    store.append("scoring-round-r-1", 1, [after], META, publish=Publication(topic))

    relay = OutboxRelay(store, kafka)
    assert relay.publish_pending() == 2
    relay.close()
    assert store.pending_outbox_count() == 0

    consumer = KafkaConsumer(topic, bootstrap_servers=kafka.bootstrap, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    try:
        received = [json.loads(record.value) for record in consumer]
    finally:
        consumer.close()
    assert [m["payload"]["version"] for m in received] == [1, 2]
    assert received[0]["payload"]["breakdowns"] == breakdowns
    store.close()
