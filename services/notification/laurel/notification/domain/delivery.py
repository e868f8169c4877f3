"""One e-mail's delivery as its own event stream: tries, backoff, final state.

    EmailQueued -> EmailSendStarted -> EmailDelivered
                                    -> EmailDeliveryFailed -> (backoff) -> started …
                                    -> EmailDeliveryFailed + EmailDeadLettered
                                    -> EmailDeliveryUncertain

"Never two copies" is the rule that shapes this. `EmailSendStarted` is stored
before the relay is contacted. An attempt that ends without an answer we can
trust (the service died mid-send, the connection dropped or timed out after
the message data was sent) may have been delivered, so it is never retried
blindly: it becomes `EmailDeliveryUncertain`, a dead letter for a person to
look at. Only failures that certainly delivered nothing are retried: no
connection, a refusal before DATA, or a definite 4xx reply to the data. A 5xx
reply is permanent and dead-letters at once. The price: an e-mail the relay
never saw may also end up uncertain (when the service dies between recording
the start and connecting), so a person may get no copy and a human must
follow up; that is preferred to sending a second one.

Pure: `now` is passed in; times in payloads are `format_time` text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from laurel.envelope import NewEvent, RecordedEvent, format_time
from laurel.errors import FailedPrecondition
from laurel.notification.domain.events import (
    DEAD_LETTERED,
    DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_UNCERTAIN,
    EMAIL_QUEUED,
    SEND_STARTED,
)

QUEUED, SENDING, RETRYING = "queued", "sending", "retrying"
SENT, DEAD, UNCERTAIN = "delivered", "dead_lettered", "uncertain"
SENDABLE = (QUEUED, RETRYING)
FINAL = (SENT, DEAD, UNCERTAIN)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_ms: int = 500
    cap_ms: int = 3_600_000


@dataclass(frozen=True)
class Outcome:
    """What one SMTP conversation told us."""

    delivered: bool
    reply: str = ""
    error: str = ""
    code: int | None = None
    ambiguous: bool = False  # the relay may have the message anyway

    @property
    def permanent(self) -> bool:
        return self.code is not None and 500 <= self.code < 600


@dataclass(frozen=True)
class Email:
    notification_id: str
    message_id: str
    to: str
    subject: str
    body: str
    queued_at: str
    details: dict[str, Any]
    status: str = QUEUED
    attempts: int = 0
    next_attempt_at: str = ""
    last_error: str = ""
    started_by: str = ""  # the worker of the current attempt
    started_at: str = ""
    version: int = 0


def backoff(attempt: int, policy: RetryPolicy) -> timedelta:
    """Wait after failed attempt n (1-based): base·2^(n-1), at most the cap."""
    delay_ms = min(policy.cap_ms, policy.base_ms * 2 ** max(attempt - 1, 0))
    return timedelta(milliseconds=delay_ms)


def is_due(email: Email, now: datetime) -> bool:
    return email.status in SENDABLE and email.next_attempt_at <= format_time(now)


def start(email: Email, now: datetime, worker: str = "") -> list[NewEvent]:
    if not is_due(email, now):
        raise FailedPrecondition(
            "email_not_due",
            f"e-mail {email.notification_id} is {email.status}, not due",
            email.notification_id,
        )
    return [
        NewEvent(
            SEND_STARTED,
            {
                "notification_id": email.notification_id,
                "attempt": email.attempts + 1,
                "worker": worker,
                "message_id": email.message_id,
            },
        )
    ]


def conclude(
    email: Email, outcome: Outcome, now: datetime, policy: RetryPolicy
) -> list[NewEvent]:
    """The events one finished attempt calls for (after `start`)."""
    attempt = email.attempts
    base = {"notification_id": email.notification_id, "attempt": attempt}
    if outcome.delivered:
        return [NewEvent(DELIVERED, {**base, "smtp_reply": outcome.reply})]
    if outcome.ambiguous:
        return [
            NewEvent(
                DELIVERY_UNCERTAIN,
                {
                    **base,
                    "error": outcome.error,
                    "reason": "no reliable answer after the message data was sent",
                },
            )
        ]
    last = outcome.permanent or attempt >= policy.max_attempts
    failed = NewEvent(
        DELIVERY_FAILED,
        {
            **base,
            "error": outcome.error,
            "smtp_code": outcome.code,
            "permanent": outcome.permanent,
            "next_attempt_at": ""
            if last
            else format_time(now + backoff(attempt, policy)),
        },
    )
    if not last:
        return [failed]
    return [
        failed,
        NewEvent(
            DEAD_LETTERED,
            {
                **base,
                "attempts": attempt,
                "error": outcome.error,
                "reason": "permanent refusal"
                if outcome.permanent
                else "out of attempts",
            },
        ),
    ]


def orphaned(
    email: Email, now: datetime, stale_after: timedelta, dead_worker: str = ""
) -> list[NewEvent]:
    """A send whose worker died before recording the outcome.

    Either `dead_worker` started it (a worker restarting names itself: what it
    started before is certainly dead), or it started longer ago than any live
    send can last, whoever started it.
    """
    if email.status != SENDING:
        return []
    ours = bool(dead_worker) and email.started_by == dead_worker
    stale = email.started_at <= format_time(now - stale_after)
    if not (ours or stale):
        return []
    return [
        NewEvent(
            DELIVERY_UNCERTAIN,
            {
                "notification_id": email.notification_id,
                "attempt": email.attempts,
                "error": "",
                "reason": "the sending worker stopped during the send; the "
                "relay may have accepted the message",
            },
        )
    ]


def fold(events: Iterable[RecordedEvent]) -> Email | None:
    email: Email | None = None
    for event in events:
        email = evolve(email, event)
    return email


def evolve(email: Email | None, event: RecordedEvent) -> Email | None:
    p = event.payload
    if event.type == EMAIL_QUEUED:
        details = {
            k: p.get(k, "")
            for k in ("kind", "recipient_id", "nomination_id", "template")
        }
        return Email(
            p["notification_id"],
            p["message_id"],
            p["to"],
            p["subject"],
            p["body"],
            event.recorded_at,
            details,
            QUEUED,
            next_attempt_at=event.recorded_at,
            version=event.version,
        )
    if email is None:
        return None
    email = replace(email, version=event.version)
    if event.type == SEND_STARTED:
        return replace(
            email,
            status=SENDING,
            attempts=p["attempt"],
            started_by=p.get("worker", ""),
            started_at=event.recorded_at,
        )
    if event.type == DELIVERED:
        return replace(email, status=SENT)
    if event.type == DELIVERY_FAILED:
        return replace(
            email,
            status=RETRYING,
            last_error=p["error"],
            next_attempt_at=p["next_attempt_at"],
        )
    if event.type == DEAD_LETTERED:
        return replace(email, status=DEAD)
    if event.type == DELIVERY_UNCERTAIN:
        return replace(
            email, status=UNCERTAIN, last_error=p.get("error") or p.get("reason", "")
        )
    return email
