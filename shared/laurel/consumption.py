"""Applying another service's event exactly once.

A consumer marks the event id in its own store in the same transaction as
the effect; a redelivered message finds the mark, and the whole transaction,
effect included, is not repeated.

The mark also records where the event sits in its upstream's store (its
position), so the consumer knows, per upstream, up to where it has applied
everything and which positions it lacks (`laurel.catchup`). The upstream is
named by whoever delivers the event (Kafka's subscriber or the catch-up from
the upstream's log, both through `laurel.catchup.Inbox`): `delivering` sets it
for the reaction that runs, so reactions call `apply_once` as they always did.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from laurel.envelope import Actor, EventMetadata, RecordedEvent
from laurel.eventstore import AlreadyProcessed, EventStore
from laurel.telemetry import current_trace_carrier
from laurel.unit_of_work import UnitOfWork, UpstreamEvent

log = logging.getLogger("laurel.consumption")

Handler = Callable[[UnitOfWork, RecordedEvent, EventMetadata], None]


@dataclass
class Delivery:
    """An upstream event being handed to a consumer's reactions."""

    source: UpstreamEvent
    applied: bool = False  # apply_once committed its mark (and effect)


_delivery: ContextVar[Delivery | None] = ContextVar("laurel_delivery", default=None)


@contextmanager
def delivering(upstream: str, event: RecordedEvent) -> Iterator[Delivery]:
    """While the reactions take `event` from `upstream`: `apply_once` records
    its position with its mark."""
    delivery = Delivery(UpstreamEvent.of(upstream, event))
    token = _delivery.set(delivery)
    try:
        yield delivery
    finally:
        _delivery.reset(token)


def apply_once(store: EventStore, consumer: str, actor: Actor, event: RecordedEvent,
               handle: Handler, *, source: UpstreamEvent | None = None) -> bool:
    """Run `handle` with the mark of `event`; False when it was applied before.

    What `handle` appends is caused by `event`, continues its correlation and
    counts at its campaign time (`EventMetadata.campaign_time`; a handler
    that knows better, e.g. from the campaign clock, stamps its own).
    `source` (default: the delivery in progress, see `delivering`) is where
    the event sits upstream; its position is marked with the event.
    """
    delivery = _delivery.get()
    if delivery is not None and delivery.source.event_id != event.event_id:
        delivery = None  # a reaction applying some other event it derived
    if source is None and delivery is not None:
        source = delivery.source
    meta = EventMetadata(
        actor,
        correlation_id=event.metadata.get("correlation_id") or str(uuid.uuid4()),
        causation_id=event.event_id, trace=current_trace_carrier(),
        campaign_time=event.metadata.get("campaign_time", ""))
    try:
        def work(uow: UnitOfWork) -> None:
            uow.mark_processed(consumer, event.event_id, source=source)
            handle(uow, event, meta)

        store.run(work)
    except AlreadyProcessed:
        log.debug("%s: %s %s applied already", consumer, event.type, event.event_id)
        return False
    if delivery is not None:
        delivery.applied = True
    return True
