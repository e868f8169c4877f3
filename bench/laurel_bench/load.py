"""The client side of workloads 4 and 5, run in child processes (`worker`).

Every submission is a real SubmitNomination over gRPC with a development token,
built from the demo's sample nomination. Each goes out for a hospital of its
own (registered first, when intake has RegisterOrganization), so per-hospital
quotas never refuse a benchmark request; refusals are counted, never hidden.

The client runs on the same 2 cores as the services: its CPU time is reported.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from laurel_bench.common import Meter, flatten_fields, load_demo_sample, percentile

ORGANIZER = ("organizer-henan-1", "organizer", "henan-center")
WINDOW = re.compile(r"(\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2})")
RPC_TIMEOUT = 30.0


# -- who submits ---------------------------------------------------------------


@functools.cache
def commissions() -> list[str]:
    """The demo's local health commissions (hospitals register under them).

    Cached: it parses organizations.yaml, and the client must not spend its
    share of the 2 cores on that once per request.
    """
    try:
        from laurel.demo import demo_organizations

        found = [o["organization_id"] for o in demo_organizations()
                 if o["kind"] == "commission"]
        return found or ["zhengzhou"]
    except Exception:
        return ["zhengzhou"]


def hospital(tag: str, index: int) -> dict[str, str]:
    """The benchmark's hospital number `index` of run `tag` (deterministic)."""
    juris = commissions()
    return {"organization_id": f"bench-{tag}-h{index:05d}",
            "name": f"基准测试第{index}医院",
            "jurisdiction_id": juris[index % len(juris)]}


@functools.cache
def metadata_for(actor: tuple[str, str, str]) -> tuple[tuple[str, str], ...]:
    from laurel.auth import call_metadata
    from laurel.envelope import Actor

    return call_metadata(Actor(*actor))


def nomination_id_for(tag: str, index: int) -> str:
    """Submission number `index` of run `tag` (so later stages can name it)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"laurel-bench:{tag}:{index}"))


def nominator_of(org: dict[str, str]) -> tuple[str, str, str]:
    return (f"nominator-{org['organization_id']}", "nominator", org["organization_id"])


class Submissions:
    """SubmitNomination requests from the demo sample, one hospital each."""

    def __init__(self, tag: str, registered: bool) -> None:
        from laurel.intake.v1 import intake_pb2

        self.pb = intake_pb2
        self.tag = tag
        self.registered = registered
        self.sample = load_demo_sample()
        self.fields = flatten_fields(self.sample["fields"])

    def request(self, index: int) -> tuple[Any, tuple[tuple[str, str], ...], str]:
        if self.registered:
            org = hospital(self.tag, index)
        else:  # no organization registry: the sample's own hospital for all
            nominee = self.sample["nominee"]
            org = {"organization_id": nominee["organization_id"], "name": nominee["name"]}
        nomination_id = nomination_id_for(self.tag, index)
        fields = dict(self.fields)
        if "hospital_name" in fields:
            fields["hospital_name"] = org["name"]
        request = self.pb.SubmitNominationRequest(
            campaign_id=self.sample["campaign_id"],
            category=self.sample["category"],
            nominee=self.pb.Nominee(kind=self.sample["nominee"]["kind"], name=org["name"],
                                    organization_id=org["organization_id"]),
            fields=fields,
            nomination_id=nomination_id,
        )
        return request, metadata_for(nominator_of(org)), nomination_id


def _stub(address: str) -> tuple[grpc.aio.Channel, Any]:
    from laurel.intake.v1 import intake_pb2_grpc

    channel = grpc.aio.insecure_channel(address)
    return channel, intake_pb2_grpc.IntakeServiceStub(channel)


def _code(error: grpc.aio.AioRpcError) -> str:
    return error.code().name


# -- preparing a fresh intake ----------------------------------------------------


def prepare(address: str, tag: str, hospitals: int, concurrency: int = 8) -> dict:
    """Register the demo organizations and `hospitals` more; open the campaign.

    Returns what was done and how long it took; `registered` False when intake
    has no organization registry (then every request uses the sample's hospital).
    """
    return asyncio.run(_prepare(address, tag, hospitals, concurrency))


async def _prepare(address: str, tag: str, hospitals: int, concurrency: int) -> dict:
    from laurel.intake.v1 import intake_pb2

    notes: list[str] = []
    channel, stub = _stub(address)
    organizer_md = metadata_for(ORGANIZER)
    registered = hasattr(stub, "RegisterOrganization")
    started = time.perf_counter()
    demo_orgs: list[dict[str, Any]] = []
    if registered:
        try:
            from laurel.demo import demo_organizations

            demo_orgs = demo_organizations()
        except Exception as error:
            notes.append(f"demo organizations unavailable: {error}")

    async def register(org: dict[str, Any]) -> None:
        try:
            await stub.RegisterOrganization(intake_pb2.RegisterOrganizationRequest(**org),
                                            metadata=organizer_md, timeout=RPC_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise

    try:
        for org in demo_orgs:  # parents before children, in order
            await register(org)
        extra = [dict(hospital(tag, i), kind="hospital") for i in range(hospitals)]
        await _bounded([register(org) for org in extra], concurrency)
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.UNIMPLEMENTED:
            raise
        registered = False
        notes.append("intake has no RegisterOrganization: every request names the "
                     "sample's hospital")
    registration_seconds = time.perf_counter() - started

    # One probe; if the campaign's nomination stage is closed at today's date,
    # move the campaign clock into it (a development-only, audited RPC).
    submissions = Submissions(tag, registered)
    request, md, _ = submissions.request(hospitals - 1)
    probe: dict[str, Any] = {}
    for _attempt in range(2):
        try:
            await stub.SubmitNomination(request, metadata=md, timeout=RPC_TIMEOUT)
            probe = {"ok": True}
            break
        except grpc.aio.AioRpcError as error:
            probe = {"ok": False, "code": _code(error), "details": error.details()}
            window = WINDOW.search(error.details() or "")
            if (error.code() != grpc.StatusCode.FAILED_PRECONDITION or not window
                    or not hasattr(stub, "SetCampaignClock")):
                break
            opens = datetime.fromisoformat(window.group(1)).replace(tzinfo=UTC)
            moment = opens + timedelta(days=1, hours=2)
            from google.protobuf.timestamp_pb2 import Timestamp

            now = Timestamp()
            now.FromDatetime(moment)
            await stub.SetCampaignClock(
                intake_pb2.SetCampaignClockRequest(campaign_id=request.campaign_id,
                                                   now=now),
                metadata=organizer_md, timeout=RPC_TIMEOUT)
            notes.append(f"campaign clock of {request.campaign_id} set to "
                         f"{moment:%Y-%m-%d %H:%M} UTC (inside its nomination stage)")
            request, md, _ = submissions.request(hospitals - 2)
    await channel.close()
    return {"registered": registered, "hospitals": hospitals if registered else 0,
            "demo_organizations": len(demo_orgs),
            "registration_seconds": registration_seconds, "probe": probe, "notes": notes}


async def _bounded(coroutines: list[Any], concurrency: int) -> list[Any]:
    semaphore = asyncio.Semaphore(concurrency)

    async def run(coroutine: Any) -> Any:
        async with semaphore:
            return await coroutine

    return await asyncio.gather(*(run(c) for c in coroutines))


# -- throughput and latency ------------------------------------------------------


def saturation(address: str, tag: str, registered: bool, first: int, count: int,
               concurrency: int) -> dict:
    """Closed loop: `concurrency` callers submit `count` nominations back to back."""
    return asyncio.run(_saturation(address, tag, registered, first, count, concurrency))


async def _saturation(address: str, tag: str, registered: bool, first: int, count: int,
                      concurrency: int) -> dict:
    submissions = Submissions(tag, registered)
    requests = [submissions.request(first + i) for i in range(count)]
    # Several comma-separated addresses (replicas): the callers take turns.
    stubs = [_stub(one) for one in address.split(",")]
    for channel, _ in stubs:
        await channel.channel_ready()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    queue = iter(requests)

    async def caller(stub: Any) -> None:
        for request, md, _ in queue:
            began = time.perf_counter()
            try:
                await stub.SubmitNomination(request, metadata=md, timeout=RPC_TIMEOUT)
                latencies.append(time.perf_counter() - began)
            except grpc.aio.AioRpcError as error:
                errors[_code(error)] += 1

    with Meter() as meter:
        await asyncio.gather(*(caller(stubs[i % len(stubs)][1]) for i in range(concurrency)))
    for channel, _ in stubs:
        await channel.close()
    return meter.result(
        rate=len(latencies) / meter.seconds, ok=len(latencies), errors=dict(errors),
        concurrency=concurrency, **_latency_summary(latencies))


def fixed_rate(address: str, tag: str, registered: bool, first: int, count: int,
               rate: float) -> dict:
    """Open loop: one submission every 1/rate s; latency from its scheduled time."""
    return asyncio.run(_fixed_rate(address, tag, registered, first, count, rate))


async def _fixed_rate(address: str, tag: str, registered: bool, first: int, count: int,
                      rate: float) -> dict:
    submissions = Submissions(tag, registered)
    requests = [submissions.request(first + i) for i in range(count)]
    channel, stub = _stub(address)
    await channel.channel_ready()
    latencies: list[float] = []
    errors: Counter[str] = Counter()

    from_schedule: list[float] = []

    async def call(request: Any, md: Any, scheduled: float) -> None:
        sent = time.perf_counter()
        try:
            await stub.SubmitNomination(request, metadata=md, timeout=RPC_TIMEOUT)
            done = time.perf_counter()
            latencies.append(done - sent)
            # also from when it was due, so a backlog would show (coordinated
            # omission); includes the client's own timer lateness (~1 ms)
            from_schedule.append(done - scheduled)
        except grpc.aio.AioRpcError as error:
            errors[_code(error)] += 1

    tasks = []
    with Meter() as meter:
        start = time.perf_counter()
        for i, (request, md, _) in enumerate(requests):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(call(request, md, scheduled)))
        await asyncio.gather(*tasks)
    await channel.close()
    summary = _latency_summary(latencies)
    scheduled = {f"{k}_from_schedule": v
                 for k, v in _latency_summary(from_schedule).items()}
    return meter.result(offered_rate=rate, achieved_rate=len(latencies) / meter.seconds,
                        ok=len(latencies), errors=dict(errors), **summary, **scheduled)


def _latency_summary(latencies: list[float]) -> dict[str, float | None]:
    ordered = sorted(latencies)
    if not ordered:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    return {"p50_ms": percentile(ordered, 50) * 1000, "p95_ms": percentile(ordered, 95) * 1000,
            "p99_ms": percentile(ordered, 99) * 1000, "max_ms": ordered[-1] * 1000}


# -- end to end ------------------------------------------------------------------


def end_to_end(intake: str, notification: str, tag: str, registered: bool, first: int,
               count: int, poll_ms: float = 5.0, timeout: float = 30.0) -> dict:
    """Submission to receipt, one at a time: submit, then poll the nominator's inbox."""
    return asyncio.run(_end_to_end(intake, notification, tag, registered, first, count,
                                   poll_ms, timeout))


async def _end_to_end(intake: str, notification: str, tag: str, registered: bool,
                      first: int, count: int, poll_ms: float, timeout: float) -> dict:
    from laurel.notification.v1 import notification_pb2, notification_pb2_grpc

    submissions = Submissions(tag, registered)
    channel, stub = _stub(intake)
    inbox_channel = grpc.aio.insecure_channel(notification)
    inbox = notification_pb2_grpc.NotificationServiceStub(inbox_channel)
    latencies: list[float] = []
    submit_latencies: list[float] = []
    missing = 0
    with Meter() as meter:
        for i in range(count):
            request, md, nomination_id = submissions.request(first + i)
            began = time.perf_counter()
            await stub.SubmitNomination(request, metadata=md, timeout=RPC_TIMEOUT)
            submit_latencies.append(time.perf_counter() - began)
            deadline = began + timeout
            while True:
                reply = await inbox.ListNotifications(
                    notification_pb2.ListNotificationsRequest(nomination_id=nomination_id),
                    metadata=md, timeout=RPC_TIMEOUT)
                if reply.notifications:
                    latencies.append(time.perf_counter() - began)
                    break
                if time.perf_counter() > deadline:
                    missing += 1
                    break
                await asyncio.sleep(poll_ms / 1000)
    await channel.close()
    await inbox_channel.close()
    submit = _latency_summary(submit_latencies)
    return meter.result(ok=len(latencies), missing=missing, poll_ms=poll_ms,
                        submit_p50_ms=submit["p50_ms"], **_latency_summary(latencies))


def kafka_round_trip(bootstrap: str, count: int, value_bytes: int = 2048) -> dict:
    """The broker's limit for end to end: produce (acks=all), then consume, one by one."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from laurel.broker import ensure_topics
    from laurel.config import KafkaSettings

    settings = KafkaSettings(bootstrap=bootstrap)
    topic = f"bench.roundtrip.{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, [topic])
    producer = KafkaProducer(**{**settings.producer_options(), "linger_ms": 0})
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, fetch_max_wait_ms=5)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    payload = b"x" * value_bytes
    producer.send(topic, payload, partition=0).get(timeout=30)  # warm up both ends
    _poll_one(consumer)
    latencies = []
    with Meter() as meter:
        for _ in range(count):
            began = time.perf_counter()
            producer.send(topic, payload, partition=0).get(timeout=30)
            _poll_one(consumer)
            latencies.append(time.perf_counter() - began)
    producer.close()
    consumer.close()
    return meter.result(ok=len(latencies), value_bytes=value_bytes,
                        **_latency_summary(latencies))


def _poll_one(consumer: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=50, max_records=1)
        if batch:
            return
    raise TimeoutError("the round-trip record never came back")


# -- campaign stages -------------------------------------------------------------

CENTER = "henan-center"


def campaign_stage(address: str, tag: str, registered: bool, stage: str, count: int,
                   concurrency: int) -> dict:
    """One stage of the campaign for nominations 0..count-1 of run `tag`."""
    return asyncio.run(_campaign_stage(address, tag, registered, stage, count,
                                       concurrency))


async def _campaign_stage(address: str, tag: str, registered: bool, stage: str,
                          count: int, concurrency: int) -> dict:
    from laurel.intake.v1 import intake_pb2

    submissions = Submissions(tag, registered)
    channel, stub = _stub(address)
    await channel.channel_ready()
    errors: Counter[str] = Counter()
    first_error: list[str] = []
    latencies: list[float] = []

    def call_for(i: int) -> tuple[Any, Any, Any]:
        nomination_id = nomination_id_for(tag, i)
        commission = hospital(tag, i)["jurisdiction_id"]
        endorser = metadata_for((f"endorser-{commission}", "endorser", commission))
        if stage == "submit":
            request, md, _ = submissions.request(i)
            return stub.SubmitNomination, request, md
        if stage == "endorse":
            return (stub.EndorseNomination, intake_pb2.EndorseNominationRequest(
                nomination_id=nomination_id, opinion="经审核，材料真实完整，同意推荐。"),
                endorser)
        if stage == "forward":
            return (stub.ForwardNomination,
                    intake_pb2.ForwardNominationRequest(nomination_id=nomination_id), endorser)
        if stage == "receive":
            return (stub.ReceiveNomination,
                    intake_pb2.ReceiveNominationRequest(nomination_id=nomination_id),
                    metadata_for(ORGANIZER))
        raise ValueError(f"unknown stage {stage}")

    async def one(i: int) -> None:
        method, request, md = call_for(i)
        began = time.perf_counter()
        try:
            await method(request, metadata=md, timeout=RPC_TIMEOUT)
            latencies.append(time.perf_counter() - began)
        except grpc.aio.AioRpcError as error:
            errors[_code(error)] += 1
            if not first_error:
                first_error.append(f"{_code(error)}: {error.details()}")

    with Meter() as meter:
        await _bounded([one(i) for i in range(count)], concurrency)
    await channel.close()
    return meter.result(stage=stage, ok=len(latencies), errors=dict(errors),
                        first_error=first_error[0] if first_error else "",
                        rate=len(latencies) / meter.seconds, concurrency=concurrency,
                        **_latency_summary(latencies))


def wait_receipts(notification: str, tag: str, registered: bool, count: int,
                  concurrency: int = 16, timeout: float = 300.0) -> dict:
    """Poll each nominator's inbox until every one of `count` receipts shows."""
    return asyncio.run(_wait_receipts(notification, tag, registered, count, concurrency,
                                      timeout))


async def _wait_receipts(notification: str, tag: str, registered: bool, count: int,
                         concurrency: int, timeout: float) -> dict:
    from laurel.notification.v1 import notification_pb2, notification_pb2_grpc

    submissions = Submissions(tag, registered)
    channel = grpc.aio.insecure_channel(notification)
    inbox = notification_pb2_grpc.NotificationServiceStub(channel)
    pending = {nomination_id_for(tag, i): submissions.request(i)[1] for i in range(count)}
    passes = 0
    with Meter() as meter:
        deadline = time.perf_counter() + timeout
        while pending and time.perf_counter() < deadline:
            passes += 1

            async def check(nomination_id: str, md: Any) -> None:
                reply = await inbox.ListNotifications(
                    notification_pb2.ListNotificationsRequest(nomination_id=nomination_id),
                    metadata=md, timeout=RPC_TIMEOUT)
                if reply.notifications:
                    pending.pop(nomination_id, None)

            await _bounded([check(n, md) for n, md in list(pending.items())], concurrency)
            if pending:
                await asyncio.sleep(0.2)
    await channel.close()
    return meter.result(received=count - len(pending), missing=len(pending),
                        passes=passes)


def topic_event_ids(bootstrap: str, topic: str, expected: int,
                    timeout: float = 60.0) -> dict:
    """Every event id on `topic` (the `laurel-event-id` header), read from the
    beginning until `expected` distinct ids were seen and a further poll of a
    second brought nothing (Tansu's end offsets are not to be trusted)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    ids: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=1000)
            for records in batch.values():
                ids += [dict(r.headers).get("laurel-event-id", b"").decode()
                        for r in records]
            if not batch and len(set(ids)) >= expected:
                break
    finally:
        consumer.close()
    return {"records": len(ids), "distinct": len(set(ids)), "expected": expected,
            "duplicates": len(ids) - len(set(ids))}
