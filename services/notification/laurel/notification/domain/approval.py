"""The approval outbox: held notifications wait for an organizer's yes.

Results (and any kind in LAUREL_APPROVAL_REQUIRED_KINDS) must not reach
nominees before the organizer has looked at what will be said. A batch is one
source event's notifications of one kind (one round's results), kept in its
own stream; approving it appends `NotificationBatchApproved` and, in the same
transaction, every held notification's inbox entry and e-mail, so a batch is
either wholly out or wholly held. Approving twice releases nothing twice.

Who approves is the access policy's business (organizers) and the
handler's (an organizer of this campaign); this module decides what approving
releases. Pure: the handler loads the stream and appends what comes back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from laurel.envelope import Actor, NewEvent, RecordedEvent
from laurel.errors import NotFound
from laurel.notification.domain.events import (
    BATCH_APPROVED,
    BATCH_OPENED,
    NOTIFICATION_HELD,
    batch_stream,
)
from laurel.notification.domain.notifications import Append, Policy, issue

PENDING, APPROVED = "pending", "approved"


@dataclass(frozen=True)
class Batch:
    batch_id: str
    kind: str
    campaign_id: str
    source_event_id: str
    held: tuple[dict[str, Any], ...] = ()
    status: str = PENDING
    approved_by: str = ""
    version: int = 0


def evolve(batch: Batch | None, event: RecordedEvent) -> Batch | None:
    p = event.payload
    if event.type == BATCH_OPENED:
        batch = Batch(p["batch_id"], p["kind"], p["campaign_id"], p["source_event_id"])
    elif batch is None:
        return None
    elif event.type == NOTIFICATION_HELD:
        batch = replace(batch, held=(*batch.held, dict(p)))
    elif event.type == BATCH_APPROVED:
        batch = replace(batch, status=APPROVED, approved_by=p["approved_by"])
    return replace(batch, version=event.version)


def fold(events: Iterable[RecordedEvent]) -> Batch | None:
    batch: Batch | None = None
    for event in events:
        batch = evolve(batch, event)
    return batch


def approve(batch: Batch | None, approver: Actor, policy: Policy) -> list[Append]:
    """Release every held notification; [] when the batch was approved before."""
    if batch is None:
        raise NotFound("no such notification batch", field="batch_id")
    if batch.status == APPROVED:
        return []
    approved = NewEvent(
        BATCH_APPROVED,
        {
            "batch_id": batch.batch_id,
            "kind": batch.kind,
            "approved_by": approver.id,
            "released": len(batch.held),
        },
    )
    appends = [Append(batch_stream(batch.batch_id), [approved], True)]
    for held in batch.held:
        payload = {
            k: v
            for k, v in held.items()
            if k not in ("email_to", "stream_key", "batch_id")
        }
        appends += issue(
            payload,
            held.get("email_to", ""),
            held["stream_key"],
            policy,
            batch.batch_id,
        )
    return appends
