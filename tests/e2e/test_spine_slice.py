"""The spine's thin slice across every boundary, with real parts only.

A nomination submitted over gRPC (real sockets) to intake becomes stored
events (a real SQLite file), reaches Kafka through the outbox (a real Tansu
broker), is consumed by notification, and comes back as a receipt over gRPC.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from opentelemetry.trace import SpanKind

from laurel.auth import call_metadata
from laurel.client import flatten
from laurel.config import Settings, load_settings
from laurel.demo import ORGANIZER, campaign_clock_request, demo_organizations, load_sample
from laurel.envelope import Actor
from laurel.grpcutil import client_channel, violations_of
from laurel.intake.bootstrap import build as build_intake
from laurel.intake.v1 import intake_pb2, intake_pb2_grpc
from laurel.notification.bootstrap import build as build_notification
from laurel.notification.v1 import notification_pb2, notification_pb2_grpc
from laurel.outbox import OutboxRelay
from laurel.runtime import ServiceRuntime

SUBMIT_METHOD = "/laurel.intake.v1.IntakeService/SubmitNomination"


@dataclass
class Suite:
    intake: ServiceRuntime
    notification: ServiceRuntime
    settings: Settings
    nominator: Actor
    channels: list[grpc.aio.Channel]

    def intake_stub(self) -> intake_pb2_grpc.IntakeServiceStub:
        return intake_pb2_grpc.IntakeServiceStub(self._channel(self.intake))

    def inbox_stub(self) -> notification_pb2_grpc.NotificationServiceStub:
        return notification_pb2_grpc.NotificationServiceStub(self._channel(self.notification))

    def _channel(self, runtime: ServiceRuntime) -> grpc.aio.Channel:
        channel = client_channel(f"127.0.0.1:{runtime.grpc.port}")
        self.channels.append(channel)
        return channel

    def md(self, actor: Actor | None = None) -> tuple[tuple[str, str], ...]:
        return call_metadata(actor or self.nominator)


async def start_suite(service_env: dict[str, str], *, intake_relay: bool = True) -> Suite:
    intake = await build_intake(load_settings("intake", service_env), with_relay=intake_relay)
    notification = await build_notification(load_settings("notification", service_env))
    await notification.start()
    await intake.start()
    sample = load_sample("henan-2021-ten-measures.yaml")
    suite = Suite(intake, notification, load_settings("intake", service_env),
                  Actor(**sample["submitted_by"]), [])
    await register(suite, {"henan-center", sample["nominee"]["organization_id"]})
    await suite.intake_stub().SetCampaignClock(campaign_clock_request(),
                                               metadata=suite.md(ORGANIZER))
    return suite


async def register(suite: Suite, organization_ids: set[str]) -> None:
    """The organizer registers the organizations a test needs, over gRPC."""
    stub = suite.intake_stub()
    for org in demo_organizations():
        if org["organization_id"] in organization_ids:
            await stub.RegisterOrganization(intake_pb2.RegisterOrganizationRequest(**org),
                                            metadata=suite.md(ORGANIZER))


async def stop_suite(suite: Suite) -> None:
    for channel in suite.channels:
        await channel.close()
    await suite.intake.stop()
    await suite.notification.stop()


@pytest.fixture
async def suite(service_env: dict[str, str]) -> AsyncIterator[Suite]:
    started = await start_suite(service_env)
    yield started
    await stop_suite(started)


def submission(nomination_id: str = "", **changes: object) -> intake_pb2.SubmitNominationRequest:
    sample = load_sample("henan-2021-ten-measures.yaml")
    sample.update(changes)
    nominee = sample["nominee"]
    return intake_pb2.SubmitNominationRequest(
        campaign_id=sample["campaign_id"],
        category=sample["category"],
        nominee=intake_pb2.Nominee(**nominee),
        fields=flatten(sample["fields"]),
        nomination_id=nomination_id,
    )


async def receipts(suite: Suite, nomination_id: str, timeout: float = 30.0) -> list:
    """Wait for the receipt to show in the nominator's inbox over gRPC."""
    stub = suite.inbox_stub()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = await stub.ListNotifications(
            notification_pb2.ListNotificationsRequest(nomination_id=nomination_id),
            metadata=suite.md(),
        )
        if reply.notifications:
            return list(reply.notifications)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no receipt for {nomination_id} within {timeout}s")


async def test_submitted_nomination_is_folded_and_acknowledged(suite: Suite) -> None:
    stub = suite.intake_stub()
    reply = await stub.SubmitNomination(submission(), metadata=suite.md())

    nomination = await stub.GetNomination(
        intake_pb2.GetNominationRequest(nomination_id=reply.nomination_id),
        metadata=suite.md(),
    )
    [receipt] = await receipts(suite, reply.nomination_id)

    assert (nomination.status, nomination.version) == ("submitted", 1)
    assert nomination.submitted_by == suite.nominator.id
    assert nomination.fields == submission().fields
    assert receipt.kind == "receipt" and receipt.recipient_id == suite.nominator.id
    assert nomination.nominee.name in receipt.title
    [stored] = suite.intake.store.read_stream(f"nomination-{reply.nomination_id}")
    assert stored.metadata["actor"]["id"] == suite.nominator.id
    assert stored.metadata["actor"]["role"] == "nominator"


async def test_relay_killed_between_commit_and_publish_still_delivers_once(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, broker_view: Any
) -> None:
    suite = await start_suite(service_env, intake_relay=False)
    try:
        store = suite.intake.store
        reply = await suite.intake_stub().SubmitNomination(submission(), metadata=suite.md())
        assert _pending_keys(store) == {reply.nomination_id} | CAMPAIGN_KEYS
        pending = len(store.unpublished())  # the definitions, the clock, the submission

        # A relay that dies after the broker took the batch, before marking it sent.
        dying = OutboxRelay(store, suite.settings.kafka)
        with monkeypatch.context() as patch:
            patch.setattr(store, "mark_published", _killed)
            with pytest.raises(RuntimeError, match="relay killed"):
                await asyncio.to_thread(dying.publish_pending)
        dying.close()
        assert reply.nomination_id in _pending_keys(store)

        restarted = OutboxRelay(store, suite.settings.kafka)
        assert await asyncio.to_thread(restarted.publish_pending) == pending
        restarted.close()
        assert store.pending_outbox_count() == 0

        [receipt] = await receipts(suite, reply.nomination_id)
        topic = suite.settings.topics.intake
        kafka = suite.settings.kafka
        keys = broker_view.keys(kafka, topic)
        assert keys.count(reply.nomination_id) == 2  # the broker got it twice
        await broker_view.until_consumed(kafka, topic, "notification", records=len(keys))
        notification_events = [e for e in suite.notification.store.read_all()
                               if e.type == "SubmissionReceiptIssued"]
        assert len(notification_events) == 1
        assert len(await receipts(suite, reply.nomination_id)) == 1
        assert receipt.source_event_id == notification_events[0].payload["source_event_id"]
    finally:
        await stop_suite(suite)


CAMPAIGN_KEYS = {"henan-2021", "innovation-year"}


def _pending_keys(store) -> set[str]:  # noqa: ANN001
    return {entry.key for entry in store.unpublished()}


def _killed(positions: object) -> None:
    raise RuntimeError("relay killed before marking the batch published")


async def test_one_trace_spans_grpc_append_publish_and_consume(
    suite: Suite, span_exporter
) -> None:
    span_exporter.clear()
    reply = await suite.intake_stub().SubmitNomination(submission(), metadata=suite.md())
    await receipts(suite, reply.nomination_id)
    await asyncio.sleep(0.2)  # the consumer span ends after the handler returns

    spans = span_exporter.get_finished_spans()
    [server] = [s for s in spans if s.name == SUBMIT_METHOD and s.kind == SpanKind.SERVER]
    same_trace = [s for s in spans if s.context.trace_id == server.context.trace_id]
    names_and_kinds = {(s.name, s.kind) for s in same_trace}
    topic = suite.settings.topics.intake

    assert ("eventstore.unit_of_work", SpanKind.INTERNAL) in names_and_kinds
    assert (f"{topic} publish", SpanKind.PRODUCER) in names_and_kinds
    assert any(kind == SpanKind.CONSUMER and topic in name for name, kind in names_and_kinds)
    # the receipt's own append happens inside the consumer span, in the same trace
    appends = [s for s in same_trace if s.name == "eventstore.unit_of_work"
               and (s.attributes or {}).get("laurel.events_appended")]
    assert len(appends) == 2


async def test_unknown_campaign_is_not_found_and_nothing_is_stored(suite: Suite) -> None:
    before = suite.intake.store.last_position()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await suite.intake_stub().SubmitNomination(
            submission(campaign_id="henan-2099"), metadata=suite.md()
        )

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "henan-2099" in raised.value.details()
    assert [f for f, _ in violations_of(raised.value)] == ["campaign_id"]
    assert suite.intake.store.last_position() == before


async def test_missing_field_is_invalid_argument_with_field_violations(suite: Suite) -> None:
    request = submission()
    required = next(k for k in request.fields if k.startswith("president."))
    del request.fields[required]
    request.fields["president.mobile"] = "12345"
    before = suite.intake.store.last_position()

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await suite.intake_stub().SubmitNomination(request, metadata=suite.md())

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [f for f, _ in violations_of(raised.value)]
    assert f"fields[{required}]" in fields and "fields[president.mobile]" in fields
    assert suite.intake.store.last_position() == before


async def test_resubmitting_the_same_nomination_id_is_already_exists(suite: Suite) -> None:
    nomination_id = str(uuid.uuid4())
    stub = suite.intake_stub()
    await stub.SubmitNomination(submission(nomination_id), metadata=suite.md())
    before = suite.intake.store.last_position()

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.SubmitNomination(submission(nomination_id), metadata=suite.md())

    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert suite.intake.store.last_position() == before


async def test_a_call_without_a_token_is_unauthenticated(suite: Suite) -> None:
    before = suite.intake.store.last_position()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await suite.intake_stub().SubmitNomination(submission())

    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert suite.intake.store.last_position() == before
