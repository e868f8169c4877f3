"""Applying another service's event exactly once.

A consumer marks the event id in its own store in the same transaction as
the effect; a redelivered message finds the mark, and the whole transaction,
effect included, is not repeated.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from laurel.envelope import Actor, EventMetadata, RecordedEvent
from laurel.eventstore import AlreadyProcessed, EventStore
from laurel.telemetry import current_trace_carrier
from laurel.unit_of_work import UnitOfWork

log = logging.getLogger("laurel.consumption")

Handler = Callable[[UnitOfWork, RecordedEvent, EventMetadata], None]


def apply_once(store: EventStore, consumer: str, actor: Actor, event: RecordedEvent,
               handle: Handler) -> bool:
    """Run `handle` with the mark of `event`; False when it was applied before.

    What `handle` appends is caused by `event` and continues its correlation.
    """
    meta = EventMetadata(
        actor,
        correlation_id=event.metadata.get("correlation_id") or str(uuid.uuid4()),
        causation_id=event.event_id, trace=current_trace_carrier())
    try:
        def work(uow: UnitOfWork) -> None:
            uow.mark_processed(consumer, event.event_id)
            handle(uow, event, meta)

        store.run(work)
    except AlreadyProcessed:
        log.debug("%s: %s %s applied already", consumer, event.type, event.event_id)
        return False
    return True
