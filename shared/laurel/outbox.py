"""The outbox relay: committed events to Kafka, at least once, in position order.

The relay only ever reads what the store committed, so a broker that loses
its memory or a relay killed mid-batch loses nothing: unmarked rows are sent
again on the next pass, and consumers drop the duplicates by event id.

It outlives its broker:
- a failed pass (broker gone, a send refused, a flush that did not finish
  within its bounded timeout) drops the producer, so the next pass starts
  from a new one (a producer id the broker forgot, UnknownProducerIdError,
  heals the same way), and ensures the batch's topics first (a broker that
  came back empty gets them as `laurel topics create` makes them);
- failed passes are retried after exponential backoff with jitter, and the
  relay logs once when the broker becomes unavailable and once when it
  recovers (`laurel.backoff.StateLog`), not per attempt;
- a stop interrupts a pass within a few seconds even with the broker gone
  (bounded blocking in the producer, a flush waited for in slices).

What a published event costs (issue 14, item 4; relay CPU per event read
from the process's CPU time, an appender committing 150 events/s one per
transaction into SQLite beside a relay publishing to Tansu, A/B alternated on
the shared 2-core machine, so ratios rather than absolutes):
- Marks are batched. A pass sends a page and waits for the broker; what the
  broker took is marked published in one write transaction per
  `mark_interval` (or when the relay caught up, or a page's worth waits),
  not one per pass: at intake's rates a pass carries one or two events, and
  its own mark transaction (an fsync) was ~25 % of the relay's CPU (3.1 ms
  -> 2.3 ms per event). Until the marks are written the relay reads on after
  the last position the broker took (`unpublished(after=...)`); a relay
  killed before marking only means those events are sent again by the next
  publisher, which the consumers drop by event id, as for any resend.
- No compression against Tansu (`PRODUCER_COMPRESSION` in laurel.config):
  gzip was another ~15 % (2.3 -> 1.9 ms). linger_ms (0 vs 5), acks (1 vs
  all) and batch_size (16 KB vs 256 KB) made no difference above the noise:
  a pass ends with a flush, which sends at once, so the defaults stay.
- kafka-python stays, for now. Its network thread is half of what is left;
  aiokafka's producer took 0.60x its CPU per event (709 vs 1,177 us for
  one-event batches, 127 vs 208 us for ten-event batches; medians of 3
  alternated runs, producer alone). Switching means an asyncio producer
  behind this thread-based pass, and every property above (bounded blocking
  with the broker gone, a new producer after a failure, the stop within a
  few seconds) proven again against it; that was not done yet. The
  `crc32c` C extension is installed, which kafka-python uses when present.

Readiness and metrics read `relay.status()` (a `RelayStatus`): `healthy` is
False once events have waited unpublished for `stuck_after` seconds
(`stuck_since` says since when); a replica that is not the store's
publisher (`laurel.leadership`) is healthy and publishes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kafka import KafkaProducer
from kafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaTimeoutError,
    PolicyViolationError,
    TopicAuthorizationFailedError,
)
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from laurel.backoff import Backoff, StateLog
from laurel.config import KafkaSettings
from laurel.envelope import RecordedEvent, canonical_json
from laurel.eventstore import EventStore, OutboxEntry
from laurel.telemetry import continued_from, current_trace_carrier

log = logging.getLogger("laurel.outbox")
tracer = trace.get_tracer("laurel.outbox")


def message_value(event: RecordedEvent) -> bytes:
    """The whole stored envelope, hash included, so consumers can verify it."""
    return canonical_json(event.to_dict()).encode("utf-8")


def message_headers(event: RecordedEvent) -> list[tuple[str, bytes]]:
    headers = {
        "content-type": "application/json",
        "laurel-event-id": event.event_id,
        "laurel-event-type": event.type,
        "laurel-schema-version": str(event.schema_version),
        "laurel-stream-id": event.stream_id,
        "laurel-correlation-id": event.metadata.get("correlation_id", ""),
        **current_trace_carrier(),
    }
    return [(name, value.encode("utf-8")) for name, value in headers.items()]


class Leader(Protocol):
    """Whether this replica is its store's publisher (laurel.leadership)."""

    @property
    def is_leader(self) -> bool: ...


class RelayStopped(Exception):
    """The relay was asked to stop in the middle of a pass."""


class PublishFailed(Exception):
    """The broker did not take an event of the batch."""


@dataclass(frozen=True)
class RelayStatus:
    """What readiness and metrics read (`OutboxRelay.status()`).

    `state`: "starting" (nothing published yet), "connected", "unavailable"
    (the last pass failed), "standby" (another replica publishes), "stopped".
    `healthy` is False once events waited unpublished `stuck_after` seconds;
    `stuck_since` (Unix time) is when the relay last stopped making progress
    with events waiting, None while it keeps up."""

    state: str
    healthy: bool
    stuck_since: float | None
    published: int
    failed_passes: int
    last_error: str


class OutboxRelay:
    def __init__(
        self,
        store: EventStore,
        kafka: KafkaSettings,
        *,
        batch_size: int = 200,
        poll_interval: float = 0.2,
        producer_factory: Callable[[], Any] | None = None,
        ensure_topics: Callable[[set[str]], None] | None = None,
        leader: Leader | None = None,
        stuck_after: float = 30.0,
        backoff: Backoff | None = None,
        close_timeout: float = 1.0,
        mark_interval: float = 0.5,
        wall_clock: Callable[[], float] = time.time,
        name: str = "outbox relay",
    ) -> None:
        self.name = name  # in its log lines: "intake outbox relay"
        self.store = store
        self.kafka = kafka
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.leader = leader
        self.stuck_after = stuck_after
        self.close_timeout = close_timeout
        self.mark_interval = mark_interval
        # Sent and taken by the broker, not yet marked published (positions in
        # order); `_sent_through` is the last of them (0 once they are marked), where
        # the next pass reads on from. Only this relay's thread touches them.
        self._unmarked: list[int] = []
        self._unmarked_since = 0.0
        self._sent_through = 0
        # A flush waits at most as long as the producer may take to deliver.
        self.flush_timeout = kafka.delivery_timeout_ms() / 1000 + 1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nudged: asyncio.Event | None = None
        self._producer_factory = producer_factory or (
            lambda: KafkaProducer(**kafka.producer_options())
        )
        if ensure_topics is None and producer_factory is None:
            ensure_topics = self._create_topics
        self._ensure_topics = ensure_topics
        self._ensured: set[str] = set()
        self._topics_refused = False
        self._producer: Any = None
        self._halt = threading.Event()  # set on stop: a pass in its thread gives up
        self._backoff = backoff or Backoff(base=min(max(poll_interval, 0.1), 1.0), cap=15.0)
        self._state_log = StateLog(log, name)
        self._wall_clock = wall_clock
        self._state = "starting"
        self._stuck_since: float | None = None
        self._published = 0
        self._failed_passes = 0
        self._last_error = ""

    # -- what readiness and metrics read -------------------------------------------

    @property
    def stuck_since(self) -> float | None:
        """Unix time since which events wait and nothing was published; None
        while the relay keeps up."""
        return self._stuck_since

    @property
    def healthy(self) -> bool:
        """False once events waited unpublished for `stuck_after` seconds."""
        since = self._stuck_since
        return since is None or self._wall_clock() - since < self.stuck_after

    def backlog(self) -> int:
        """Events committed and not yet marked published (a database query;
        marks follow the sends within `mark_interval`, as does the metric)."""
        return self.store.pending_outbox_count()

    def status(self) -> RelayStatus:
        return RelayStatus(self._state, self.healthy, self._stuck_since, self._published,
                           self._failed_passes, self._last_error)

    # -- one pass ----------------------------------------------------------------

    def publish_pending(self) -> int:
        """One pass: send a batch, wait for the broker (bounded), mark what it
        took (and whatever earlier passes of `run` left to mark).

        Raises when the broker did not take the whole batch (what it took
        before the first failure is marked); the producer is then dropped, so
        the next pass starts with a new one."""
        try:
            return self._send_pending()
        finally:
            self.mark_sent()

    def mark_sent(self) -> None:
        """Mark published, in one write transaction, what the broker took and
        is not marked yet. On failure the marks stay pending (and are tried
        again); the rows are then only sent again by a later publisher."""
        if self._unmarked:
            self.store.mark_published(self._unmarked)
            self._unmarked = []
            # Nothing sent is left unmarked: the next pass reads every
            # unpublished row again, so rows made unpublished meanwhile
            # (`laurel outbox republish`) below the last send go out too.
            self._sent_through = 0

    def _marks_due(self, found: int) -> bool:
        """Whether `run` writes the marks now: after a pass that found nothing
        new (the relay caught up), once `mark_interval` passed since the
        oldest unmarked send, or when a page's worth waits."""
        if not self._unmarked:
            return False
        return (found == 0 or len(self._unmarked) >= self.batch_size
                or time.monotonic() - self._unmarked_since >= self.mark_interval)

    def _send_pending(self) -> int:
        """Send the events after the last one the broker took, wait for the
        broker (bounded); add what it took to the marks to write. Returns
        how many it took."""
        entries = self.store.unpublished(self.batch_size, after=self._sent_through)
        if not entries:
            return 0
        sent: list[tuple[OutboxEntry, Any]] = []
        error: BaseException | None = None
        try:
            producer = self._ensure_producer({entry.topic for entry in entries})
            for entry in entries:
                if self._halt.is_set():
                    raise RelayStopped
                sent.append((entry, self._send(producer, entry)))
            self._flush(producer)
        except Exception as failure:
            error = failure
        published = []
        for entry, future in sent:
            if not (future.is_done and future.succeeded()):
                if error is None:
                    error = PublishFailed(f"position {entry.event.position}: "
                                          f"{future.exception!r}")
                break
            published.append(entry.event.position)
        if published:
            if not self._unmarked:
                self._unmarked_since = time.monotonic()
            self._unmarked.extend(published)
            self._sent_through = published[-1]
        self._published += len(published)
        if error is not None:
            self._drop_producer()
            raise error
        return len(published)

    def _send(self, producer: Any, entry: OutboxEntry) -> Any:
        event = entry.event
        with continued_from(event.metadata.get("trace", {})), tracer.start_as_current_span(
            f"{entry.topic} publish",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": entry.topic,
                "messaging.message.id": event.event_id,
                "laurel.event_type": event.type,
            },
        ):
            return producer.send(
                entry.topic,
                key=entry.key.encode("utf-8"),
                value=message_value(event),
                headers=message_headers(event),
            )

    def _flush(self, producer: Any) -> None:
        """Wait for the broker's answers, in short slices so that a stop
        interrupts it, and at most `flush_timeout` seconds."""
        deadline = time.monotonic() + self.flush_timeout
        while True:
            try:
                producer.flush(timeout=min(0.5, max(deadline - time.monotonic(), 0.01)))
                return
            except KafkaTimeoutError:
                if self._halt.is_set():
                    raise RelayStopped from None
                if time.monotonic() >= deadline:
                    raise KafkaTimeoutError(
                        f"flush not done within {self.flush_timeout:.0f}s") from None

    def _ensure_producer(self, topics: set[str]) -> Any:
        """The producer, created if there is none; a new one first ensures the
        topics it will write (the broker may have come back empty)."""
        if self._producer is None:
            self._ensured = set()
        missing = topics - self._ensured
        if missing and self._ensure_topics is not None:
            self._ensure_topics(missing)
        self._ensured |= missing
        if self._producer is None:
            self._producer = self._producer_factory()
        return self._producer

    def _create_topics(self, topics: set[str]) -> None:
        """Create missing topics. A broker that cannot be reached fails the
        pass (backoff); one that refuses to create them (no permission, a
        policy: topics managed by an operator) is told once, and the relay
        publishes to the topics as they are."""
        from laurel.broker import ensure_topics

        try:
            ensure_topics(self.kafka, sorted(topics), timeout=0)
        except (TopicAuthorizationFailedError, ClusterAuthorizationFailedError,
                PolicyViolationError) as error:
            if not self._topics_refused:
                self._topics_refused = True
                log.info("%s: the broker does not create %s (%s); publishing to them as "
                         "they are", self.name, ", ".join(sorted(topics)),
                         type(error).__name__)

    def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        self._ensured = set()
        if producer is not None:
            try:
                producer.close(timeout=0)
            except Exception as error:  # a broken producer may fail to close
                log.debug("closing a failed producer: %r", error)

    # -- the loop ------------------------------------------------------------------

    def nudge(self) -> None:
        """Publish now: a commit wrote outbox rows (safe from any thread).

        The poll stays as the safety net, for rows other processes wrote and
        for nudges that arrive while no loop runs."""
        loop, nudged = self._loop, self._nudged
        if loop is not None and nudged is not None and not loop.is_closed():
            loop.call_soon_threadsafe(nudged.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set, at each nudge and at least every poll
        interval; a failed pass is retried after a backoff, never skipped.
        Only the store's publisher publishes (when a `leader` is given)."""
        self._loop, self._nudged = asyncio.get_running_loop(), asyncio.Event()
        self._halt.clear()
        halt = asyncio.create_task(self._halt_on(stop))
        try:
            while not stop.is_set():
                self._nudged.clear()
                if self.leader is not None and not self.leader.is_leader:
                    self._standing_by()
                    await _first_of(stop, self._nudged, self.poll_interval)
                    continue
                try:
                    published = await asyncio.to_thread(self._pass)
                except RelayStopped:
                    break
                except Exception as error:
                    if stop.is_set():
                        break
                    await _first_of(stop, None, self._failed(error))
                    continue
                self._progressed(published)
                if published < self.batch_size:
                    await _first_of(stop, self._nudged, self._idle_wait())
        finally:
            halt.cancel()
            self._state = "stopped"
            self._loop = self._nudged = None
            await asyncio.to_thread(self._mark_what_was_sent)

    def _pass(self) -> int:
        """One pass of `run`: send, and write the marks when they are due; a
        failed pass first marks what the broker took before it failed."""
        try:
            published = self._send_pending()
        except BaseException:
            self._mark_what_was_sent()
            raise
        if self._marks_due(published):
            self.mark_sent()
        return published

    def _idle_wait(self) -> float:
        """Until the next poll, or sooner when marks wait to be written."""
        if not self._unmarked:
            return self.poll_interval
        due = self._unmarked_since + self.mark_interval - time.monotonic()
        return min(self.poll_interval, max(due, 0.0))

    def _mark_what_was_sent(self) -> None:
        """`mark_sent` where a failure is only logged: the relay is stopping
        or the pass already failed (a database that is gone fails the next
        pass, and the rows are sent again by the next publisher)."""
        try:
            self.mark_sent()
        except Exception as error:
            log.warning("%s: could not mark %d sent events published (%r); the next "
                        "publisher sends them again", self.name, len(self._unmarked), error)

    async def _halt_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._halt.set()

    def _failed(self, error: BaseException) -> float:
        """Note a failed pass; the seconds to wait before the next."""
        self._failed_passes += 1
        self._last_error = f"{type(error).__name__}: {error}"
        self._state = "unavailable"
        if self._stuck_since is None:
            self._stuck_since = self._wall_clock()
        delay = self._backoff.next_delay()
        try:
            waiting = f"{self.backlog()} events waiting"
        except Exception:  # the database may be what failed
            waiting = "events waiting"
        self._state_log.failed(f"cannot publish to {self.kafka.bootstrap} "
                               f"({self._last_error}); {waiting}", delay)
        return delay

    def _progressed(self, published: int) -> None:
        self._backoff.reset()
        self._stuck_since = None
        if published and self._state != "connected":
            if not self._state_log.recovered(f"publishing to {self.kafka.bootstrap} again"):
                log.info("%s: connected to %s", self.name, self.kafka.bootstrap)
            self._state = "connected"

    def _standing_by(self) -> None:
        if self._state != "standby":
            self._state = "standby"
            self._stuck_since = None
            self._backoff.reset()
            self._state_log.recovered()
            self._drop_producer()
            self._mark_what_was_sent()
            self._sent_through = 0  # the publisher may have moved on meanwhile

    def close(self, timeout: float | None = None) -> None:
        """Close the producer, waiting at most `timeout` seconds (default
        `close_timeout`) for what it still holds: unmarked events are sent
        again by the next publisher, so a stop never waits for a lost broker."""
        if self._producer is not None:
            self._producer.close(timeout=self.close_timeout if timeout is None else timeout)
            self._producer = None


async def _first_of(stop: asyncio.Event, nudged: asyncio.Event | None,
                    timeout: float) -> None:
    waits = {asyncio.ensure_future(stop.wait())}
    if nudged is not None:
        waits.add(asyncio.ensure_future(nudged.wait()))
    _, pending = await asyncio.wait(waits, timeout=timeout,
                                    return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
