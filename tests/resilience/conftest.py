"""What the resilience tests share: a broker of their own that they stop and
start again (on the same port, empty, as a restarted Tansu is), intake
reached over real gRPC, and the events a topic really holds."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from kafka import KafkaConsumer

from laurel.auth import call_metadata
from laurel.broker import TansuBroker, ensure_topics, free_port, wait_for_port
from laurel.client import flatten
from laurel.config import KafkaSettings
from laurel.demo import ORGANIZER, campaign_clock_request, demo_organizations, load_sample
from laurel.envelope import Actor
from laurel.grpcutil import client_channel
from laurel.intake.v1 import intake_pb2, intake_pb2_grpc

SAMPLE = load_sample("henan-2021-ten-measures.yaml")
# One ten-measures nomination per hospital is what the campaign allows.
HOSPITALS = [o["organization_id"] for o in demo_organizations() if o["kind"] == "hospital"]


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A broker this test may stop and start again (empty) on the same port."""
    broker = TansuBroker(port=free_port(), log_path=tmp_path / "tansu.log").start()
    try:
        yield broker
    finally:
        broker.stop()


def service_env(bootstrap: str, data_dir: Path, suffix: str,
                **extra: str) -> dict[str, str]:
    env = {
        "LAUREL_ENV": "development",
        "LAUREL_GRPC_HOST": "127.0.0.1",
        "LAUREL_GRPC_PORT": "0",
        "LAUREL_DATA_DIR": str(data_dir),
        "LAUREL_KAFKA_BOOTSTRAP": bootstrap,
        "LAUREL_OUTBOX_POLL_MS": "50",
        "LAUREL_KAFKA_GROUP_PREFIX": f"test-{suffix}",
        # Short enough that a test sees the relay give up on a lost broker.
        "LAUREL_KAFKA_MAX_BLOCK_MS": "1000",
        "LAUREL_KAFKA_REQUEST_TIMEOUT_MS": "3000",
    }
    for service in ("intake", "scoring", "review", "notification"):
        env[f"LAUREL_TOPIC_{service.upper()}"] = f"laurel.{service}.events.{suffix}"
    env.update(extra)
    return env


def create_topics(env: dict[str, str]) -> None:
    ensure_topics(KafkaSettings(bootstrap=env["LAUREL_KAFKA_BOOTSTRAP"]),
                  [v for k, v in env.items() if k.startswith("LAUREL_TOPIC_")])


def nominator(hospital: str) -> Actor:
    return Actor(f"nominator-{hospital}", "nominator", hospital)


@dataclass
class IntakeClient:
    """Intake over a real gRPC socket, as a portal calls it."""

    address: str
    channel: grpc.aio.Channel = field(init=False)
    stub: intake_pb2_grpc.IntakeServiceStub = field(init=False)

    def __post_init__(self) -> None:
        self.channel = client_channel(self.address)
        self.stub = intake_pb2_grpc.IntakeServiceStub(self.channel)

    async def prepare(self) -> None:
        """Register the organizations and move the campaign into its nomination stage."""
        for org in demo_organizations():
            await self.stub.RegisterOrganization(
                intake_pb2.RegisterOrganizationRequest(**org),
                metadata=call_metadata(ORGANIZER))
        await self.stub.SetCampaignClock(campaign_clock_request(),
                                         metadata=call_metadata(ORGANIZER))

    async def submit(self, hospital: str) -> str:
        nominee = dict(SAMPLE["nominee"], organization_id=hospital, name=f"{hospital} 医院")
        reply = await self.stub.SubmitNomination(intake_pb2.SubmitNominationRequest(
            campaign_id=SAMPLE["campaign_id"], category=SAMPLE["category"],
            nominee=intake_pb2.Nominee(**nominee), fields=flatten(SAMPLE["fields"]),
            nomination_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"test:{hospital}:{self.address}"))),
            metadata=call_metadata(nominator(hospital)))
        return str(reply.nomination_id)

    async def close(self) -> None:
        await self.channel.close()


def topic_event_ids(bootstrap: str, topic: str) -> list[str]:
    """The event id of every record the topic holds, read from its start."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000)
    try:
        return [json.loads(record.value)["event_id"] for record in consumer]
    finally:
        consumer.close()


@dataclass
class ServiceProcess:
    """A service run as operators run it: `python -m laurel.<service>`."""

    service: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    def start(self) -> ServiceProcess:
        self.port = free_port()
        env = {**os.environ, **self.env, "LAUREL_GRPC_PORT": str(self.port)}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"laurel.{self.service}"], env=env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port, timeout=60)
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> float:
        """SIGTERM; the seconds it took to exit."""
        assert self.process is not None
        started = time.monotonic()
        self.process.terminate()
        self.process.wait(timeout=timeout)
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def suffix() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database (LAUREL_TEST_POSTGRES_URL names the server)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = os.environ.get("LAUREL_TEST_POSTGRES_URL", "")
    if not server:
        pytest.skip("PostgreSQL not requested: set LAUREL_TEST_POSTGRES_URL (CI does)")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"laurel_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # unreachable server: fail loudly, never skip
        pytest.fail(f"LAUREL_TEST_POSTGRES_URL={server} is not usable: {error}")
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def until(condition: Callable[[], object], what: str, timeout: float = 60) -> float:
    """Wait for `condition` to hold, checking every 0.1 s; how long it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started
