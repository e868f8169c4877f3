"""Backup and restore as the operator guide tells it, end to end on the CI
machine's PostgreSQL (pg_dump and pg_restore) and on SQLite (the online
backup API): a store with intake's real events, a signed checkpoint, backed
up, restored into an empty database, then `laurel audit verify` (chains and
the checkpoint) and `laurel audit replay` (every read model rebuilt from the
log equals the restored one) prove it whole. And `laurel outbox republish`
against the real broker."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from laurel.audit import load_signing_key
from laurel.cli import main as laurel
from laurel.config import KafkaSettings
from laurel.eventstore import EventStore
from laurel.outbox import OutboxRelay

POSTGRES_URL = os.environ.get("LAUREL_TEST_POSTGRES_URL", "")


@pytest.fixture
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(a live store's URL, an empty one to restore into), on the backend asked."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'intake.sqlite'}", f"sqlite:///{tmp_path / 'new.sqlite'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not requested: set LAUREL_TEST_POSTGRES_URL (CI does)")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    names = [f"laurel_backup_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        live, new = (make_url(POSTGRES_URL).set(database=n).render_as_string(False)
                     for n in names)
        yield live, new
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize("two_databases", ["sqlite", pytest.param(
    "postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_backup_then_restore_is_proven_whole(
    two_databases: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    fill_intake: Any,
) -> None:
    live, new = two_databases
    runtime = await fill_intake(live, tmp_path)
    key = tmp_path / "checkpoint.key"
    assert laurel(["audit", "keygen", "--out", str(key)]) == 0
    assert laurel(["audit", "checkpoint", "--database", f"intake={live}",
                   "--key", str(key)]) == 0
    events = runtime.store.last_position()
    runtime.store.close()

    dump = tmp_path / "intake.dump"
    assert laurel(["backup", "--service", "intake", "--database", live,
                   "--out", str(dump)]) == 0
    assert dump.stat().st_size > 0
    capsys.readouterr()
    assert laurel(["restore", "--service", "intake", "--database", new,
                   "--from", str(dump)]) == 0
    out = capsys.readouterr().out
    assert f"intake: restored {events} events" in out and "hash chain holds" in out
    assert "intake: core schema current" in out and "intake: intake schema current" in out

    public = tmp_path / "checkpoint.pub"
    public.write_bytes(load_signing_key(key).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    capsys.readouterr()
    for check in (["verify", "--public-key", str(public)], ["replay"]):
        assert laurel(["audit", *check, "--database", f"intake={new}"]) == 0, check
    assert "intake: ok" in capsys.readouterr().out.replace(f" ({new})", "").replace(
        f" ({make_url(new).render_as_string(hide_password=True)})", "")
    restored = EventStore(new)
    assert restored.last_position() == events
    # the signed checkpoint came back with the events (verify checked it above)
    assert "CheckpointSigned" in {e.type for e in restored.read_all()}
    assert [e.hash for e in restored.read_all()][-1] == \
        [e.hash for e in EventStore(live).read_all()][-1]
    restored.close()

    # A second restore into the now-full database is refused, in one line.
    assert laurel(["restore", "--service", "intake", "--database", new,
                   "--from", str(dump)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert f"already holds {events} events; restore into an empty database" in line


def event_ids(kafka: KafkaSettings, topic: str) -> list[str]:
    """The event id header of every record on `topic`, from the start (read
    to the end rather than asked for end offsets: Tansu reports wrong ones)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=kafka.bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000,
                             group_id=None)
    try:
        return [dict(record.headers)["laurel-event-id"].decode() for record in consumer]
    finally:
        consumer.close()


async def test_republish_sends_the_events_again(
    kafka_broker: Any, topic_suffix: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], fill_intake: Any,
) -> None:
    """After `laurel outbox republish --from P`, the relay publishes every
    event from P again, with the same event ids (consumers apply once)."""
    from laurel.broker import ensure_topics

    url = f"sqlite:///{tmp_path / 'intake.sqlite'}"
    topic = f"laurel.intake.events.{topic_suffix}"
    kafka = KafkaSettings(bootstrap=kafka_broker.bootstrap)
    ensure_topics(kafka, [topic])
    runtime = await fill_intake(url, tmp_path, 3, LAUREL_TOPIC_INTAKE=topic)
    store = runtime.store
    relay = OutboxRelay(store, kafka)
    try:
        while store.pending_outbox_count():
            relay.publish_pending()
        first = event_ids(kafka, topic)
        assert first  # the organizations' events (definitions stay in intake)
        published = sorted((e.position, e.event_id) for e in store.read_all()
                           if e.event_id in first)
        middle = published[len(published) // 2][0]
        resent = [event_id for position, event_id in published if position >= middle]
        assert laurel(["outbox", "republish", "--service", "intake", "--database", url,
                       "--from", str(middle)]) == 0
        assert (f"intake: {len(resent)} event(s) from position {middle} on"
                in capsys.readouterr().out)
        assert store.pending_outbox_count() == len(resent)
        while store.pending_outbox_count():
            relay.publish_pending()
        # The same ids again (consumers apply each once), on any partition.
        assert sorted(event_ids(kafka, topic)) == sorted(first + resent)
    finally:
        relay.close()
        store.close()
