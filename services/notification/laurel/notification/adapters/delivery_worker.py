"""The delivery worker: sends due e-mails, one recorded step at a time.

It runs as a task beside the gRPC server and the Kafka consumer: every poll
interval a pass settles orphaned sends and then sends everything due, batch
after batch, so a busy queue drains without waiting and an idle one costs one
query a tick. Each step is a use case in its own unit of work
(`handlers.start_email_send`, then the relay, then
`handlers.record_send_outcome`): the relay is never talked to inside a
transaction, and of two workers on one store (replicas sharing a PostgreSQL
database) the one whose step finds the stream moved decides again and backs
off instead of both sending.

A send recorded as started without an outcome becomes `EmailDeliveryUncertain`
(see `domain.delivery` for why it is not retried). Which sends are orphans:
on start, those this worker's name started (the name, LAUREL_WORKER_NAME or
the host name, survives a restart, so they belong to our dead predecessor);
at any time, those started longer ago than a live send can take (twice the
SMTP timeout plus a margin), whoever started them, e.g. a replica that is
gone. Two processes sharing a name and a store would settle each other's
sends as uncertain on restart: safe (nothing is sent twice), but give them
names.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TypeVar

from laurel.envelope import Actor, Caller, format_time, utcnow
from laurel.eventstore import EventStore
from laurel.notification import handlers
from laurel.notification.domain import delivery
from laurel.notification.domain.commands import (
    RecordSendOutcome,
    SettleOrphanedSend,
    StartEmailSend,
)
from laurel.notification.domain.delivery import Email, Outcome
from laurel.notification.domain.privacy import mask_email
from laurel.runtime import every
from laurel.unit_of_work import UnitOfWork

log = logging.getLogger("laurel.notification.delivery")
WORKER_ACTOR = Actor(id="service:notification-delivery", role="service")
OUTCOME_TRIES = 3
M = TypeVar("M")
T = TypeVar("T")


class Transport(Protocol):
    def send(self, email: Email) -> Outcome: ...


class DeliveryWorker:
    def __init__(
        self,
        store: EventStore,
        ctx: handlers.Context,
        transport: Transport,
        *,
        poll_interval: float = 0.2,
        clock: Callable[[], datetime] = utcnow,
        name: str = "",
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.store = store
        self.on_outcome = on_outcome  # what the relay said (metrics count it)
        self.ctx = ctx
        self.transport = transport
        self.poll_interval = poll_interval
        self.clock = clock
        self.name = name or socket.gethostname()

    async def run(self, stop: asyncio.Event) -> None:
        """Settle orphans, then deliver until `stop`; a failed pass is retried
        at the next tick.

        Orphans are `sending`, which is never due, so even before they are
        settled nothing of theirs can go out a second time.
        """
        restarted = [True]

        def one_pass() -> None:
            self.settle_orphans(restarted[0])
            restarted[0] = False
            while not stop.is_set() and self.deliver_due(stop):
                pass

        await every(self.poll_interval, stop, one_pass, "e-mail delivery")

    def settle_orphans(self, restarted: bool = True) -> int:
        """Sends started by a worker that is gone: uncertain, never resent.

        Called between sends, so none of this worker's own is in flight.
        """
        sending = self.store.run(lambda uow: self.ctx.read.deliveries.in_status(
            uow.conn, delivery.SENDING))
        settled = 0
        for nid in sending:
            cmd = SettleOrphanedSend(self._caller(nid), nid,
                                     self.name if restarted else "", self.clock())
            email = self._run(handlers.settle_orphaned_send, cmd)
            if email is not None:
                log.warning("e-mail %s to %s: its sender stopped during the send; marked "
                            "uncertain, not resent", nid, mask_email(email.to))
                settled += 1
        return settled

    def deliver_due(self, stop: asyncio.Event | None = None) -> int:
        """One batch of due e-mails; returns how many were attempted."""
        now = format_time(self.clock())
        due = self.store.run(lambda uow: self.ctx.read.deliveries.due(uow.conn, now))
        attempted = 0
        for nid in due:
            if stop is not None and stop.is_set():
                break
            attempted += bool(self.deliver(nid))
        return attempted

    def deliver(self, notification_id: str) -> str:
        """One attempt at one e-mail; its status afterwards ("" when it was
        not due: sent already, or another worker got there first)."""
        caller = self._caller(notification_id)
        start = StartEmailSend(caller, notification_id, self.name, self.clock())
        started = self._run(handlers.start_email_send, start)
        if started is None:
            return ""
        outcome = self.transport.send(started)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        final = self._record(RecordSendOutcome(caller, notification_id, started.attempts,
                                               outcome, self.clock()))
        status = final.status if final else delivery.SENDING
        log.info("e-mail %s to %s: attempt %d %s%s", notification_id,
                 mask_email(started.to), started.attempts, status,
                 f" ({outcome.error})" if outcome.error else "")
        return status

    def _record(self, cmd: RecordSendOutcome) -> Email | None:
        """The outcome is known: try hard to record it (else a restart calls it
        uncertain, which is safe but needs a person)."""
        for attempt in range(1, OUTCOME_TRIES + 1):
            try:
                return self._run(handlers.record_send_outcome, cmd)
            except Exception:
                log.exception("recording the outcome of e-mail %s failed (try %d)",
                              cmd.notification_id, attempt)
        return None

    def _run(self, handler: Callable[[M, UnitOfWork, handlers.Context], T], message: M) -> T:
        return self.store.run(lambda uow: handler(message, uow, self.ctx))

    @staticmethod
    def _caller(notification_id: str) -> Caller:
        return Caller(WORKER_ACTOR, correlation_id=notification_id)
