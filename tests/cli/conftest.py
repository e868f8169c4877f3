"""A running intake service for the CLI to talk to (in this process, real gRPC)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from laurel.auth import call_metadata
from laurel.config import load_settings
from laurel.demo import ORGANIZER, campaign_clock_request, demo_organizations
from laurel.grpcutil import client_channel
from laurel.intake.bootstrap import build
from laurel.intake.v1 import intake_pb2 as pb
from laurel.intake.v1 import intake_pb2_grpc


@pytest.fixture
async def intake_address(service_env: dict[str, str]) -> AsyncIterator[str]:
    """Intake with the Henan center, Zhengzhou's commission and one of its
    hospitals registered, on henan-2021's nomination-stage clock; stores in
    the test's tmp_path."""
    runtime = await build(load_settings("intake", service_env), with_relay=False)
    await runtime.start()
    channel = client_channel(f"127.0.0.1:{runtime.grpc.port}")
    stub = intake_pb2_grpc.IntakeServiceStub(channel)
    for org in demo_organizations():
        if org["organization_id"] in {"henan-center", "zhengzhou", "zhengzhou-peoples"}:
            await stub.RegisterOrganization(pb.RegisterOrganizationRequest(**org),
                                            metadata=call_metadata(ORGANIZER))
    await stub.SetCampaignClock(campaign_clock_request(), metadata=call_metadata(ORGANIZER))
    yield f"127.0.0.1:{runtime.grpc.port}"
    await channel.close()
    await runtime.stop()


