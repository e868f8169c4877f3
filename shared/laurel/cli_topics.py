"""`laurel topics …`: create Laurel's Kafka topics, and read them as people do.

`tail` decodes what the outbox relays publish (the stored envelope as JSON,
the event's id, type and stream in the headers) with kafka-python, so
nobody needs kcat (Debian's cannot talk to the embedded broker at all, see
docs/platform.md). It reads without a consumer group: nothing is committed,
no service's position moves.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.text import Text

from laurel.cli import command_hint, console, fail, new_app, one_line
from laurel.config import KafkaSettings, Topics

app = new_app("Laurel's Kafka topics: create them, read them.")
PAYLOAD_CHARS = 400


def kafka_settings() -> KafkaSettings:
    """LAUREL_KAFKA_* settings; the bootstrap from the environment, else from
    the endpoints file of the last `laurel up`."""
    bootstrap = os.environ.get("LAUREL_KAFKA_BOOTSTRAP", "").strip()
    if not bootstrap:
        from laurel.client import default_endpoints

        bootstrap = default_endpoints().get("kafka", "")
    if not bootstrap:
        fail(f"no Kafka to talk to: start the suite (`make run`, or `{command_hint('up')}`), "
             "or set LAUREL_KAFKA_BOOTSTRAP")
    return KafkaSettings.load(bootstrap=bootstrap)


@app.command()
def create() -> None:
    """Create Laurel's event topics (existing ones are left as they are)."""
    from kafka.errors import KafkaError

    from laurel.broker import ensure_topics

    settings, topics = kafka_settings(), Topics.load().all()
    try:
        ensure_topics(settings, topics)
    except KafkaError as error:
        fail(f"cannot create topics at {settings.bootstrap}: {one_line(repr(error))}")
    print("topics ready: " + ", ".join(topics))


@app.command()
def tail(
    topics: Annotated[list[str] | None, typer.Argument(
        metavar="TOPIC...", help="topics to read (default: the four services' event topics)",
        show_default=False)] = None,
    from_beginning: Annotated[bool, typer.Option(
        "--from-beginning", help="everything the topics hold, not only what comes next")]
        = False,
    max_records: Annotated[int, typer.Option(
        "--max", min=0, help="stop after this many events (0: no limit)")] = 0,
    idle: Annotated[float, typer.Option(
        min=0, help="stop after this many seconds without an event (0: follow until "
        "Ctrl-C)")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per event "
                                          "(JSON Lines)")] = False,
) -> None:
    """Show the events on the topics, decoded: key, type, event id, stream, payload."""
    settings = kafka_settings()
    names = topics or Topics.load().all()
    shown = 0
    try:
        for record in _records(settings, names, from_beginning, idle):
            if as_json:
                print(json.dumps(record, ensure_ascii=False), flush=True)
            else:
                _print(record)
            shown += 1
            if max_records and shown >= max_records:
                break
    except KeyboardInterrupt:
        pass  # Ctrl-C is how one stops following


def _records(settings: KafkaSettings, topics: list[str], from_beginning: bool,
             idle: float) -> Iterator[dict[str, Any]]:
    """Decoded records, in time order within each poll, until `idle` seconds pass
    without one.

    Without --from-beginning the topics are still read from their start, and
    records older than the moment the command started are skipped: the
    embedded broker reports wrong end offsets (docs/platform.md), so seeking
    to the end is not a reliable "from now"; record timestamps are."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    started_ms = int(time.time() * 1000)
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap.split(","),
            group_id=None, enable_auto_commit=False,
            request_timeout_ms=settings.request_timeout_ms,
            security_protocol=settings.security_protocol,
            **settings.tls_options(), **settings.sasl_options())
    except KafkaError as error:
        fail(f"cannot reach Kafka at {settings.bootstrap}: {type(error).__name__}")
    try:
        partitions = []
        for topic in topics:
            found = consumer.partitions_for_topic(topic)
            if not found:
                known = sorted(t for t in consumer.topics() if not t.startswith("__"))
                fail(f"no topic {topic!r} at {settings.bootstrap}; there: "
                     f"{', '.join(known) or 'none'}")
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        last_seen = time.monotonic()
        while not idle or time.monotonic() - last_seen < idle:
            batch = consumer.poll(timeout_ms=200)
            records = sorted((r for rs in batch.values() for r in rs),
                             key=lambda r: (r.timestamp, r.topic, r.partition, r.offset))
            for record in records:
                last_seen = time.monotonic()
                if from_beginning or record.timestamp >= started_ms:
                    yield decoded(record)
    finally:
        consumer.close()


def decoded(record: Any) -> dict[str, Any]:
    """A Kafka record as Laurel wrote it: headers by name, the envelope parsed."""
    headers = {name: value.decode("utf-8", "replace") for name, value in record.headers or ()}
    try:
        event: Any = json.loads(record.value)
    except (TypeError, ValueError):
        event = {"undecoded": (record.value or b"").decode("utf-8", "replace")}
    return {
        "topic": record.topic, "partition": record.partition, "offset": record.offset,
        "timestamp": datetime.fromtimestamp(record.timestamp / 1000, UTC).isoformat(),
        "key": (record.key or b"").decode("utf-8", "replace"),
        "headers": headers, "event": event,
    }


def _print(record: Mapping[str, Any]) -> None:
    event, headers = record["event"], record["headers"]
    kind = headers.get("laurel-event-type") or event.get("type", "?")
    version = headers.get("laurel-schema-version") or event.get("schema_version", "")
    line = Text()
    line.append(f"{record['topic']}[{record['partition']}]@{record['offset']} ", "dim")
    line.append(record["timestamp"][:19].replace("T", " ") + "  ")
    line.append(f"{kind} v{version}", "bold cyan")
    line.append(f"  {headers.get('laurel-stream-id') or event.get('stream_id', '')}", "green")
    out = console()
    out.print(line, soft_wrap=True)
    event_id = headers.get("laurel-event-id") or event.get("event_id", "?")
    out.print(f"  key {record['key'] or '-'}  event {event_id}  position "
              f"{event.get('position', '?')}", markup=False, highlight=False)
    payload = json.dumps(event.get("payload", event), ensure_ascii=False)
    if len(payload) > PAYLOAD_CHARS:
        payload = (f"{payload[:PAYLOAD_CHARS]}… ({len(payload) - PAYLOAD_CHARS} more "
                   "characters; --json shows all)")
    out.print(f"  payload {payload}", markup=False, highlight=False, soft_wrap=True)

