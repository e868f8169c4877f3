"""Poison messages never stop a partition; transient failures never spin.

`Parking` guards a consumer's Kafka subscriber (a FastStream middleware,
`Parking.middleware`, installed by `laurel.messaging.subscribe`) around the
whole handling of a message, decoding and validation included:

- A transient failure — the database unavailable or locked, the disk full
  (sqlalchemy's OperationalError and its kin, OSError), a stale read retried
  out — is retried in place with exponential backoff and jitter, logged once
  when it starts (then at most once a minute) and once when it ends, and
  never parked: the message is the same, the world has to change. After
  `hold_s` seconds in place it is handed back (nacked, redelivered) so the
  consumer stays responsive to a stop and to rebalances.
- Any other failure (a message that does not decode or validate, a handler
  that refuses it) is retried `max_attempts` times with backoff, then the
  message is parked: recorded, whole (key, headers, the raw value), as a
  `MessageParked` event on the consumer's own stream `parked-<consumer>`
  through the unit of work, and the offset is committed so the partition
  moves on. Its id is a uuid5 of the consumer and the event id (or, for a
  message without one, its topic, partition and offset): a redelivery parks
  once. A parked Laurel event's upstream position is recorded as `parked`,
  so catching up from the upstream's log does not retry it in a loop; an
  event the catch-up itself cannot apply (`apply_or_park`) is parked the
  same way, and the catch-up goes on past it.

`laurel parked list` shows what is parked; `laurel parked retry` sends a
parked message again, as stored, to its topic with a `laurel-retry-for`
header naming the consumer: it comes back through the same subscriber and
the same handler (other consumers of the topic pass it by), and the consumer
records the outcome, `MessageRetried` and, once applied, `ParkedResolved`.

`status()` is what metrics read (messages parked since start, open ones).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from faststream import BaseMiddleware
from sqlalchemy import exc as sa_exc
from sqlalchemy import update

from laurel.backoff import Backoff, StateLog
from laurel.envelope import SYSTEM_ACTOR, EventMetadata, NewEvent, RecordedEvent
from laurel.errors import ConcurrencyConflict
from laurel.eventstore import AlreadyProcessed, EventStore, applied_positions_table
from laurel.unit_of_work import UnitOfWork, UpstreamEvent

if TYPE_CHECKING:
    from faststream.message import StreamMessage

    from laurel.catchup import Inbox

log = logging.getLogger("laurel.parking")

NAMESPACE = uuid.UUID("3b0f5a52-8c57-4d0e-9a53-6c2b7e0a9d11")
PARKED = "parked"  # the outcome of a parked upstream position
RETRY_FOR = "laurel-retry-for"  # header: the consumer a retried message is for
PARK_ID = "laurel-park-id"  # header: the parked message a retry is of

TRANSIENT: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,  # database down, locked, "database or disk is full"
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no pooled connection
    OSError,  # the disk, the network
    ConcurrencyConflict,  # a stale read retried out: others are writing
)


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT)


def parked_stream(consumer: str) -> str:
    return f"parked-{consumer}"


@dataclass
class ParkedMessage:
    """A parked message as its consumer's store tells it."""

    park_id: str
    topic: str
    partition: int
    offset: int
    key: str
    event_id: str
    event_type: str
    reason: str
    attempts: int
    parked_at: str
    headers: dict[str, str]
    value: bytes
    resolved: bool = False
    retries: list[dict[str, Any]] = field(default_factory=list)


def fold(events: list[RecordedEvent]) -> dict[str, ParkedMessage]:
    """The parked messages of a `parked-<consumer>` stream, by park id."""
    found: dict[str, ParkedMessage] = {}
    for event in events:
        p = event.payload
        if event.type == "MessageParked":
            found[p["park_id"]] = ParkedMessage(
                p["park_id"], p["topic"], p["partition"], p["offset"], p["key"],
                p["event_id"], p["event_type"], p["reason"], p["attempts"],
                event.recorded_at, dict(p["headers"]), base64.b64decode(p["value_base64"]))
        elif event.type == "MessageRetried" and p["park_id"] in found:
            found[p["park_id"]].retries.append(
                {"outcome": p["outcome"], "reason": p.get("reason", ""),
                 "at": event.recorded_at})
        elif event.type == "ParkedResolved" and p["park_id"] in found:
            found[p["park_id"]].resolved = True
    return found


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]


@dataclass(frozen=True)
class _Received:
    topic: str
    partition: int
    offset: int
    key: str
    headers: dict[str, str]
    value: bytes

    @classmethod
    def of(cls, record: Any) -> _Received:
        headers = {name: (value or b"").decode("utf-8", "replace")
                   for name, value in (record.headers or ())}
        return cls(record.topic, record.partition, record.offset,
                   (record.key or b"").decode("utf-8", "replace"), headers,
                   bytes(record.value or b""))

    @classmethod
    def from_log(cls, topic: str, event: RecordedEvent) -> _Received:
        """An event read from its upstream's log, as the relay would publish it
        (no partition or offset: it did not come through Kafka)."""
        from laurel.outbox import message_headers, message_value

        return cls(topic, -1, -1, "", {k: v.decode("utf-8") for k, v in
                                       message_headers(event)}, message_value(event))

    def envelope(self) -> RecordedEvent | None:
        """The Laurel event it carries, if it carries one that decodes."""
        try:
            return RecordedEvent.from_dict(json.loads(self.value))
        except Exception:
            return None


class Parking:
    """One consumer's guard against poison and transient failures (see the module)."""

    def __init__(self, store: EventStore, consumer: str, *,
                 upstreams: Mapping[str, str] | None = None, max_attempts: int = 5,
                 backoff_s: float = 0.2, backoff_cap_s: float = 5.0,
                 hold_s: float = 30.0) -> None:
        self.store = store
        self.consumer = consumer
        self.upstreams = dict(upstreams or {})  # topic -> upstream store name
        self.max_attempts = max_attempts
        self.backoff_s, self.backoff_cap_s = backoff_s, backoff_cap_s
        self.hold_s = hold_s
        self.parked_total = 0
        self._transient = Backoff(backoff_s, max(backoff_cap_s, backoff_s) * 6)
        self._transient_log = StateLog(log, f"{consumer} consumer")

    @classmethod
    def for_inbox(cls, inbox: Inbox, **options: Any) -> Parking:
        """The parking of a consumer's inbox: its Kafka subscriber's guard
        (`subscribe(..., parking=)`) and its catch-up's, one and the same."""
        parking = cls(inbox.store, inbox.consumer,
                      upstreams={u.topic: u.name for u in inbox.upstreams.values()},
                      **options)
        inbox.parking = parking
        return parking

    # -- the live path -----------------------------------------------------------------

    @property
    def middleware(self) -> Callable[..., BaseMiddleware]:
        """A FastStream middleware (factory) guarding each message."""
        parking = self

        class _Guard(BaseMiddleware):
            async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
                return await parking.guard(call_next, msg)

        return _Guard

    async def guard(self, call_next: Callable[[Any], Any], msg: Any) -> Any:
        """Handle `msg` with `call_next`: retried, backed off, or parked."""
        if isinstance(msg.raw_message, tuple):
            return await self._guard_batch(call_next, msg)
        received = _Received.of(msg.raw_message)
        retry_for = received.headers.get(RETRY_FOR)
        if retry_for is not None and retry_for != self.consumer:
            return None  # another consumer's retry: not ours to apply again
        attempts, held_since = 0, time.monotonic()
        poison = Backoff(self.backoff_s, self.backoff_cap_s)
        while True:
            try:
                result = await call_next(msg)
            except Exception as error:
                if is_transient(error):
                    await asyncio.sleep(self._transient_delay(
                        f"{received.topic}[{received.partition}]@{received.offset}",
                        error, held_since))
                    continue
                attempts += 1
                if attempts < self.max_attempts:
                    log.debug("%s: attempt %d at %s[%s]@%s failed: %s", self.consumer,
                              attempts, received.topic, received.partition, received.offset,
                              _one_line(error))
                    await asyncio.sleep(poison.next_delay())
                    continue
                await asyncio.to_thread(self._settle_failure, received, error, attempts,
                                        retry_for is not None)
                return None
            else:
                self._transient.reset()
                self._transient_log.recovered()
                if retry_for is not None:
                    await asyncio.to_thread(self._resolved, received)
                return result

    async def _guard_batch(self, call_next: Callable[[Any], Any], msg: Any) -> Any:
        """A batch (`subscribe(batch=True)`): each record is guarded alone
        (`handle`), so what fails here is the environment's (a transient
        failure `handle` raised): backed off and handed again in place, the
        records applied before it no-ops then, and after `hold_s` nacked.
        A batch is never parked."""
        records = msg.raw_message
        first = records[0] if records else None
        where = (f"a batch of {len(records)} from {first.topic}[{first.partition}]@"
                 f"{first.offset}" if first is not None else "an empty batch")
        held_since = time.monotonic()
        while True:
            try:
                result = await call_next(msg)
            except Exception as error:
                await asyncio.sleep(self._transient_delay(where, error, held_since))
                continue
            self._transient.reset()
            self._transient_log.recovered()
            return result

    def _transient_delay(self, where: str, error: Exception, held_since: float) -> float:
        """How long to back off, in place, after a transient failure at
        `where` (logged once per state change); `error` is raised instead
        (nacked: redelivered, and backed off again) once the message would
        be held longer than `hold_s`."""
        delay = self._transient.next_delay()
        self._transient_log.failed(
            f"cannot apply {where} ({_one_line(error)}); not parked, "
            "the failure is the environment's", delay)
        if time.monotonic() - held_since + delay > self.hold_s:
            raise error
        return delay

    def handle(self, record: Any, apply: Callable[[], object]) -> None:
        """One record of a batch, in the consumer's thread: `apply` it as
        `guard` would (retried, then parked; a retry of a parked message
        recorded), except that a transient failure is raised at once, for
        the batch's guard to back off."""
        received = _Received.of(record)
        retry_for = received.headers.get(RETRY_FOR)
        if retry_for is not None and retry_for != self.consumer:
            return  # another consumer's retry: not ours to apply again
        poison = Backoff(self.backoff_s, self.backoff_cap_s)
        for attempt in range(1, self.max_attempts + 1):
            try:
                apply()
            except Exception as error:
                if is_transient(error):
                    raise
                if attempt == self.max_attempts:
                    self._settle_failure(received, error, attempt, retry_for is not None)
                    return
                log.debug("%s: attempt %d at %s[%s]@%s failed: %s", self.consumer,
                          attempt, received.topic, received.partition, received.offset,
                          _one_line(error))
                time.sleep(poison.next_delay())
            else:
                if retry_for is not None:
                    self._resolved(received)
                return

    def _settle_failure(self, received: _Received, error: BaseException, attempts: int,
                        retried: bool) -> None:
        if retried:
            self._record_retry(received.headers.get(PARK_ID, ""), "failed",
                               _one_line(error))
            log.warning("%s: the retry of parked message %s failed again: %s",
                        self.consumer, received.headers.get(PARK_ID), _one_line(error))
        else:
            self.park(received, _one_line(error), attempts)

    def apply_or_park(self, upstream: str, topic: str, event: RecordedEvent,
                      apply: Callable[[], None]) -> bool:
        """The catch-up's path (blocking): `apply` the event read from
        `upstream`'s log, retried `max_attempts` times, else parked; False
        when parked. A transient failure is raised (the pass is tried again)."""
        poison = Backoff(self.backoff_s, self.backoff_cap_s)
        for attempt in range(1, self.max_attempts + 1):
            try:
                apply()
                return True
            except Exception as error:
                if is_transient(error):
                    raise
                if attempt == self.max_attempts:
                    self.park(_Received.from_log(topic, event), _one_line(error), attempt,
                              upstream=upstream)
                    return False
                time.sleep(poison.next_delay())
        return False

    def park_id(self, received: _Received, event_id: str) -> str:
        identity = event_id or f"{received.topic}|{received.partition}|{received.offset}"
        return str(uuid.uuid5(NAMESPACE, f"{self.consumer}|{identity}"))

    def park(self, received: _Received, reason: str, attempts: int, *,
             upstream: str | None = None) -> bool:
        """Record the message as parked; False when it was parked before."""
        event = received.envelope()
        event_id = event.event_id if event else received.headers.get("laurel-event-id", "")
        event_type = event.type if event else received.headers.get("laurel-event-type", "")
        park_id = self.park_id(received, event_id)
        upstream = upstream or self.upstreams.get(received.topic)

        def work(uow: UnitOfWork) -> None:
            uow.mark_processed(f"{self.consumer}.parked", park_id)
            uow.append(parked_stream(self.consumer), [NewEvent("MessageParked", {
                "park_id": park_id, "consumer": self.consumer, "topic": received.topic,
                "partition": received.partition, "offset": received.offset,
                "key": received.key, "event_id": event_id, "event_type": event_type,
                "reason": reason, "attempts": attempts, "headers": received.headers,
                "value_base64": base64.b64encode(received.value).decode("ascii"),
            }, event_id=park_id)], self._meta(event_id))
            if event is not None and upstream is not None:
                uow.mark_position(self.consumer, UpstreamEvent.of(upstream, event), PARKED)

        try:
            self.store.run(work)
        except AlreadyProcessed:
            log.info("%s: %s[%s]@%s was parked before (%s)", self.consumer, received.topic,
                     received.partition, received.offset, park_id)
            return False
        self.parked_total += 1
        log.warning("%s: parked %s[%s]@%s (event %s %s) after %d attempts: %s; the "
                    "partition moves on (`laurel parked list %s`)", self.consumer,
                    received.topic, received.partition, received.offset, event_type or "?",
                    event_id or "?", attempts, reason, self.consumer)
        return True

    def _resolved(self, received: _Received) -> None:
        park_id = received.headers.get(PARK_ID, "")
        self._record_retry(park_id, "applied", "")
        log.info("%s: parked message %s applied on retry", self.consumer, park_id)

    def _record_retry(self, park_id: str, outcome: str, reason: str) -> None:
        parked = self.parked().get(park_id)
        if parked is None or parked.resolved:
            return

        def work(uow: UnitOfWork) -> None:
            events = [NewEvent("MessageRetried", {"park_id": park_id, "outcome": outcome,
                                                  "reason": reason})]
            if outcome == "applied":
                events.append(NewEvent("ParkedResolved", {"park_id": park_id}))
                upstream = self.upstreams.get(parked.topic)
                if upstream is not None and parked.event_id:
                    t = applied_positions_table.c
                    uow.lock()
                    uow.conn.execute(update(applied_positions_table).where(
                        t.consumer == self.consumer, t.upstream == upstream,
                        t.event_id == parked.event_id, t.outcome == PARKED,
                    ).values(outcome="applied"))
            uow.append(parked_stream(self.consumer), events, self._meta(parked.event_id))

        self.store.run(work)

    def _meta(self, event_id: str) -> EventMetadata:
        return EventMetadata(SYSTEM_ACTOR, correlation_id=f"parked-{self.consumer}",
                             causation_id=event_id)

    # -- what tools and metrics read ---------------------------------------------------

    def parked(self) -> dict[str, ParkedMessage]:
        return fold(self.store.read_stream(parked_stream(self.consumer)))

    def status(self) -> dict[str, int]:
        """Parked since this process started, and parked and not resolved now."""
        open_ = sum(1 for p in self.parked().values() if not p.resolved)
        return {"parked_total": self.parked_total, "open": open_}


def retry_headers(parked: ParkedMessage, consumer: str) -> list[tuple[str, bytes]]:
    """The stored headers, plus those that route a retry to its consumer."""
    headers = {k: v for k, v in parked.headers.items() if k not in (RETRY_FOR, PARK_ID)}
    headers.update({RETRY_FOR: consumer, PARK_ID: parked.park_id})
    return [(k, v.encode("utf-8")) for k, v in headers.items()]
