"""What the end-to-end tests share: a look at the broker from outside.

A "nothing happened twice" check must first wait until the thing had its
chance to happen. For a consumer that chance is over once its group has
committed offsets past the message: a subscriber commits only after its
handler returned, and the handler's effects commit before that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc
import pytest
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient

from laurel.auth import call_metadata
from laurel.config import KafkaSettings, load_settings
from laurel.demo import ORGANIZER, campaign_clock_request, demo_organizations
from laurel.envelope import Actor, RecordedEvent
from laurel.grpcutil import client_channel
from laurel.intake.bootstrap import build
from laurel.intake.v1 import intake_pb2, intake_pb2_grpc
from laurel.runtime import ServiceRuntime


class BrokerView:
    @staticmethod
    def keys(kafka: KafkaSettings, topic: str) -> list[str]:
        """The key of every record on `topic`, from the start.

        Read rather than asked for end offsets: Tansu reports wrong ones."""
        consumer = KafkaConsumer(
            topic, bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest",
            consumer_timeout_ms=3000, group_id=None,
        )
        try:
            return [record.key.decode() for record in consumer]
        finally:
            consumer.close()

    @classmethod
    async def until_consumed(cls, kafka: KafkaSettings, topic: str, consumer: str,
                             records: int | None = None, timeout: float = 30.0) -> None:
        """Wait until `consumer`'s group committed offsets covering `records`
        messages of `topic` (default: every record on it now)."""
        if records is None:
            records = len(await asyncio.to_thread(cls.keys, kafka, topic))
        group = kafka.consumer_options(consumer)["group_id"]
        admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                reply = await asyncio.to_thread(admin.list_group_offsets, group)
                offsets = reply.get(group, {})
                if sum(o.offset for tp, o in offsets.items() if tp.topic == topic) >= records:
                    return
                await asyncio.sleep(0.2)
            raise AssertionError(f"group {group} did not commit past {records} records "
                                 f"of {topic} within {timeout}s")
        finally:
            admin.close()


@pytest.fixture
def broker_view() -> type[BrokerView]:
    return BrokerView


# -- intake over real gRPC, for the campaign tests (issue 16) ------------------------


@dataclass
class IntakeApi:
    """A running intake (real SQLite store, outbox relay to the real broker)
    and a stub on its real socket; each call carries the actor's own token."""

    runtime: ServiceRuntime
    stub: intake_pb2_grpc.IntakeServiceStub
    topic: str

    async def call(self, method: str, request: Any, actor: Actor) -> Any:
        return await getattr(self.stub, method)(request, metadata=call_metadata(actor))

    async def refused(self, method: str, request: Any, actor: Actor
                      ) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await self.call(method, request, actor)
        return caught.value

    async def register(self, *organizations: dict[str, Any]) -> None:
        for org in organizations:
            await self.call("RegisterOrganization",
                            intake_pb2.RegisterOrganizationRequest(**org), ORGANIZER)

    async def register_demo(self, *ids: str) -> None:
        """Organizations of the demo's Henan tree, by id (parents first)."""
        await self.register(*[o for o in demo_organizations() if o["organization_id"] in ids])

    async def set_clock(self, campaign_id: str, now: datetime,
                        actor: Actor = ORGANIZER) -> None:
        await self.call("SetCampaignClock", campaign_clock_request(campaign_id, now), actor)

    def stream(self, stream_id: str) -> list[RecordedEvent]:
        return self.runtime.store.read_stream(stream_id)

    def last_position(self) -> int:
        return self.runtime.store.last_position()


@pytest.fixture
async def intake_api(service_env: dict[str, str]) -> AsyncIterator[IntakeApi]:
    """Intake with nothing registered and no campaign clock set."""
    settings = load_settings("intake", service_env)
    runtime = await build(settings)
    await runtime.start()
    channel = client_channel(f"127.0.0.1:{runtime.grpc.port}")
    yield IntakeApi(runtime, intake_pb2_grpc.IntakeServiceStub(channel),
                    settings.topics.intake)
    await channel.close()
    await runtime.stop()
