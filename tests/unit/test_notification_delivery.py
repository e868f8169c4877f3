"""E-mail delivery: the backoff schedule, the state machine, and the worker
against a real SMTP sink and a real SQLite store (no broker needed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from laurel.broker import free_port
from laurel.envelope import Actor, EventMetadata, NewEvent, RecordedEvent, utcnow
from laurel.eventstore import EventStore
from laurel.notification import delivery, domain
from laurel.notification.config import SmtpSettings
from laurel.notification.delivery import Outcome, RetryPolicy
from laurel.notification.projection import DeliveryProjection
from laurel.notification.smtp import SmtpTransport, build_message
from laurel.notification.worker import DeliveryWorker
from laurel.smtpsink import SmtpSink

NOW = datetime(2021, 11, 25, 2, 30, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, base_ms=500, cap_ms=60_000)
FAST = RetryPolicy(max_attempts=3, base_ms=0, cap_ms=0)
MAILING = domain.Policy(frozenset(), True, "laurel.test")


# -- backoff -----------------------------------------------------------------


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=6, base_ms=500, cap_ms=5_000)

    assert delivery.schedule(policy) == [
        timedelta(milliseconds=ms) for ms in (500, 1000, 2000, 4000, 5000)
    ]


def test_the_default_schedule_waits_about_seven_seconds_over_five_tries() -> None:
    waits = delivery.schedule(RetryPolicy())

    assert len(waits) == 4 and sum(waits, timedelta()) == timedelta(seconds=7.5)


# -- the state machine -------------------------------------------------------


def recorded(events: list[NewEvent], start_version: int = 0) -> list[RecordedEvent]:
    return [
        RecordedEvent(
            position=i,
            event_id=e.event_id,
            stream_id="email-x",
            version=start_version + i,
            type=e.type,
            schema_version=1,
            payload=e.payload,
            metadata={},
            recorded_at="2021-11-25T02:30:00.000000Z",
            prev_hash="",
            hash="",
        )
        for i, e in enumerate(events, 1)
    ]


def queued_email() -> delivery.Email:
    payload = {
        "notification_id": "x",
        "message_id": "<x@laurel.test>",
        "to": "a@example.cn",
        "subject": "s",
        "body": "b",
        "kind": "receipt",
        "recipient_id": "r",
        "nomination_id": "n",
        "template": {},
    }
    email = delivery.fold(recorded([NewEvent(domain.EMAIL_QUEUED, payload)]))
    assert email is not None
    return email


def attempt(email: delivery.Email, outcome: Outcome) -> tuple[delivery.Email, list]:
    events = [
        *delivery.start(email, NOW),
        *delivery.conclude(_started(email), outcome, NOW, POLICY),
    ]
    after = email
    for e in recorded(events, email.version):
        after = delivery.apply(after, e) or after
    return after, [e.type for e in events]


def _started(email: delivery.Email) -> delivery.Email:
    return delivery.Email(
        **{**email.__dict__, "status": delivery.SENDING, "attempts": email.attempts + 1}
    )


def test_a_transient_refusal_schedules_the_next_try_after_the_backoff() -> None:
    after, types = attempt(queued_email(), Outcome(False, error="451", code=451))

    assert types == [delivery.SEND_STARTED, delivery.DELIVERY_FAILED]
    assert after.status == delivery.RETRYING and after.attempts == 1
    assert after.next_attempt_at == "2021-11-25T02:30:00.500000Z"
    assert not delivery.is_due(after, NOW)
    assert delivery.is_due(after, NOW + timedelta(seconds=1))


def test_the_last_failed_try_dead_letters_the_email() -> None:
    email = queued_email()
    for _ in range(POLICY.max_attempts):
        email, types = attempt(email, Outcome(False, error="451", code=451))
        email = delivery.Email(**{**email.__dict__, "next_attempt_at": ""})

    assert types[-1] == delivery.DEAD_LETTERED and email.status == delivery.DEAD


def test_a_permanent_refusal_dead_letters_at_once() -> None:
    after, types = attempt(queued_email(), Outcome(False, error="550", code=550))

    assert types[-1] == delivery.DEAD_LETTERED and after.attempts == 1


def test_no_answer_after_the_data_is_uncertain_and_never_retried() -> None:
    after, types = attempt(
        queued_email(), Outcome(False, error="timeout", ambiguous=True)
    )

    assert types[-1] == delivery.DELIVERY_UNCERTAIN
    assert after.status == delivery.UNCERTAIN and not delivery.is_due(after, NOW)


def test_a_send_is_orphaned_when_its_worker_restarted_or_it_is_stale() -> None:
    stale_after = timedelta(seconds=65)
    [started] = recorded(delivery.start(queued_email(), NOW, "pod-a"), 1)
    sending = delivery.apply(queued_email(), started)
    assert sending is not None and sending.started_by == "pod-a"
    sent_at = started.recorded_at_time

    assert delivery.orphaned(queued_email(), NOW, stale_after, "pod-a") == []
    [mine] = delivery.orphaned(sending, sent_at, stale_after, dead_worker="pod-a")
    assert mine.type == delivery.DELIVERY_UNCERTAIN
    assert delivery.orphaned(sending, sent_at, stale_after, dead_worker="pod-b") == []
    later = sent_at + stale_after
    [stale] = delivery.orphaned(sending, later, stale_after, dead_worker="pod-b")
    assert stale.type == delivery.DELIVERY_UNCERTAIN


# -- the worker with a real SMTP sink ----------------------------------------


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as started:
        yield started


@pytest.fixture
def store(database_url: str) -> Iterator[EventStore]:
    opened = EventStore(database_url, projections=[DeliveryProjection()])
    opened.create_schema()
    yield opened
    opened.close()


def worker_for(
    store: EventStore,
    port: int,
    policy: RetryPolicy = FAST,
    timeout_s: float = 5.0,
    name: str = "pod-a",
) -> DeliveryWorker:
    transport = SmtpTransport(
        SmtpSettings(port=port, sender="laurel@laurel.test", timeout_s=timeout_s)
    )
    return DeliveryWorker(
        store, store.projections[0], transport, policy, "topic", name=name
    )


def queue(
    store: EventStore, notification_id: str = "n-1", to: str = "a@example.cn"
) -> str:
    payload = {
        "notification_id": notification_id,
        "recipient_id": "r",
        "kind": "receipt",
        "nomination_id": "nom",
        "title": "标题",
        "body": "正文",
        "template": {"kind": "receipt", "language": "zh-CN", "version": 2},
    }
    [_, mail] = domain.issue(payload, to, "nom", MAILING)
    store.append(
        mail.stream_id, 0, mail.events, EventMetadata(Actor("t", "service"), "c")
    )
    return notification_id


def types_in(store: EventStore, notification_id: str) -> list[str]:
    return [e.type for e in store.read_stream(domain.email_stream(notification_id))]


async def drain(worker: DeliveryWorker, passes: int = 10) -> None:
    for _ in range(passes):
        if await worker.deliver_due() == 0:
            return


async def test_two_refusals_then_one_delivered_copy(store, sink) -> None:
    nid = queue(store)
    sink.refuse_next(2)

    await drain(worker_for(store, sink.port))

    [message] = sink.messages
    assert message.message_id == f"<{nid}@laurel.test>"
    assert message.rcpt_tos == ("a@example.cn",) and message.subject == "标题"
    assert types_in(store, nid) == [
        domain.EMAIL_QUEUED,
        delivery.SEND_STARTED,
        delivery.DELIVERY_FAILED,
        delivery.SEND_STARTED,
        delivery.DELIVERY_FAILED,
        delivery.SEND_STARTED,
        delivery.DELIVERED,
    ]
    delivered = store.read_stream(domain.email_stream(nid))[-1]
    assert delivered.payload["attempt"] == 3
    assert delivered.payload["smtp_reply"].startswith("250")


async def test_refused_on_every_try_ends_dead_lettered(store, sink) -> None:
    nid = queue(store)
    sink.refuse_next(10)

    await drain(worker_for(store, sink.port))

    assert sink.messages == []
    assert types_in(store, nid)[-2:] == [
        delivery.DELIVERY_FAILED,
        delivery.DEAD_LETTERED,
    ]
    assert types_in(store, nid).count(delivery.SEND_STARTED) == FAST.max_attempts


async def test_a_permanent_refusal_is_not_retried(store, sink) -> None:
    nid = queue(store)
    sink.refuse_next(1, "550 5.1.1 No such mailbox")

    await drain(worker_for(store, sink.port))

    assert types_in(store, nid).count(delivery.SEND_STARTED) == 1
    assert types_in(store, nid)[-1] == delivery.DEAD_LETTERED


async def test_no_relay_listening_is_a_safe_retry(store) -> None:
    nid = queue(store)

    await drain(worker_for(store, free_port()), passes=1)

    [failed] = [
        e
        for e in store.read_stream(domain.email_stream(nid))
        if e.type == delivery.DELIVERY_FAILED
    ]
    assert (
        failed.payload["smtp_code"] is None and "Connection" in failed.payload["error"]
    )


async def test_a_timeout_after_the_data_is_uncertain_and_not_resent(
    store, sink
) -> None:
    nid = queue(store)
    sink.hold_reply_s = 1.5

    await drain(worker_for(store, sink.port, timeout_s=0.3))

    assert types_in(store, nid)[-1] == delivery.DELIVERY_UNCERTAIN
    assert len(sink.messages) == 1  # the relay had it: a retry would have doubled it


async def test_a_send_started_before_a_crash_is_settled_as_uncertain(
    store, sink
) -> None:
    nid = queue(store)
    email = delivery.fold(store.read_stream(domain.email_stream(nid)))
    assert email is not None
    store.append(
        domain.email_stream(nid),
        email.version,
        delivery.start(email, utcnow(), "pod-a"),
        EventMetadata(Actor("t", "service"), "c"),
    )
    peer = worker_for(store, sink.port, name="pod-b")
    worker = worker_for(store, sink.port, name="pod-a")

    assert peer.settle_orphans(restarted=True) == 0  # maybe still sending: not yet
    await drain(peer)
    assert sink.messages == []
    assert worker.settle_orphans(restarted=True) == 1
    await drain(worker)

    assert types_in(store, nid)[-1] == delivery.DELIVERY_UNCERTAIN
    assert sink.messages == []
    assert worker.settle_orphans() == 0


async def test_the_message_is_the_same_bytes_on_every_try(store, sink) -> None:
    nid = queue(store, to="b@example.cn")
    email = delivery.fold(store.read_stream(domain.email_stream(nid)))
    assert email is not None

    first = build_message(email, "laurel@laurel.test").as_bytes()
    assert first == build_message(email, "laurel@laurel.test").as_bytes()
    assert sink.messages == []
    assert b"X-Laurel-Template: receipt/zh-CN/v2" in first
