"""E-mail delivery: the backoff schedule, the state machine, and the worker
(as the bootstrap builds it) against a real SMTP sink and a real SQLite store
(no broker needed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from laurel.broker import free_port
from laurel.envelope import Actor, EventMetadata, NewEvent, RecordedEvent, utcnow
from laurel.eventstore import EventStore
from laurel.notification.adapters.delivery_worker import DeliveryWorker
from laurel.notification.adapters.smtp import build_message
from laurel.notification.domain import delivery, events
from laurel.notification.domain.delivery import Outcome, RetryPolicy
from laurel.notification.domain.notifications import Policy, issue
from laurel.smtpsink import SmtpSink

NOW = datetime(2021, 11, 25, 2, 30, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, base_ms=500, cap_ms=60_000)
FAST = RetryPolicy(max_attempts=3, base_ms=0, cap_ms=0)
MAILING = Policy(frozenset(), True, "laurel.test")


# -- backoff -----------------------------------------------------------------


def waits(policy: RetryPolicy) -> list[timedelta]:
    """Every wait between tries."""
    return [delivery.backoff(n, policy) for n in range(1, policy.max_attempts)]


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=6, base_ms=500, cap_ms=5_000)

    assert waits(policy) == [
        timedelta(milliseconds=ms) for ms in (500, 1000, 2000, 4000, 5000)
    ]


def test_the_default_schedule_waits_about_seven_seconds_over_five_tries() -> None:
    default = waits(RetryPolicy())

    assert len(default) == 4 and sum(default, timedelta()) == timedelta(seconds=7.5)


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
    email = delivery.fold(recorded([NewEvent(events.EMAIL_QUEUED, payload)]))
    assert email is not None
    return email


def attempt(email: delivery.Email, outcome: Outcome) -> tuple[delivery.Email, list]:
    events = [
        *delivery.start(email, NOW),
        *delivery.conclude(_started(email), outcome, NOW, POLICY),
    ]
    after = email
    for e in recorded(events, email.version):
        after = delivery.evolve(after, e) or after
    return after, [e.type for e in events]


def _started(email: delivery.Email) -> delivery.Email:
    return delivery.Email(
        **{**email.__dict__, "status": delivery.SENDING, "attempts": email.attempts + 1}
    )


def test_a_transient_refusal_schedules_the_next_try_after_the_backoff() -> None:
    after, types = attempt(queued_email(), Outcome(False, error="451", code=451))

    assert types == [events.SEND_STARTED, events.DELIVERY_FAILED]
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

    assert types[-1] == events.DELIVERY_UNCERTAIN
    assert after.status == delivery.UNCERTAIN and not delivery.is_due(after, NOW)


def test_a_send_is_orphaned_when_its_worker_restarted_or_it_is_stale() -> None:
    stale_after = timedelta(seconds=65)
    [started] = recorded(delivery.start(queued_email(), NOW, "pod-a"), 1)
    sending = delivery.evolve(queued_email(), started)
    assert sending is not None and sending.started_by == "pod-a"
    sent_at = started.recorded_at_time

    assert delivery.orphaned(queued_email(), NOW, stale_after, "pod-a") == []
    [mine] = delivery.orphaned(sending, sent_at, stale_after, dead_worker="pod-a")
    assert mine.type == events.DELIVERY_UNCERTAIN
    assert delivery.orphaned(sending, sent_at, stale_after, dead_worker="pod-b") == []
    later = sent_at + stale_after
    [stale] = delivery.orphaned(sending, later, stale_after, dead_worker="pod-b")
    assert stale.type == events.DELIVERY_UNCERTAIN


# -- the worker with a real SMTP sink ----------------------------------------


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as started:
        yield started


SMTP_FAST = {"LAUREL_EMAIL_MAX_ATTEMPTS": str(FAST.max_attempts),
             "LAUREL_EMAIL_BACKOFF_MS": str(FAST.base_ms),
             "LAUREL_EMAIL_BACKOFF_CAP_MS": str(FAST.cap_ms)}


@pytest.fixture
async def mailing(build_notification, sink):  # noqa: ANN001, ANN201
    """notification sending through the sink, its worker named pod-a."""
    return await build_notification(LAUREL_SMTP_PORT=str(sink.port),
                                    LAUREL_WORKER_NAME="pod-a", **SMTP_FAST)


@pytest.fixture
def store(mailing) -> EventStore:  # noqa: ANN001
    return mailing.store


def worker_of(service) -> DeliveryWorker:  # noqa: ANN001
    assert service.runtime.worker is not None
    return service.runtime.worker


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
    [_, mail] = issue(payload, to, "nom", MAILING)
    store.append(
        mail.stream_id, 0, mail.events, EventMetadata(Actor("t", "service"), "c")
    )
    return notification_id


def types_in(store: EventStore, notification_id: str) -> list[str]:
    return [e.type for e in store.read_stream(events.email_stream(notification_id))]


def drain(worker: DeliveryWorker, passes: int = 10) -> None:
    for _ in range(passes):
        if worker.deliver_due() == 0:
            return


async def test_two_refusals_then_one_delivered_copy(mailing, store, sink) -> None:
    nid = queue(store)
    sink.refuse_next(2)

    drain(worker_of(mailing))

    [message] = sink.messages
    assert message.message_id == f"<{nid}@laurel.test>"
    assert message.rcpt_tos == ("a@example.cn",) and message.subject == "标题"
    assert types_in(store, nid) == [
        events.EMAIL_QUEUED,
        events.SEND_STARTED,
        events.DELIVERY_FAILED,
        events.SEND_STARTED,
        events.DELIVERY_FAILED,
        events.SEND_STARTED,
        events.DELIVERED,
    ]
    delivered = store.read_stream(events.email_stream(nid))[-1]
    assert delivered.payload["attempt"] == 3
    assert delivered.payload["smtp_reply"].startswith("250")


async def test_refused_on_every_try_ends_dead_lettered(mailing, store, sink) -> None:
    nid = queue(store)
    sink.refuse_next(10)

    drain(worker_of(mailing))

    assert sink.messages == []
    assert types_in(store, nid)[-2:] == [
        events.DELIVERY_FAILED,
        events.DEAD_LETTERED,
    ]
    assert types_in(store, nid).count(events.SEND_STARTED) == FAST.max_attempts


async def test_a_permanent_refusal_is_not_retried(mailing, store, sink) -> None:
    nid = queue(store)
    sink.refuse_next(1, "550 5.1.1 No such mailbox")

    drain(worker_of(mailing))

    assert types_in(store, nid).count(events.SEND_STARTED) == 1
    assert types_in(store, nid)[-1] == events.DEAD_LETTERED


async def test_no_relay_listening_is_a_safe_retry(build_notification) -> None:
    service = await build_notification(LAUREL_SMTP_PORT=str(free_port()), **SMTP_FAST)
    nid = queue(service.store)

    drain(worker_of(service), passes=1)

    [failed] = [
        e
        for e in service.store.read_stream(events.email_stream(nid))
        if e.type == events.DELIVERY_FAILED
    ]
    assert (
        failed.payload["smtp_code"] is None and "Connection" in failed.payload["error"]
    )


async def test_a_timeout_after_the_data_is_uncertain_and_not_resent(
    build_notification, sink
) -> None:
    service = await build_notification(LAUREL_SMTP_PORT=str(sink.port),
                                       LAUREL_SMTP_TIMEOUT_MS="300", **SMTP_FAST)
    nid = queue(service.store)
    sink.hold_reply_s = 1.5

    drain(worker_of(service))

    assert types_in(service.store, nid)[-1] == events.DELIVERY_UNCERTAIN
    assert len(sink.messages) == 1  # the relay had it: a retry would have doubled it


async def test_a_send_started_before_a_crash_is_settled_as_uncertain(
    build_notification, mailing, store, sink
) -> None:
    nid = queue(store)
    email = delivery.fold(store.read_stream(events.email_stream(nid)))
    assert email is not None
    store.append(
        events.email_stream(nid),
        email.version,
        delivery.start(email, utcnow(), "pod-a"),
        EventMetadata(Actor("t", "service"), "c"),
    )
    replica = await build_notification(store=store, LAUREL_SMTP_PORT=str(sink.port),
                                       LAUREL_WORKER_NAME="pod-b", **SMTP_FAST)
    peer, worker = worker_of(replica), worker_of(mailing)

    assert peer.settle_orphans(restarted=True) == 0  # maybe still sending: not yet
    drain(peer)
    assert sink.messages == []
    assert worker.settle_orphans(restarted=True) == 1
    drain(worker)

    assert types_in(store, nid)[-1] == events.DELIVERY_UNCERTAIN
    assert sink.messages == []
    assert worker.settle_orphans() == 0


async def test_the_message_is_the_same_bytes_on_every_try(store, sink) -> None:
    nid = queue(store, to="b@example.cn")
    email = delivery.fold(store.read_stream(events.email_stream(nid)))
    assert email is not None

    first = build_message(email, "laurel@laurel.test").as_bytes()
    assert first == build_message(email, "laurel@laurel.test").as_bytes()
    assert sink.messages == []
    assert b"X-Laurel-Template: receipt/zh-CN/v2" in first
