"""A consumer's inbox: Kafka is the fast path, the upstream's store the truth.

Every upstream event a consumer is handed, by Kafka or from the upstream's
published log (`laurel.published_log`), goes through `Inbox.deliver` to the
same reactions (and so the same `apply_once`). Each position is recorded in
the consumer's store (`applied_positions`): applied, in the transaction of
its effect, or ignored. From that record the consumer knows, per upstream,
its watermark — every published position up to it is applied or ignored,
as checked against the upstream's log (`upstream_watermarks`) — and what it
lacks above it.

It catches up from the log, in upstream position order, when:
- Kafka hands it an event of a stream whose previous event it has not seen
  (a broker that lost events, a skipped offset): what lies before is read
  from the log and applied first, so a stream's events apply in order;
- a published position stays missing longer than the grace period (events
  lost with nothing after them in their stream, a broker that came back
  empty): found by the pass every `interval_s`, which compares the
  watermark with the upstream's head;
- at start-up, where everything missing is applied at once.

Applying from the log what Kafka also brings is harmless: the inbox mark
makes the second copy a no-op. So no command is needed after a broker loss.

Events come in batches (`deliver_batch`; Kafka's batches, the log's pages):
one transaction for many events (`EventStore.joined`), each event's marks
and effect in a savepoint of it. Per event, a transaction costs an fsync, a
thread hop and an offset commit, far more than most reactions: scoring's
rule evaluation was 5 % of its busy time, and batches gave ×4–5 eligibility
verdicts per second at a third of the CPU (issue 14, item 2). Every
guarantee of the single path holds, because anything unusual goes the
single path: an event that fails rolls its batch back, what came before it
is applied again as a batch and it goes alone (retried, parked, backed off
as ever), and an event that does not follow its stream goes alone after
what precedes it committed, so the repair from the log happens as it does
for one event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from sqlalchemy import Connection, and_, func, select

from laurel.config import ServiceSettings
from laurel.consumption import delivering
from laurel.envelope import RecordedEvent, format_time
from laurel.eventstore import (
    EventStore,
    applied_positions_table,
    processed_table,
    upstream_watermarks_table,
)
from laurel.unit_of_work import APPLIED, IGNORED, UnitOfWork, UpstreamEvent

if TYPE_CHECKING:
    from laurel.parking import Parking

log = logging.getLogger("laurel.catchup")

PAGE_SIZE = 500
# How long a batch's transaction may hold the store's write lock before it
# commits and the rest of the batch goes on in the next one: the service's
# own writers (its gRPC commands) wait meanwhile.
BATCH_HOLD_S = 0.1

# Which stores each consumer reads (its Kafka subscriptions and its catch-up):
# the audit's completeness check goes by this; a test keeps each service's
# `upstreams()` to it.
UPSTREAMS: dict[str, tuple[str, ...]] = {
    "scoring": ("intake", "review"),
    "review": ("intake", "scoring"),
    "notification": ("intake", "scoring", "review"),
}


class LogReader(Protocol):
    """An upstream's published log (`laurel.published_log.EventLogClient`)."""

    def read(self, from_position: int, limit: int = ...) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Upstream:
    """An upstream a consumer reads: its store's name, the topic Kafka
    carries it on, and the consumer's reaction to its events."""

    name: str
    topic: str
    react: Callable[[RecordedEvent], object]


@dataclass
class Lag:
    """Where a consumer stands on one upstream, for metrics and operators."""

    upstream: str
    watermark: int  # every published position up to here applied or ignored
    head: int  # the upstream's last published position, as last read (-1: not yet)
    missing: list[int] = field(default_factory=list)  # published positions lacked above

    @property
    def behind(self) -> int:
        """Published positions above the watermark (0 when caught up or unknown)."""
        return max(self.head - self.watermark, 0)


class Inbox:
    """One consumer's deliveries, from Kafka and from its upstreams' logs.

    One delivery at a time (a lock): the catch-up and Kafka's subscriber
    never apply two events of the consumer at once, so order per stream
    holds across both paths."""

    def __init__(self, store: EventStore, consumer: str, upstreams: Sequence[Upstream],
                 logs: Mapping[str, LogReader], *, grace_s: float = 5.0,
                 page_size: int = PAGE_SIZE, batch_hold_s: float = BATCH_HOLD_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.consumer = consumer
        self.upstreams = {u.name: u for u in upstreams}
        self.logs = dict(logs)
        self.grace_s = grace_s
        self.page_size = page_size
        self.batch_hold_s = batch_hold_s
        self.clock = clock
        self._lock = threading.RLock()
        self._first_missed: dict[tuple[str, int], float] = {}
        self._lag = {u.name: Lag(u.name, self._stored_watermark(u.name), -1)
                     for u in upstreams}
        self._unreachable: set[str] = set()
        self._started: set[str] = set()  # upstreams caught up with since start-up
        # Where an event the catch-up cannot apply goes (laurel.parking), so one
        # poison event does not stop the catch-up of its upstream.
        self.parking: Parking | None = None

    # -- the Kafka path --------------------------------------------------------------

    def handler(self, upstream: str) -> Callable[[RecordedEvent], None]:
        """What Kafka's subscriber calls with each event of `upstream`'s topic."""
        if upstream not in self.upstreams:
            raise KeyError(f"{self.consumer} does not read {upstream}")

        def on_event(event: RecordedEvent) -> None:
            self.deliver(upstream, event)

        on_event.inbox = self  # type: ignore[attr-defined]  # batches: `deliver_batch`
        on_event.upstream = upstream  # type: ignore[attr-defined]
        return on_event

    def deliver_batch(self, batch: Sequence[tuple[str, RecordedEvent]],
                      one: Callable[[int], object] | None = None,
                      scope: Callable[[int], AbstractContextManager[object]] | None = None,
                      ) -> None:
        """Apply events Kafka brought, `(upstream, event)` in the order they
        came, as `deliver` would one by one, in as few transactions as the
        hold allows (see the module docstring). `one(i)` delivers `batch[i]`
        alone (default `deliver`; Kafka's subscriber adds its parking);
        `scope(i)` is entered around its application in a batch (Kafka's
        subscriber: the consumer span continuing its trace)."""
        def alone(i: int) -> object:
            self.deliver(*batch[i])
            return True

        with self._lock:
            self._deliver_together(batch, one or alone, in_order=True, scope=scope)

    def _deliver_together(self, batch: Sequence[tuple[str, RecordedEvent]],
                          one: Callable[[int], object], *, in_order: bool,
                          scope: Callable[[int], AbstractContextManager[object]] | None = None,
                          ) -> int:
        """`batch` in transactions of many events; what failed, or (with
        `in_order`) does not follow its stream, through `one`. How many
        were applied together or by `one` returning True."""
        i = done = 0
        failing = -1  # an event that failed in a batch: it goes alone when reached
        while i < len(batch):
            stop = failing if failing > i else len(batch)
            if i == failing or stop - i == 1:
                done += one(i) is not False
                i += 1
                continue
            try:
                until, alone = self._apply_together(
                    batch, i, stop, in_order, scope or (lambda _: nullcontext()))
            except _Failed as failed:
                # Rolled back: what came before it again as a batch, then it alone.
                log.debug("%s: a batch failed at its event %d (%s)", self.consumer,
                          failed.index - i + 1, failed.__cause__)
                failing = failed.index
                continue
            done += until - i
            i = until
            if alone:
                done += one(i) is not False
                i += 1
        return done

    def _apply_together(self, batch: Sequence[tuple[str, RecordedEvent]], start: int,
                        stop: int, in_order: bool,
                        scope: Callable[[int], AbstractContextManager[object]],
                        ) -> tuple[int, bool]:
        """Apply `batch[start:stop]` in one transaction until the hold is over;
        where it stopped, and whether that event must go alone (it does not
        follow its stream: the catch-up comes first). _Failed if one failed."""
        i = start
        try:
            with self.store.joined() as uow:
                hold = time.monotonic() + self.batch_hold_s
                while i < stop:
                    upstream, event = batch[i]
                    if (in_order and upstream in self.logs
                            and not self._follows_its_stream(upstream, event, uow.conn)):
                        return i, True  # what came before it commits first
                    with scope(i):
                        self._apply(upstream, event)
                    i += 1
                    if time.monotonic() >= hold:
                        break
        except Exception as error:
            raise _Failed(i) from error
        return i, False

    def deliver(self, upstream: str, event: RecordedEvent) -> None:
        """Apply an event Kafka brought, after whatever precedes it in its
        stream that this consumer lacks (read from the upstream's log)."""
        with self._lock:
            if upstream in self.logs and not self._follows_its_stream(upstream, event):
                try:
                    self.catch_up(upstream, through=event.position - 1)
                except grpc.RpcError as error:
                    # Kafka alone until the log answers: blocking the partition
                    # on an unreachable upstream would stop everything behind it.
                    if upstream not in self._unreachable:
                        self._unreachable.add(upstream)
                        log.warning(
                            "%s: %s at %s:%d comes after events of %s this consumer lacks, "
                            "and %s's log cannot be read (%s); applied as Kafka brought it",
                            self.consumer, event.type, upstream, event.position,
                            event.stream_id, upstream, _reason(error))
            self._apply(upstream, event)

    def _follows_its_stream(self, upstream: str, event: RecordedEvent,
                            conn: Connection | None = None) -> bool:
        """Whether the consumer has what precedes `event` in its stream (on
        `conn`, a batch's transaction: with what the batch applied so far)."""
        if event.version <= 1 or event.position <= self._lag[upstream].watermark + 1:
            return True
        t = applied_positions_table.c
        query = select(func.max(t.version)).where(
            t.consumer == self.consumer, t.upstream == upstream,
            t.stream_id == event.stream_id)
        if conn is not None:
            seen = conn.execute(query).scalar()
        else:
            with self.store.engine.connect() as own:
                seen = own.execute(query).scalar()
        return seen is not None and seen >= event.version - 1

    # -- applying, either path ---------------------------------------------------------

    def _apply(self, upstream: str, event: RecordedEvent) -> None:
        with delivering(upstream, event) as delivery:
            self.upstreams[upstream].react(event)
        if not delivery.applied:  # ignored by the reactions, or applied before
            self.store.run(lambda uow: self._mark_unapplied(uow, delivery.source))

    def _apply_or_park(self, upstream: str, event: RecordedEvent) -> bool:
        if self.parking is None:
            self._apply(upstream, event)
            return True
        return self.parking.apply_or_park(upstream, self.upstreams[upstream].topic, event,
                                          lambda: self._apply(upstream, event))

    def _one_of(self, batch: Sequence[tuple[str, RecordedEvent]]) -> Callable[[int], bool]:
        return lambda i: self._apply_or_park(*batch[i])

    def _mark_unapplied(self, uow: UnitOfWork, source: UpstreamEvent) -> None:
        uow.lock()
        p = processed_table.c
        marked = uow.conn.execute(select(p.event_id).where(
            p.consumer == self.consumer, p.event_id == source.event_id)).first()
        uow.mark_position(self.consumer, source, APPLIED if marked else IGNORED)

    # -- the log path ------------------------------------------------------------------

    def reconcile(self, *, force: bool = False) -> int:
        """One pass over every upstream (see the module docstring); how many
        events were applied from the logs. `force` applies whatever is
        missing at once, as the first pass that reaches an upstream does
        (start-up). An unreachable upstream is logged once and tried again
        at the next pass."""
        applied = 0
        for name in self.logs:
            try:
                applied += self.catch_up(name, force=force or name not in self._started)
                self._started.add(name)
            except grpc.RpcError as error:
                if name not in self._unreachable:
                    self._unreachable.add(name)
                    log.warning("%s cannot read %s's log (%s); Kafka alone until it can",
                                self.consumer, name, _reason(error))
                continue
            if name in self._unreachable:
                self._unreachable.discard(name)
                log.info("%s reads %s's log again", self.consumer, name)
        return applied

    def catch_up(self, upstream: str, *, through: int | None = None,
                 force: bool = False) -> int:
        """Read `upstream`'s log from the watermark on and apply, in position
        order, what this consumer lacks: up to `through` at once, and past it
        what stayed missing longer than the grace period (or everything,
        with `force`). Moves the watermark over what is now complete."""
        reader = self.logs[upstream]
        applied = 0
        with self._lock:
            lag = self._lag[upstream]
            while True:
                start = lag.watermark + 1
                page = reader.read(start, self.page_size)
                lag.head = page.head_position
                covered = page.next_position - 1
                have = self._recorded(upstream, start, covered)
                # Only what Kafka would bring: the upstream's events on its topic.
                topic = self.upstreams[upstream].topic
                lacking = [e for e, on in page.events if on == topic and e.position not in have]
                now = self.clock()
                for event in lacking:
                    self._first_missed.setdefault((upstream, event.position), now)
                due = [e.position for e in lacking
                       if force or (through is not None and e.position <= through)
                       or now - self._first_missed[(upstream, e.position)] >= self.grace_s]
                last_due = max(due, default=0)
                now_due = [(upstream, e) for e in lacking if e.position <= last_due]
                still = [e.position for e in lacking if e.position > last_due]
                applied += self._deliver_together(
                    now_due, self._one_of(now_due), in_order=False)
                watermark = still[0] - 1 if still else covered
                lag.missing = still
                if watermark > lag.watermark:
                    self._store_watermark(upstream, watermark)
                    lag.watermark = watermark
                    for key in [k for k in self._first_missed
                                if k[0] == upstream and k[1] <= watermark]:
                        del self._first_missed[key]
                full = len(page.events) == self.page_size
                wanted = through is not None and covered < through
                if still or not (full or wanted) or page.next_position <= start:
                    break
        if applied:
            log.info("%s applied %d event(s) of %s from its log (Kafka had not brought "
                     "them)", self.consumer, applied, upstream)
        return applied

    def lag(self) -> dict[str, Lag]:
        """Per upstream: the watermark, the upstream's head as last read and
        the published positions lacked above the watermark (metrics)."""
        with self._lock:
            return {name: Lag(lag.upstream, lag.watermark, lag.head, list(lag.missing))
                    for name, lag in self._lag.items()}

    def close(self) -> None:
        for reader in self.logs.values():
            reader.close()

    # -- the record ------------------------------------------------------------------

    def _recorded(self, upstream: str, first: int, last: int) -> set[int]:
        t = applied_positions_table.c
        query = select(t.position).where(
            t.consumer == self.consumer, t.upstream == upstream,
            t.position >= first, t.position <= last)
        with self.store.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def _stored_watermark(self, upstream: str) -> int:
        t = upstream_watermarks_table.c
        with self.store.engine.connect() as conn:
            found = conn.execute(select(t.position).where(
                t.consumer == self.consumer, t.upstream == upstream)).scalar()
        return int(found or 0)

    def _store_watermark(self, upstream: str, position: int) -> None:
        table = upstream_watermarks_table
        t = table.c

        def store(uow: UnitOfWork) -> None:
            uow.lock()
            at = format_time(self.store.clock())
            key = and_(t.consumer == self.consumer, t.upstream == upstream)
            moved = uow.conn.execute(table.update().where(key, t.position < position)
                                     .values(position=position, checked_at=at)).rowcount
            if not moved and uow.conn.execute(select(t.position).where(key)).first() is None:
                uow.conn.execute(table.insert().values(
                    consumer=self.consumer, upstream=upstream, position=position,
                    checked_at=at))

        self.store.run(store)


class _Failed(Exception):
    """An event of a batch failed (its cause): the batch was rolled back."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def _reason(error: grpc.RpcError) -> str:
    code = error.code() if isinstance(error, grpc.Call) else None
    details = error.details() if isinstance(error, grpc.Call) else ""
    return f"{code.name if code else 'error'}: {details}"


def open_inbox(settings: ServiceSettings, store: EventStore, consumer: str,
               upstreams: Sequence[Upstream]) -> Inbox:
    """A consumer's inbox, reading its upstreams' logs where the settings
    say (`LAUREL_CATCHUP_*`; over TLS with LAUREL_CATCHUP_CA_FILE, presenting
    the service's own LAUREL_TLS_CERT_FILE/KEY_FILE to upstreams that ask
    for a client certificate). Outside development without a token for the
    upstreams the logs are not read (one warning): Kafka alone, positions
    still recorded."""
    from laurel.published_log import EventLogClient

    catchup, security = settings.catchup, settings.security
    own = (security.tls_cert_file, security.tls_key_file)
    client_cert = (own[0], own[1]) if own[0] is not None and own[1] is not None else None
    logs: dict[str, LogReader] = {}
    if settings.development or catchup.token_file is not None:
        logs = {u.name: EventLogClient(u.name, catchup.address(u.name), consumer,
                                       token_file=catchup.token_file,
                                       ca_file=catchup.ca_file, client_cert=client_cert)
                for u in upstreams}
    else:
        log.warning("%s: LAUREL_CATCHUP_TOKEN_FILE is not set, so the upstreams' logs are "
                    "not read: events Kafka loses stay missing. Give it a token of the "
                    "service role", consumer)
    return Inbox(store, consumer, upstreams, logs, grace_s=catchup.grace_s)
