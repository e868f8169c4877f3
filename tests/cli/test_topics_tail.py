"""`laurel topics tail` reads the embedded broker and decodes Laurel's events.

The events are written exactly as the outbox relay writes them (its own
value and header encoders) to a real Tansu broker; the command runs as a
process, as a person would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from kafka import KafkaProducer

from laurel.broker import TansuBroker, ensure_topics
from laurel.config import KafkaSettings
from laurel.envelope import RecordedEvent
from laurel.outbox import message_headers, message_value


def event(n: int, kind: str, payload: dict[str, object]) -> RecordedEvent:
    return RecordedEvent(
        position=n, event_id=f"event-{n}", stream_id="nomination-n1", version=n, type=kind,
        schema_version=1, payload=payload,
        metadata={"actor": {"id": "wang-fang", "role": "nominator",
                            "organization_id": "zhengzhou-peoples"}},
        recorded_at="2021-11-20T08:00:00.000000Z", prev_hash="0" * 64, hash="a" * 64)


def publish(bootstrap: str, topic: str, events: list[tuple[RecordedEvent, int]]) -> None:
    """Each event with its record timestamp (ms), keyed by nomination as the relay does."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    try:
        for recorded, timestamp_ms in events:
            producer.send(topic, key=b"n1", value=message_value(recorded),
                          headers=message_headers(recorded), timestamp_ms=timestamp_ms)
        producer.flush(timeout=30)
    finally:
        producer.close()


def tail(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}
    env.update(LAUREL_KAFKA_BOOTSTRAP=bootstrap, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "laurel.cli", "topics", "tail", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_tail_decodes_the_events_and_by_default_shows_only_new_ones(
    kafka_broker: TansuBroker, topic_suffix: str,
) -> None:
    topic = f"laurel.intake.events.{topic_suffix}"
    ensure_topics(KafkaSettings(bootstrap=kafka_broker.bootstrap), [topic])
    now_ms = int(time.time() * 1000)
    submitted = event(1, "NominationSubmitted", {"nominee": "郑州市人民医院"})
    # Written "later" than the command starts: what a follower waits for.
    endorsed = event(2, "NominationEndorsed", {"opinion": "同意推荐"})
    publish(kafka_broker.bootstrap, topic,
            [(submitted, now_ms - 60_000), (endorsed, now_ms + 3_600_000)])

    everything = tail(kafka_broker.bootstrap, topic, "--from-beginning", "--max", "2",
                      "--json")
    assert everything.returncode == 0, everything.stderr
    records = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [r["event"]["type"] for r in records] == ["NominationSubmitted",
                                                     "NominationEndorsed"]
    first = records[0]
    assert first["key"] == "n1" and first["topic"] == topic
    assert first["headers"]["laurel-event-id"] == "event-1"
    assert first["headers"]["laurel-stream-id"] == "nomination-n1"
    assert first["event"]["payload"] == {"nominee": "郑州市人民医院"}

    only_new = tail(kafka_broker.bootstrap, topic, "--max", "1", "--idle", "20", "--json")
    assert only_new.returncode == 0, only_new.stderr
    assert [json.loads(line)["event"]["event_id"] for line in only_new.stdout.splitlines()
            ] == ["event-2"]

    shown = tail(kafka_broker.bootstrap, topic, "--from-beginning", "--idle", "3")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert f"{topic}[" in lines[0] and "NominationSubmitted v1" in lines[0]
    assert "nomination-n1" in lines[0]
    assert "key n1  event event-1  position 1" in lines[1]
    assert '"nominee": "郑州市人民医院"' in lines[2]
    assert any("NominationEndorsed v1" in line for line in lines)


def test_tail_names_a_topic_that_is_not_there(kafka_broker: TansuBroker) -> None:
    done = tail(kafka_broker.bootstrap, "laurel.no-such-topic", "--max", "1")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("laurel: no topic 'laurel.no-such-topic' at ")
