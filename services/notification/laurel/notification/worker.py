"""The delivery worker: sends due e-mails, one event per step, inside the service.

It runs as a task beside the gRPC server and the Kafka consumer and polls the
delivery projection for due e-mails. Each step is an append at the stream's
expected version, so of two workers on one store (replicas sharing a
PostgreSQL database) one loses the race instead of both sending.

A send recorded as started without an outcome becomes `EmailDeliveryUncertain`
(see `delivery` for why it is not retried). Which sends are orphans: on start,
those this worker's name started (the name, LAUREL_WORKER_NAME or the host
name, survives a restart, so they belong to our dead predecessor); at any
time, those started longer ago than a live send can take (twice the SMTP
timeout plus a margin), whoever started them, e.g. a replica that is gone.
Two processes sharing a name and a store would settle each other's sends as
uncertain on restart: safe (nothing is sent twice), but give them names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from laurel.envelope import Actor, EventMetadata, NewEvent, format_time, utcnow
from laurel.errors import ConcurrencyConflict
from laurel.eventstore import EventStore, Publication
from laurel.notification import delivery
from laurel.notification.delivery import Email, Outcome, RetryPolicy
from laurel.notification.domain import email_stream
from laurel.notification.privacy import mask_email
from laurel.notification.projection import DeliveryProjection

log = logging.getLogger("laurel.notification.delivery")
WORKER_ACTOR = Actor(id="service:notification-delivery", role="service")


class Transport(Protocol):
    def send(self, email: Email) -> Outcome: ...


class DeliveryWorker:
    def __init__(
        self,
        store: EventStore,
        deliveries: DeliveryProjection,
        transport: Transport,
        policy: RetryPolicy,
        topic: str,
        *,
        poll_interval: float = 0.2,
        clock: Callable[[], datetime] = utcnow,
        name: str = "",
        stale_after: timedelta = timedelta(seconds=65),
    ) -> None:
        self.store = store
        self.deliveries = deliveries
        self.transport = transport
        self.policy = policy
        self.topic = topic
        self.poll_interval = poll_interval
        self.clock = clock
        self.name = name or socket.gethostname()
        self.stale_after = stale_after

    async def run(self, stop: asyncio.Event) -> None:
        """Settle orphans, then deliver until `stop`; a failed pass is retried.

        Orphans are `sending`, which is never due, so even before they are
        settled nothing of theirs can go out a second time.
        """
        restarted = True
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.settle_orphans, restarted)
                restarted = False
                handled = await self.deliver_due(stop)
            except Exception:
                log.exception("delivery pass failed; retrying")
                handled = 0
            if handled == 0:
                await self._idle(stop)

    def settle_orphans(self, restarted: bool = True) -> int:
        """Sends started by a worker that is gone: uncertain, never resent.

        Called between sends, so none of this worker's own is in flight.
        """
        with self.store.engine.connect() as conn:
            ids = self.deliveries.in_status(conn, delivery.SENDING)
        settled = 0
        for nid in ids:
            email = self._load(nid)
            if email is None:
                continue
            dead = self.name if restarted else ""
            events = delivery.orphaned(email, self.clock(), self.stale_after, dead)
            if self._append(email, events):
                log.warning(
                    "e-mail %s to %s: its sender stopped during the send; marked "
                    "uncertain, not resent",
                    nid,
                    mask_email(email.to),
                )
                settled += 1
        return settled

    async def deliver_due(self, stop: asyncio.Event | None = None) -> int:
        now = format_time(self.clock())
        with self.store.engine.connect() as conn:
            due = self.deliveries.due(conn, now)
        for nid in due:
            if stop is not None and stop.is_set():
                break
            await self.deliver(nid)
        return len(due)

    async def deliver(self, notification_id: str) -> str:
        """One attempt at one e-mail; returns its status afterwards."""
        email = await asyncio.to_thread(self._load, notification_id)
        if email is None or not delivery.is_due(email, self.clock()):
            return email.status if email else ""
        started = await asyncio.to_thread(
            self._append, email, delivery.start(email, self.clock(), self.name)
        )
        if started is None:
            return "lost the race"
        outcome = await asyncio.to_thread(self.transport.send, started)
        events = delivery.conclude(started, outcome, self.clock(), self.policy)
        final = await asyncio.to_thread(self._append_with_retries, started, events)
        status = final.status if final else delivery.SENDING
        log.info(
            "e-mail %s to %s: attempt %d %s%s",
            notification_id,
            mask_email(email.to),
            started.attempts,
            status,
            f" ({outcome.error})" if outcome.error else "",
        )
        return status

    def _load(self, notification_id: str) -> Email | None:
        return delivery.fold(self.store.read_stream(email_stream(notification_id)))

    def _append(self, email: Email, events: list[NewEvent]) -> Email | None:
        """Append at the version we read; None when someone else moved it."""
        if not events:
            return None
        key = email.details.get("nomination_id") or email.notification_id
        metadata = EventMetadata(
            actor=WORKER_ACTOR, correlation_id=email.notification_id
        )
        try:
            recorded = self.store.append(
                email_stream(email.notification_id),
                email.version,
                events,
                metadata,
                publish=Publication(self.topic, key),
            )
        except ConcurrencyConflict:
            return None
        for event in recorded:
            email = delivery.apply(email, event) or email
        return email

    def _append_with_retries(
        self, email: Email, events: list[NewEvent]
    ) -> Email | None:
        """The outcome is known: try hard to record it (else a restart calls it
        uncertain, which is safe but needs a person)."""
        for attempt in range(3):
            try:
                return self._append(email, events)
            except Exception:
                log.exception(
                    "recording the outcome of e-mail %s failed (try %d)",
                    email.notification_id,
                    attempt + 1,
                )
        return None

    async def _idle(self, stop: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self.poll_interval)
