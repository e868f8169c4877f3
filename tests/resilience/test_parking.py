"""Poison messages never stop a partition (issue 13, item 5).

A consumer built as the services build theirs (`laurel.messaging.subscribe`
with a `Parking`, `apply_once` into a real SQLite store) reads a topic of the
real broker where, on one partition, a malformed message and an event its
handler refuses sit between good events. Both are parked after bounded
retries, the events behind them are applied, `laurel parked list` shows
both, and once the handler's cause is gone `laurel parked retry` applies the
refused one through the same subscriber. A transient failure (a full disk)
backs off, logs once and parks nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer
from sqlalchemy.exc import OperationalError

from laurel.broker import TansuBroker, ensure_topics
from laurel.config import KafkaSettings
from laurel.consumption import apply_once
from laurel.contracts import REGISTRY, fixtures
from laurel.envelope import Actor, RecordedEvent
from laurel.eventstore import EventStore
from laurel.messaging import events, kafka_broker, subscribe
from laurel.outbox import message_headers, message_value
from laurel.parking import Parking

from .conftest import until

CONSUMER = "parktest"
ACTOR = Actor("parktest", "service")
KEY = b"nomination-1"  # one key: one partition, in this order


def event(position: int, type_: str = "NominationSubmitted") -> RecordedEvent:
    return RecordedEvent(position=position, event_id=str(uuid.uuid4()),
                         stream_id="nomination-1", version=position, type=type_,
                         schema_version=1, payload={"nomination_id": "1"}, metadata={},
                         recorded_at="2021-11-25T01:00:00.000000Z", prev_hash="0" * 64,
                         hash="0" * 64)



def laurel(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "laurel.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=120)


def send(bootstrap: str, topic: str, records: list[tuple[bytes, list]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    for value, headers in records:
        producer.send(topic, key=KEY, value=value, headers=headers)
    producer.flush(10)
    producer.close()


@pytest.fixture
def consumer_store(tmp_path: Path) -> EventStore:
    store = EventStore(f"sqlite:///{tmp_path / 'parktest.sqlite'}")
    store.create_schema()
    return store


async def test_a_malformed_message_and_a_refused_event_are_parked_and_the_partition_moves_on(
    kafka_broker: TansuBroker, topic_suffix: str, consumer_store: EventStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="laurel.parking")
    kafka = KafkaSettings(bootstrap=kafka_broker.bootstrap,
                          group_prefix=f"test-{topic_suffix}")
    topic = f"laurel.intake.events.{topic_suffix}"
    ensure_topics(kafka, [topic])
    store, broken, calls = consumer_store, [True], {"Boom": 0}

    def on_event(recorded: RecordedEvent) -> None:
        if recorded.type == "Boom":
            calls["Boom"] += 1
            if broken[0]:
                raise ValueError("no rule for Boom in this version of parktest")
        apply_once(store, CONSUMER, ACTOR, recorded, lambda uow, e, meta: None)

    parking = Parking(store, CONSUMER, upstreams={topic: "intake"}, max_attempts=3,
                      backoff_s=0.05, backoff_cap_s=0.2)
    broker = kafka_broker_for(kafka)
    subscribe(broker, kafka, CONSUMER, {topic: events(on_event)}, parking=parking)
    good, boom, after = event(1), event(2, "Boom"), [event(3), event(4)]
    try:
        await broker.start()
        await asyncio.to_thread(send, kafka.bootstrap, topic, [
            (message_value(good), message_headers(good)),
            (b'{"event_id": "not json', [("content-type", b"application/json")]),
            (message_value(boom), message_headers(boom)),
            *[(message_value(e), message_headers(e)) for e in after]])
        await until(lambda: all(store.has_processed(CONSUMER, e.event_id) for e in after),
                    "the events behind the poison applied")
        assert store.has_processed(CONSUMER, good.event_id)
        assert not store.has_processed(CONSUMER, boom.event_id)
        assert calls["Boom"] == 3  # bounded: three attempts, then parked

        parked = sorted(parking.parked().values(), key=lambda p: p.offset)
        assert [(p.event_type, p.attempts, p.resolved) for p in parked] == [
            ("", 3, False), ("Boom", 3, False)]
        malformed, refused = parked
        assert "JSONDecodeError" in malformed.reason or "decode" in malformed.reason.lower()
        assert refused.event_id == boom.event_id and "no rule for Boom" in refused.reason
        assert refused.value == message_value(boom)  # kept whole
        assert malformed.value == b'{"event_id": "not json'
        assert {p.topic for p in parked} == {topic}
        assert len({p.partition for p in parked}) == 1
        assert parking.status() == {"parked_total": 2, "open": 2}

        env = {"LAUREL_KAFKA_BOOTSTRAP": kafka.bootstrap}
        listed = laurel("parked", "list", CONSUMER, "--database", store.url, "--json",
                        env=env)
        assert listed.returncode == 0, listed.stderr
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        assert {r["park_id"] for r in rows} == {malformed.park_id, refused.park_id}
        assert {r["offset"] for r in rows} == {malformed.offset, refused.offset}

        broken[0] = False  # the cause is gone (a fixed release)
        retried = await asyncio.to_thread(
            laurel, "parked", "retry", CONSUMER, refused.park_id, "--database", store.url,
            "--wait", "60", env=env)
        assert retried.returncode == 0, retried.stdout + retried.stderr
        assert f"{refused.park_id}: applied" in retried.stdout
        assert store.has_processed(CONSUMER, boom.event_id)
        now = parking.parked()
        assert now[refused.park_id].resolved and not now[malformed.park_id].resolved
        listed = laurel("parked", "list", CONSUMER, "--database", store.url, env=env)
        assert malformed.park_id in listed.stdout and refused.park_id not in listed.stdout
    finally:
        await broker.stop()
        store.close()


async def test_a_full_disk_backs_off_logs_once_and_parks_nothing(
    kafka_broker: TansuBroker, topic_suffix: str, consumer_store: EventStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="laurel.parking")
    kafka = KafkaSettings(bootstrap=kafka_broker.bootstrap,
                          group_prefix=f"test-{topic_suffix}")
    topic = f"laurel.intake.events.{topic_suffix}"
    ensure_topics(kafka, [topic])
    store, tries, full_until = consumer_store, [0], [0.0]

    def on_event(recorded: RecordedEvent) -> None:
        tries[0] += 1
        if full_until[0] == 0.0:
            full_until[0] = time.monotonic() + 3
        if time.monotonic() < full_until[0]:
            raise OperationalError("INSERT INTO processed_events …", {},
                                   sqlite3.OperationalError("database or disk is full"))
        apply_once(store, CONSUMER, ACTOR, recorded, lambda uow, e, meta: None)

    parking = Parking(store, CONSUMER, max_attempts=2, backoff_s=0.1, backoff_cap_s=1)
    broker = kafka_broker_for(kafka)
    subscribe(broker, kafka, CONSUMER, {topic: events(on_event)}, parking=parking)
    first, second = event(1), event(2)
    try:
        await broker.start()
        await asyncio.to_thread(send, kafka.bootstrap, topic, [
            (message_value(e), message_headers(e)) for e in (first, second)])
        await until(lambda: store.has_processed(CONSUMER, second.event_id),
                    "both applied once the disk has room")
        assert store.has_processed(CONSUMER, first.event_id)
        assert parking.parked() == {}
        assert tries[0] < 15, f"{tries[0]} attempts in 3 s: spinning"
        lines = [r.getMessage() for r in caplog.records if r.name == "laurel.parking"]
        assert sum("database or disk is full" in line for line in lines) == 1, lines
        assert sum("recovered" in line for line in lines) == 1, lines
    finally:
        await broker.stop()
        store.close()


def kafka_broker_for(kafka: KafkaSettings):  # noqa: ANN201
    return kafka_broker(kafka, CONSUMER)


async def test_an_event_the_catch_up_cannot_apply_is_parked_and_the_catch_up_goes_on(
    tmp_path: Path, consumer_store: EventStore,
) -> None:
    from sqlalchemy import select

    from laurel import published_log
    from laurel.catchup import Inbox, Upstream
    from laurel.config import SecuritySettings
    from laurel.envelope import EventMetadata, NewEvent
    from laurel.eventstore import Publication, applied_positions_table
    from laurel.published_log import EventLogClient
    from laurel.runtime import secured_server

    topic = "laurel.intake.events.parked-catchup"
    upstream = EventStore(f"sqlite:///{tmp_path / 'intake.sqlite'}")
    upstream.create_schema()
    server = secured_server("intake", True, SecuritySettings(), "127.0.0.1:0",
                            published_log.register("intake", upstream),
                            [published_log.SERVICE_NAME])
    await server.start()
    store = consumer_store

    def react(recorded: RecordedEvent) -> None:
        if recorded.type == "NominationRejected":
            raise ValueError("no rule for NominationRejected in this version of parktest")
        apply_once(store, CONSUMER, ACTOR, recorded, lambda uow, e, meta: None)

    reader = EventLogClient("intake", f"127.0.0.1:{server.port}", CONSUMER)
    inbox = Inbox(store, CONSUMER, [Upstream("intake", topic, react)], {"intake": reader},
                  grace_s=0)
    parking = Parking.for_inbox(inbox, max_attempts=2, backoff_s=0.01)
    meta = EventMetadata(ACTOR, correlation_id="c")
    try:
        for type_ in ("NominationSubmitted", "NominationRejected", "NominationEndorsed"):
            golden = fixtures.load("intake", type_, REGISTRY["intake"][type_].version)
            upstream.run(lambda uow, t=type_, g=golden: uow.append(
                "nomination-1", [NewEvent(t, {**g.payload, "nomination_id": "1"},
                                          schema_version=g.schema_version)], meta,
                publish=Publication(topic)))
        assert await asyncio.to_thread(inbox.reconcile, force=True) == 2
        t = applied_positions_table.c
        with store.engine.connect() as conn:
            outcomes = dict(conn.execute(select(t.position, t.outcome).where(
                t.consumer == CONSUMER)).tuples().all())
        assert outcomes == {1: "applied", 2: "parked", 3: "applied"}
        assert inbox.lag()["intake"].watermark == 3
        [parked] = parking.parked().values()
        assert (parked.event_type, parked.attempts, parked.partition) == (
            "NominationRejected", 2, -1)
        assert await asyncio.to_thread(inbox.reconcile) == 0  # not tried again
    finally:
        inbox.close()
        await server.stop(0)
        upstream.close()
        store.close()
