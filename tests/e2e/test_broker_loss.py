"""The stores are the truth: a broker that comes back empty loses nothing.

Real parts only: a Tansu broker of the test's own (memory-only, so a restart
is an empty broker), the four services in this process on real sockets and
SQLite files. Nominations are submitted and received; intake's relay hands
them to the broker, which is then killed and restarted empty before
notification has read any (it starts afterwards) and while scoring and
review may be anywhere; more nominations follow. Without any command, every
consumer ends where a fresh replay of its upstreams' stores ends, and the
audit's completeness check finds nothing missing.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from laurel.audit.handlers import completeness
from laurel.auth import call_metadata
from laurel.broker import TansuBroker, ensure_topics, free_port
from laurel.client import flatten
from laurel.config import SERVICES, KafkaSettings, load_settings
from laurel.demo import ORGANIZER, campaign_clock_request, demo_organizations, load_sample
from laurel.envelope import Actor, RecordedEvent
from laurel.eventstore import EventStore, processed_table
from laurel.grpcutil import client_channel
from laurel.intake.bootstrap import build as build_intake
from laurel.intake.v1 import intake_pb2, intake_pb2_grpc
from laurel.notification.bootstrap import build as build_notification
from laurel.review.bootstrap import build as build_review
from laurel.review.domain import events as review_events
from laurel.review.domain import facts as review_facts
from laurel.runtime import ServiceRuntime
from laurel.scoring.bootstrap import build as build_scoring
from laurel.scoring.domain import facts as scoring_facts

pytestmark = pytest.mark.slow

HOSPITALS = ("henan-provincial-peoples", "zzu-first-affiliated", "henan-provincial-tcm",
             "henan-cancer")
CONSUMERS = {"scoring": ("intake", "review"), "review": ("intake", "scoring"),
             "notification": ("intake", "scoring", "review")}


def env_for(data_dir: Path, bootstrap: str, ports: dict[str, int], suffix: str
            ) -> dict[str, str]:
    env = {
        "LAUREL_ENV": "development",
        "LAUREL_GRPC_HOST": "127.0.0.1",
        "LAUREL_DATA_DIR": str(data_dir),
        "LAUREL_KAFKA_BOOTSTRAP": bootstrap,
        "LAUREL_OUTBOX_POLL_MS": "50",
        "LAUREL_KAFKA_GROUP_PREFIX": f"loss-{suffix}",
        "LAUREL_REVIEW_REMINDER_POLL_S": "0",
        "LAUREL_CATCHUP_INTERVAL_S": "0.5",
        "LAUREL_CATCHUP_GRACE_S": "1",
    }
    for service in SERVICES:
        env[f"LAUREL_TOPIC_{service.upper()}"] = f"laurel.{service}.events.{suffix}"
        env[f"LAUREL_CATCHUP_{service.upper()}_ADDRESS"] = f"127.0.0.1:{ports[service]}"
    return env


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    started = TansuBroker(log_path=tmp_path / "broker.log").start()
    yield started
    started.stop()


async def build(service: str, env: dict[str, str], port: int | None) -> ServiceRuntime:
    values = {**env, "LAUREL_GRPC_PORT": str(port or 0)}
    settings = load_settings(service, values)
    builders: dict[str, Any] = {"intake": build_intake, "scoring": build_scoring,
                                "review": build_review, "notification": build_notification}
    runtime: ServiceRuntime = await builders[service](settings)
    return runtime


def submission(hospital: str) -> intake_pb2.SubmitNominationRequest:
    sample = load_sample("henan-2021-ten-measures.yaml")
    name = next(o["name"] for o in demo_organizations() if o["organization_id"] == hospital)
    return intake_pb2.SubmitNominationRequest(
        campaign_id=sample["campaign_id"], category=sample["category"],
        nominee=intake_pb2.Nominee(kind="hospital", name=name, organization_id=hospital),
        fields=flatten({**sample["fields"], "hospital_name": name}))


async def nominate_and_receive(stub: Any, hospital: str) -> str:
    nominator = Actor(f"nominator-{hospital}", "nominator", hospital)
    reply = await stub.SubmitNomination(submission(hospital),
                                        metadata=call_metadata(nominator))
    await stub.ReceiveNomination(
        intake_pb2.ReceiveNominationRequest(nomination_id=reply.nomination_id),
        metadata=call_metadata(ORGANIZER))
    return str(reply.nomination_id)


def published_head(store: EventStore) -> int:
    return store.read_published(1, 1).head_position


def watermark(runtimes: dict[str, ServiceRuntime], consumer: str, upstream: str) -> int:
    inbox = runtimes[consumer].inbox
    assert inbox is not None
    return inbox.lag()[upstream].watermark


async def converged(runtimes: dict[str, ServiceRuntime], timeout: float = 90.0) -> None:
    """Every consumer's watermark at its upstreams' published heads, twice in
    a row a second apart (scoring's and review's reactions publish more)."""
    deadline, streak = time.monotonic() + timeout, 0
    while streak < 2:
        standing = {(c, u): (watermark(runtimes, c, u), published_head(runtimes[u].store))
                    for c, ups in CONSUMERS.items() for u in ups}
        assert time.monotonic() < deadline, f"not caught up: {standing}"
        done = all(mark >= head for mark, head in standing.values())
        streak = streak + 1 if done else 0
        await asyncio.sleep(1.0)


def published(store: EventStore) -> list[RecordedEvent]:
    events, position = [], 1
    while True:
        page = store.read_published(position, 500)
        events += [e.event for e in page.entries]
        if page.next_position > page.head_position:
            return events
        position = page.next_position


def marks(store: EventStore, consumer: str) -> set[str]:
    t = processed_table.c
    with store.engine.connect() as conn:
        return set(conn.execute(processed_table.select().with_only_columns(t.event_id)
                                .where(t.consumer == consumer)).scalars())


def shape(store: EventStore) -> Counter[tuple[str, str]]:
    """What a consumer recorded: how many events of each type in each stream."""
    return Counter((e.stream_id, e.type) for e in store.read_all())


async def fresh_replay(consumer: str, upstreams: dict[str, EventStore], env: dict[str, str],
                       data_dir: Path) -> ServiceRuntime:
    """The consumer on an empty store, handed every published event of its
    upstreams' stores, upstreams interleaved as recorded."""
    data_dir.mkdir()
    runtime = await build(consumer, {**env, "LAUREL_DATA_DIR": str(data_dir)}, None)
    inbox = runtime.inbox
    assert inbox is not None
    feed = sorted(((e.recorded_at, name, e) for name in CONSUMERS[consumer]
                   for e in published(upstreams[name])), key=lambda x: (x[0], x[1]))
    for _, name, event in feed:
        await asyncio.to_thread(inbox.upstreams[name].react, event)
    return runtime


async def test_an_empty_broker_loses_nothing_and_needs_no_command(
    tmp_path: Path, broker: TansuBroker, broker_view: Any,
) -> None:
    ports = {service: free_port() for service in SERVICES}
    env = env_for(tmp_path / "live", broker.bootstrap, ports, tmp_path.name[-12:])
    ensure_topics(KafkaSettings(bootstrap=broker.bootstrap),
                  [v for k, v in env.items() if k.startswith("LAUREL_TOPIC_")])
    runtimes: dict[str, ServiceRuntime] = {}
    try:
        for service in ("intake", "scoring", "review"):
            runtimes[service] = await build(service, env, ports[service])
            await runtimes[service].start()
        async with client_channel(f"127.0.0.1:{ports['intake']}") as channel:
            stub = intake_pb2_grpc.IntakeServiceStub(channel)
            for org in demo_organizations():
                if org["organization_id"] in {"henan-center", *HOSPITALS}:
                    await stub.RegisterOrganization(
                        intake_pb2.RegisterOrganizationRequest(**org),
                        metadata=call_metadata(ORGANIZER))
            await stub.SetCampaignClock(campaign_clock_request(),
                                        metadata=call_metadata(ORGANIZER))
            first = [await nominate_and_receive(stub, h) for h in HOSPITALS[:2]]

            # The broker took every event intake published; then it loses them all.
            intake = runtimes["intake"].store
            deadline = time.monotonic() + 30
            while intake.pending_outbox_count():
                assert time.monotonic() < deadline, "intake's relay never published"
                await asyncio.sleep(0.05)
            port = broker.port
            broker.stop()
            broker.process = None
            broker.port = port
            broker.start()  # memory-only: an empty broker on the same address

            runtimes["notification"] = await build("notification", env,
                                                   ports["notification"])
            await runtimes["notification"].start()
            later = [await nominate_and_receive(stub, h) for h in HOSPITALS[2:]]

        await converged(runtimes)
        # The fault happened: the first nominations are not on the broker now.
        kafka = KafkaSettings(bootstrap=broker.bootstrap)
        on_broker = await asyncio.to_thread(broker_view.keys, kafka, env["LAUREL_TOPIC_INTAKE"])
        assert set(later) <= set(on_broker) and not set(first) & set(on_broker)

        # Notification never saw the first nominations on Kafka: it took them
        # from intake's store. Every consumer equals a fresh replay of its upstreams.
        stores = {name: runtime.store for name, runtime in runtimes.items()}
        for consumer in CONSUMERS:
            replayed = await fresh_replay(consumer, stores, env, tmp_path / f"fresh-{consumer}")
            try:
                assert marks(stores[consumer], consumer) == marks(replayed.store, consumer)
                assert shape(stores[consumer]) == shape(replayed.store), consumer
                for nid in [*first, *later]:
                    if consumer == "scoring":
                        stream, fold = scoring_facts.stream_id(nid), scoring_facts.FACTS
                    elif consumer == "review":
                        stream = review_events.nomination_stream(nid)
                        fold = review_facts.NOMINATION  # type: ignore[assignment]
                    else:
                        continue
                    live = stores[consumer].run(lambda uow, s=stream, f=fold: uow.load(s, f))
                    fresh = replayed.store.run(lambda uow, s=stream, f=fold: uow.load(s, f))
                    assert live == fresh and live is not None, (consumer, nid)
            finally:
                replayed.store.close()
        receipts = [e for e in stores["notification"].read_all()
                    if e.type == "SubmissionReceiptIssued"]
        assert len(receipts) == len(HOSPITALS)

        # The audit finds every consumer complete up to every upstream's head.
        accounts = completeness(stores)
        assert {(a.consumer, a.upstream) for a in accounts} == {
            (c, u) for c, ups in CONSUMERS.items() for u in ups}
        assert [(a.consumer, a.upstream, a.missing) for a in accounts if not a.complete] == []
        assert sum(a.applied for a in accounts) > 0
    finally:
        for runtime in runtimes.values():
            await runtime.stop()
