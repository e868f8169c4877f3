"""Notifications end to end: a real Tansu broker, a real SMTP sink, real gRPC.

Other services' events reach notification over Kafka: from intake itself
where the test drives a nomination's life over gRPC, otherwise published by a
small store and outbox relay of the test's own (the same envelope and relay
the services use), so results and reminders can be sent before the review
service publishes them. One test runs notification as a process and
SIGKILLs it in the middle of an approved batch.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from kafka import KafkaProducer

from laurel.auth import call_metadata
from laurel.broker import free_port
from laurel.config import Settings, load_settings
from laurel.devstack import wait_healthy
from laurel.envelope import Actor, EventMetadata, NewEvent, RecordedEvent
from laurel.eventstore import EventStore, Publication
from laurel.grpcutil import client_channel
from laurel.notification.bootstrap import build as build_notification
from laurel.notification.v1 import notification_pb2 as pb
from laurel.notification.v1 import notification_pb2_grpc
from laurel.outbox import OutboxRelay, message_headers, message_value
from laurel.runtime import ServiceRuntime
from laurel.smtpsink import SmtpSink

T = TypeVar("T")
ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")
NOMINATOR = Actor("nominator-lankao-1", "nominator", "lankao-peoples")
BEIJING = timezone(timedelta(hours=8))
REVIEW_OFFICE = Actor("service:review", "service")


# -- the parts ---------------------------------------------------------------


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(spool=tmp_path / "mail") as started:
        yield started


@pytest.fixture
def env(service_env: dict[str, str], sink: SmtpSink) -> dict[str, str]:
    return {
        **service_env,
        **sink.env("laurel@laurel.test"),
        "LAUREL_EMAIL_BACKOFF_MS": "50",
        "LAUREL_EMAIL_POLL_MS": "50",
        "LAUREL_SMTP_TIMEOUT_MS": "5000",
    }


class Upstream:
    """Stands in for intake/review: its own store, relayed to their topics."""

    def __init__(self, settings: Settings, path: Path) -> None:
        self.settings = settings
        self.store = EventStore(f"sqlite:///{path}")
        self.store.create_schema()
        self.relay = OutboxRelay(self.store, settings.kafka)

    async def publish(
        self,
        topic: str,
        stream: str,
        type_: str,
        payload: dict[str, Any],
        actor: Actor,
    ) -> RecordedEvent:
        [event] = self.store.append(
            stream,
            None,
            [NewEvent(type_, payload)],
            EventMetadata(actor, str(uuid.uuid4())),
            publish=Publication(topic),
        )
        await asyncio.to_thread(self.relay.publish_pending)
        return event

    async def submitted(
        self, nomination_id: str, email: str, nominee: str = "兰考县人民医院"
    ) -> RecordedEvent:
        return await self.publish(
            self.settings.topics.intake,
            f"nomination-{nomination_id}",
            "NominationSubmitted",
            {
                "nomination_id": nomination_id,
                "campaign_id": "henan-2021",
                "category": "ten_measures_benchmark",
                "nominee": {
                    "kind": "hospital",
                    "name": nominee,
                    "organization_id": "lankao-peoples",
                },
                "hospital_id": "lankao-peoples",
                "jurisdiction_id": "lankao",
                "route": {"to": "commission", "organization_id": "lankao"},
                "fields": {"contact.email": email, "contact.name": "李娜"},
            },
            NOMINATOR,
        )

    async def results(self, round_id: str, nomination_ids: list[str]) -> RecordedEvent:
        decisions = [
            {
                "nomination_id": n,
                "outcome": "tier",
                "tier": "first",
                "reason": "",
                "result_version": 1,
            }
            for n in nomination_ids
        ]
        return await self.publish(
            self.settings.topics.review,
            f"review-round-{round_id}",
            "ResultsPublished",
            {
                "round_id": round_id,
                "campaign_id": "henan-2021",
                "category": "ten_measures_benchmark",
                "result_version": 1,
                "decisions": decisions,
            },
            REVIEW_OFFICE,
        )

    async def campaign_clock(self, moment: datetime) -> RecordedEvent:
        """Intake's CampaignClockSet, on intake's topic."""
        return await self.publish(
            self.settings.topics.intake, "campaign-clock-henan-2021",
            "CampaignClockSet", {"campaign_id": "henan-2021", "now": moment.isoformat()},
            ORGANIZER)

    def redeliver(self, event: RecordedEvent, topic: str) -> None:
        """The broker hands the same message over again."""
        producer = KafkaProducer(**self.settings.kafka.producer_options())
        producer.send(
            topic,
            key=event.stream_id.encode(),
            value=message_value(event),
            headers=message_headers(event),
        ).get(timeout=15)
        producer.close()

    def close(self) -> None:
        self.relay.close()
        self.store.close()


@pytest.fixture
def upstream(env: dict[str, str], tmp_path: Path) -> Iterator[Upstream]:
    started = Upstream(load_settings("intake", env), tmp_path / "upstream.sqlite")
    yield started
    started.close()


@dataclass
class Notification:
    """A notification service, in this process or as a child process."""

    address: str
    runtime: ServiceRuntime | None = None
    process: subprocess.Popen[bytes] | None = None
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    def stub(self) -> notification_pb2_grpc.NotificationServiceStub:
        channel = client_channel(self.address)
        self.channels.append(channel)
        return notification_pb2_grpc.NotificationServiceStub(channel)

    async def close_channels(self) -> None:
        for channel in self.channels:
            await channel.close()
        self.channels.clear()


@pytest.fixture
async def notification(env: dict[str, str]) -> AsyncIterator[Notification]:
    runtime = await build_notification(load_settings("notification", env))
    await runtime.start()
    service = Notification(f"127.0.0.1:{runtime.grpc.port}", runtime)
    yield service
    await service.close_channels()
    await runtime.stop()


def spawn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}
    child_env.update(env, LAUREL_GRPC_PORT=str(port))
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "laurel.notification"],
            env=child_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_healthy(f"127.0.0.1:{port}", process, "notification")
    return process


# -- waiting and reading -----------------------------------------------------


async def until(probe: Callable[[], Any], what: str, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what} after {timeout}s")


async def inbox(service: Notification, actor: Actor, nomination_id: str = "") -> list:
    reply = await service.stub().ListNotifications(
        pb.ListNotificationsRequest(nomination_id=nomination_id, page_size=200),
        metadata=call_metadata(actor),
    )
    return list(reply.notifications)


async def deliveries(service: Notification, status: str = "") -> list:
    reply = await service.stub().ListEmailDeliveries(
        pb.ListEmailDeliveriesRequest(status=status, page_size=500),
        metadata=call_metadata(ORGANIZER),
    )
    return list(reply.deliveries)


async def pending(service: Notification) -> list:
    reply = await service.stub().ListPendingBatches(
        pb.ListPendingBatchesRequest(), metadata=call_metadata(ORGANIZER)
    )
    return list(reply.batches)


def copies(sink: SmtpSink) -> Counter[tuple[str, str]]:
    """How often each (recipient, Message-ID) reached the sink."""
    return Counter((to, m.message_id) for m in sink.messages for to in m.rcpt_tos)


# -- the tests ---------------------------------------------------------------


async def test_results_wait_for_approval_and_go_out_once_after_it(
    notification: Notification, upstream: Upstream, sink: SmtpSink, broker_view: Any
) -> None:
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    await upstream.submitted(one, "one@lankao.example.cn")
    await upstream.submitted(two, "two@lankao.example.cn", nominee="兰考县中医院")
    await until(lambda: len(sink.messages) >= 2, "two receipts by e-mail")

    results = await upstream.results("round-1", [one, two])
    [batch] = await until(lambda: pending(notification), "a pending batch")
    review_topic = upstream.settings.topics.review
    await broker_view.until_consumed(upstream.settings.kafka, review_topic, "notification")
    # Whatever an event makes notification send is queued in the transaction
    # that applies it: the two receipts are all there is to send.
    assert len(await deliveries(notification)) == 2

    assert (batch.kind, batch.size, list(batch.recipient_ids)) == (
        "results",
        2,
        [NOMINATOR.id],
    )
    assert [n.kind for n in await inbox(notification, NOMINATOR)] == ["receipt"] * 2
    assert len(sink.messages) == 2
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await notification.stub().ApproveNotificationBatch(
            pb.ApproveNotificationBatchRequest(batch_id=batch.batch_id),
            metadata=call_metadata(NOMINATOR),
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # Results go out in henan-2021's forums and awards (2022-01, Asia/Shanghai),
    # on the campaign clock intake announces: refused the second before it.
    intake_topic = upstream.settings.topics.intake
    await upstream.campaign_clock(datetime(2021, 12, 31, 23, 59, 59, tzinfo=BEIJING))
    await broker_view.until_consumed(upstream.settings.kafka, intake_topic, "notification")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await notification.stub().ApproveNotificationBatch(
            pb.ApproveNotificationBatchRequest(batch_id=batch.batch_id),
            metadata=call_metadata(ORGANIZER),
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "2022-01-01 to 2022-01-31" in (refused.value.details() or "")
    await upstream.campaign_clock(datetime(2022, 1, 1, 0, 0, tzinfo=BEIJING))
    await broker_view.until_consumed(upstream.settings.kafka, intake_topic, "notification")
    approved = await notification.stub().ApproveNotificationBatch(
        pb.ApproveNotificationBatchRequest(batch_id=batch.batch_id),
        metadata=call_metadata(ORGANIZER),
    )
    await until(lambda: len(sink.messages) >= 4, "the two results by e-mail")
    again = await notification.stub().ApproveNotificationBatch(
        pb.ApproveNotificationBatchRequest(batch_id=batch.batch_id),
        metadata=call_metadata(ORGANIZER),
    )
    upstream.redeliver(results, review_topic)
    await broker_view.until_consumed(upstream.settings.kafka, review_topic, "notification")

    assert len(await deliveries(notification)) == 4
    assert (approved.released, approved.batch.status) == (2, "approved")
    assert (again.released, again.already_approved) == (0, True)
    assert await pending(notification) == []
    entries = await inbox(notification, NOMINATOR)
    assert sorted(n.kind for n in entries) == [
        "receipt",
        "receipt",
        "results",
        "results",
    ]
    [result_one] = [
        n for n in entries if n.kind == "results" and n.nomination_id == one
    ]
    assert "获一等奖" in result_one.body and result_one.batch_id == batch.batch_id
    assert len(sink.messages) == 4 and max(copies(sink).values()) == 1
    assert {
        m.rcpt_tos[0] for m in sink.messages if m.subject.startswith("评选结果")
    } == {"one@lankao.example.cn", "two@lankao.example.cn"}


async def test_a_relay_refusing_two_tries_still_yields_exactly_one_email(
    notification: Notification, upstream: Upstream, sink: SmtpSink, broker_view: Any
) -> None:
    sink.refuse_next(2)
    nomination_id = str(uuid.uuid4())
    submitted = await upstream.submitted(nomination_id, "office@lankao.example.cn")

    [delivered] = await until(
        lambda: deliveries(notification, "delivered"), "a delivered e-mail"
    )
    intake_topic = upstream.settings.topics.intake
    upstream.redeliver(submitted, intake_topic)
    await broker_view.until_consumed(upstream.settings.kafka, intake_topic, "notification")

    assert len(await deliveries(notification)) == 1
    assert sink.refusals_sent == 2
    [message] = sink.messages
    assert message.rcpt_tos == ("office@lankao.example.cn",)
    assert message.message_id == f"<{delivered.notification_id}@laurel.test>"
    assert delivered.attempts == 3 and delivered.to_masked == "o****e@l***.cn"
    assert runtime_store_types(notification, delivered.notification_id) == [
        "EmailQueued",
        "EmailSendStarted",
        "EmailDeliveryFailed",
        "EmailSendStarted",
        "EmailDeliveryFailed",
        "EmailSendStarted",
        "EmailDelivered",
    ]
    assert len(await inbox(notification, NOMINATOR, nomination_id)) == 1


def runtime_store_types(service: Notification, notification_id: str) -> list[str]:
    assert service.runtime is not None
    return [
        e.type for e in service.runtime.store.read_stream(f"email-{notification_id}")
    ]


async def test_watching_an_inbox_streams_new_entries_as_they_arrive(
    notification: Notification, upstream: Upstream
) -> None:
    stream = notification.stub().WatchNotifications(
        pb.WatchNotificationsRequest(), metadata=call_metadata(NOMINATOR)
    )
    first = asyncio.ensure_future(stream.read())
    await asyncio.sleep(0.5)  # the watch is open before anything happens
    nomination_id = str(uuid.uuid4())
    await upstream.submitted(nomination_id, "office@lankao.example.cn")

    entry = await asyncio.wait_for(first, 45)
    stream.cancel()
    resumed = notification.stub().WatchNotifications(
        pb.WatchNotificationsRequest(after_cursor="0"),
        metadata=call_metadata(NOMINATOR),
    )
    replayed = await asyncio.wait_for(resumed.read(), 10)
    resumed.cancel()
    foreign = notification.stub().WatchNotifications(
        pb.WatchNotificationsRequest(recipient_id="nominator-elsewhere"),
        metadata=call_metadata(NOMINATOR),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await asyncio.wait_for(foreign.read(), 10)

    assert (entry.kind, entry.nomination_id) == ("receipt", nomination_id)
    assert entry.cursor and replayed.notification_id == entry.notification_id
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.slow
async def test_killing_the_service_mid_batch_and_restarting_it_sends_nothing_twice(
    env: dict[str, str], upstream: Upstream, sink: SmtpSink, tmp_path: Path,
    broker_view: Any,
) -> None:
    port = free_port()
    log = tmp_path / "notification.log"
    service = Notification(f"127.0.0.1:{port}", process=spawn(env, port, log))
    try:
        nominations = [str(uuid.uuid4()) for _ in range(10)]
        for number, nid in enumerate(nominations):
            await upstream.submitted(nid, f"contact{number}@hospital.example.cn")
        await until(lambda: len(sink.messages) >= 10, "ten receipts by e-mail")
        await upstream.results("round-kill", nominations)
        [batch] = await until(lambda: pending(service), "the results batch")
        # henan-2021's forums and awards: results may go out
        await upstream.campaign_clock(datetime(2022, 1, 10, 9, 0, tzinfo=BEIJING))
        await broker_view.until_consumed(upstream.settings.kafka,
                                         upstream.settings.topics.intake, "notification")

        sink.hold_reply_s = 0.4  # the sink keeps each message, then answers late
        await service.stub().ApproveNotificationBatch(
            pb.ApproveNotificationBatchRequest(batch_id=batch.batch_id),
            metadata=call_metadata(ORGANIZER),
        )
        await until(lambda: len(sink.messages) >= 13, "a few results sent")
        await asyncio.sleep(0.2)  # most likely inside a send the sink has not answered
        service.process.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        service.process.wait(10)  # type: ignore[union-attr]
        await service.close_channels()
        sent_before_restart = len(sink.messages)
        sink.hold_reply_s = 0.0

        service.process = spawn(env, port, log)
        final = ("delivered", "uncertain", "dead_lettered")
        rows = await until(
            lambda: _all_final(service, 20, final), "every e-mail settled"
        )
    finally:
        await service.close_channels()
        if service.process is not None and service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
            service.process.wait(15)

    assert max(copies(sink).values()) == 1, "someone got a second copy"
    by_status = Counter(r.status for r in rows)
    assert by_status["dead_lettered"] == 0 and by_status["uncertain"] <= 1
    in_sink = {m.message_id for m in sink.messages}
    for row in rows:
        if row.status == "delivered":
            assert row.message_id in in_sink
    assert len(sink.messages) >= sent_before_restart
    assert len([m for m in sink.messages if m.subject.startswith("评选结果")]) in (
        9,
        10,
    )


async def _all_final(service: Notification, count: int, final: tuple[str, ...]) -> list:
    try:
        rows = await deliveries(service)
    except grpc.aio.AioRpcError:
        return []
    if len(rows) == count and all(r.status in final for r in rows):
        return rows
    return []


async def test_a_nominations_life_over_kafka_produces_its_emails_and_inbox(
    notification: Notification, upstream: Upstream, sink: SmtpSink
) -> None:
    """Intake's events as intake publishes them; the contact e-mail changes on
    resubmission and the later e-mails follow it."""
    nid = str(uuid.uuid4())
    endorser = Actor("endorser-lankao-1", "endorser", "lankao")
    topic, stream = upstream.settings.topics.intake, f"nomination-{nid}"
    await upstream.submitted(nid, "office@lankao.example.cn")
    await upstream.publish(
        topic,
        stream,
        "NominationReturned",
        {
            "nomination_id": nid,
            "commission_id": "lankao",
            "reasons": ["医院意见缺少公章", "联系人邮箱有误"],
        },
        endorser,
    )
    await upstream.publish(
        topic,
        stream,
        "NominationResubmitted",
        {
            "nomination_id": nid,
            "changes": {
                "contact.email": {
                    "before": "office@lankao.example.cn",
                    "after": "yiwu@lankao.example.cn",
                }
            },
        },
        NOMINATOR,
    )
    await upstream.publish(
        topic,
        stream,
        "NominationEndorsed",
        {"nomination_id": nid, "commission_id": "lankao", "opinion": "同意推荐"},
        endorser,
    )
    await upstream.publish(
        topic,
        stream,
        "NominationMarkedIneligible",
        {
            "nomination_id": nid,
            "rule": "no_penalty_within_years",
            "reason": "2020 年有行政处罚记录",
            "caused_by": "verdict-1",
        },
        REVIEW_OFFICE,
    )

    entries = await until(lambda: _inbox_with(notification, nid, 5), "five entries")
    await until(lambda: len(sink.messages) >= 5, "five e-mails")

    assert [n.kind for n in reversed(entries)] == [
        "receipt",
        "returned",
        "receipt",
        "endorsed",
        "eligibility",
    ]
    assert all(n.language == "zh-CN" and n.template_version >= 1 for n in entries)
    [returned] = [n for n in entries if n.kind == "returned"]
    assert "· 医院意见缺少公章\n· 联系人邮箱有误" in returned.body
    to = [m.rcpt_tos[0] for m in sorted(sink.messages, key=lambda m: m.received_at)]
    assert to == ["office@lankao.example.cn"] * 2 + ["yiwu@lankao.example.cn"] * 3
    assert max(copies(sink).values()) == 1


async def test_a_nominations_life_through_intake_produces_its_emails_and_inbox(
    env: dict[str, str], notification: Notification, sink: SmtpSink
) -> None:
    from laurel.client import flatten
    from laurel.demo import campaign_clock_request, demo_organizations, load_sample
    from laurel.intake.bootstrap import build as build_intake
    from laurel.intake.v1 import intake_pb2, intake_pb2_grpc

    intake = await build_intake(load_settings("intake", env))
    await intake.start()
    channel = client_channel(f"127.0.0.1:{intake.grpc.port}")
    stub = intake_pb2_grpc.IntakeServiceStub(channel)
    endorser = Actor("endorser-lankao-1", "endorser", "lankao")
    try:
        for org in demo_organizations():
            if org["organization_id"] in {"henan-center", "lankao", "lankao-peoples"}:
                await stub.RegisterOrganization(
                    intake_pb2.RegisterOrganizationRequest(**org), metadata=call_metadata(ORGANIZER)
                )
        # henan-2021 took nominations in late 2021: move its (recorded) clock there
        await stub.SetCampaignClock(
            campaign_clock_request(), metadata=call_metadata(ORGANIZER)
        )
        sample = load_sample("henan-2021-ten-measures.yaml")
        fields = flatten(sample["fields"])
        fields.update(
            {
                "hospital_name": "兰考县人民医院",
                "contact.email": "office@lankao.example.cn",
            }
        )
        for item in range(1, 11):  # the rubric's ten items, unless the sample has them
            fields.setdefault(f"self_assessment.m{item:02d}.points", "95")
            fields.setdefault(f"self_assessment.m{item:02d}.evidence", "见附件")
        reply = await stub.SubmitNomination(
            intake_pb2.SubmitNominationRequest(
                campaign_id=sample["campaign_id"],
                category=sample["category"],
                nominee=intake_pb2.Nominee(
                    kind="hospital",
                    name="兰考县人民医院",
                    organization_id="lankao-peoples",
                ),
                fields=fields,
            ),
            metadata=call_metadata(NOMINATOR),
        )
        nid = reply.nomination_id
        await stub.ReturnNomination(
            intake_pb2.ReturnNominationRequest(
                nomination_id=nid, reasons=["医院意见缺少公章"]
            ),
            metadata=call_metadata(endorser),
        )
        await stub.ResubmitNomination(
            intake_pb2.ResubmitNominationRequest(
                nomination_id=nid,
                fields={"hospital_opinion.seal": "兰考县人民医院（公章）"},
            ),
            metadata=call_metadata(NOMINATOR),
        )
        await stub.EndorseNomination(
            intake_pb2.EndorseNominationRequest(nomination_id=nid, opinion="同意推荐"),
            metadata=call_metadata(endorser),
        )

        entries = await until(
            lambda: _inbox_with(notification, nid, 4), "four inbox entries"
        )
        await until(lambda: len(sink.messages) >= 4, "four e-mails")
    finally:
        await channel.close()
        await intake.stop()

    assert sorted(n.kind for n in entries) == [
        "endorsed",
        "receipt",
        "receipt",
        "returned",
    ]
    [returned] = [n for n in entries if n.kind == "returned"]
    assert "医院意见缺少公章" in returned.body
    assert {m.rcpt_tos for m in sink.messages} == {("office@lankao.example.cn",)}
    assert len(copies(sink)) == 4 and max(copies(sink).values()) == 1


async def _inbox_with(service: Notification, nid: str, count: int) -> list:
    entries = await inbox(service, NOMINATOR, nid)
    return entries if len(entries) >= count else []
