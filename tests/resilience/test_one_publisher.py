"""One publisher per store (issue 13, item 6).

Two intake replicas share one PostgreSQL store: exactly one of them (the
holder of the store's advisory lock) publishes its outbox, so under
concurrent submissions through both every event reaches the topic exactly
once. Killed outright, the leader's lock goes with its session and the other
replica publishes within seconds. The same lock on SQLite is a file lock
next to the database.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from laurel.broker import TansuBroker
from laurel.eventstore import EventStore
from laurel.leadership import Leadership

from .conftest import (
    HOSPITALS,
    IntakeClient,
    ServiceProcess,
    create_topics,
    service_env,
    suffix,
    topic_event_ids,
    until,
)

LEADS = "intake: this replica is now the leader"



def published_ids(store: EventStore) -> list[str]:
    """The event ids intake's store put in its outbox, in position order."""
    with store.engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT e.event_id FROM events e JOIN outbox o ON o.position = e.position "
            "ORDER BY e.position")).scalars())


@pytest.mark.postgres
async def test_two_intake_replicas_publish_each_event_once_and_hand_over_when_killed(
    kafka_broker: TansuBroker, postgres_url: str, tmp_path: Path,
) -> None:
    env = service_env(kafka_broker.bootstrap, tmp_path, suffix(),
                      LAUREL_DATABASE_URL=postgres_url)
    create_topics(env)
    topic = env["LAUREL_TOPIC_INTAKE"]
    first = ServiceProcess("intake", env, tmp_path / "intake-1.log").start()
    second = ServiceProcess("intake", env, tmp_path / "intake-2.log").start()
    replicas = [first, second]
    clients = [IntakeClient(first.address), IntakeClient(second.address)]
    store = EventStore(postgres_url)
    try:
        await until(lambda: sum(LEADS in r.log() for r in replicas) == 1, "one leader")
        leader, follower = (first, second) if LEADS in first.log() else (second, first)
        await clients[0].prepare()
        hospitals = HOSPITALS[:40]
        await asyncio.gather(*(clients[i % 2].submit(h) for i, h in enumerate(hospitals)))
        await until(lambda: store.pending_outbox_count() == 0, "everything published")

        on_topic = await asyncio.to_thread(topic_event_ids, kafka_broker.bootstrap, topic)
        stored = published_ids(store)
        assert len(stored) > 40
        assert Counter(on_topic).most_common(1)[0][1] == 1, "an event published twice"
        assert sorted(on_topic) == sorted(stored)
        assert "outbox relay: connected" in leader.log()
        assert "outbox relay: connected" not in follower.log()

        leader.kill()  # SIGKILL: no goodbye, the lock goes with its session
        follower_client = clients[1] if follower is second else clients[0]
        more = HOSPITALS[40:46]
        for hospital in more:
            await follower_client.submit(hospital)
        took = await until(lambda: store.pending_outbox_count() == 0,
                           "the follower published", timeout=30)
        assert took < 15, f"the follower took {took:.1f}s to take over"
        assert LEADS in follower.log()
        on_topic = await asyncio.to_thread(topic_event_ids, kafka_broker.bootstrap, topic)
        assert Counter(on_topic).most_common(1)[0][1] == 1
        assert sorted(on_topic) == sorted(published_ids(store))
    finally:
        for client in clients:
            await client.close()
        for replica in replicas:
            replica.kill()
        store.close()


@pytest.mark.postgres
def test_closing_the_leaders_lock_connection_hands_the_lead_over(postgres_url: str) -> None:
    one, two = (Leadership(postgres_url, "intake") for _ in range(2))
    try:
        assert one.step() and not two.step()
        lock = one._lock
        with create_engine(postgres_url).connect() as admin:  # the leader's session ends
            pid = lock.conn.connection.dbapi_connection.info.backend_pid
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert not one.step(), "the old leader notices it lost its session"
        assert two.step()
        assert not one.step()
    finally:
        one.close()
        two.close()


def test_sqlite_replicas_lead_through_a_file_lock_next_to_the_database(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'intake.sqlite'}"
    one, two = Leadership(url, "intake"), Leadership(url, "intake")
    try:
        assert one.step() and not two.step() and one.step()
        assert (tmp_path / "intake.sqlite.intake.lock").exists()
        one.close()
        assert two.step() and not one.step()
    finally:
        one.close()
        two.close()
