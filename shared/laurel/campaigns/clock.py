"""The campaign clock where a service keeps its own note of it.

Intake owns each campaign's clock: `CampaignClockSet` (stream
`campaign-clock-<id>` in intake's store, published on intake's topic) moves
it, and without one the wall clock rules (intake's `campaign_now`). Review,
scoring and notification note each move in their own store
(`CampaignClockNoted`, a stream of the same name there) and read it back from
there, so a stage check or a look-back window in any service uses the clock
intake announced, never a clock of its own.

A noted clock says the same as intake's: the moment it was set to, until it
is set again; with no note, the wall clock. `CampaignClocks.now` answers
that for a unit of work; decisions get the answer as a value (the domains
stay pure). The events a service appends carry it as their campaign time
(`stamped`, `EventMetadata.campaign_time`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from laurel.envelope import Aggregate, EventMetadata, NewEvent, RecordedEvent, utcnow
from laurel.unit_of_work import UnitOfWork

# Intake's event (payload: campaign_id, now as ISO 8601 with its offset).
CLOCK_SET = "CampaignClockSet"
# A consumer's note of it.
CLOCK_NOTED = "CampaignClockNoted"


def stream_id(campaign_id: str) -> str:
    return f"campaign-clock-{campaign_id}"


def evolve(state: datetime | None, event: RecordedEvent) -> datetime | None:
    """The moment the campaign's clock was last set to."""
    if event.type in (CLOCK_NOTED, CLOCK_SET):
        return datetime.fromisoformat(event.payload["now"])
    return state


NOTED_CLOCK = Aggregate("campaign-clock-noted", evolve)


def noted(event: RecordedEvent) -> NewEvent:
    """The note of intake's CampaignClockSet `event`."""
    moment = datetime.fromisoformat(event.payload["now"])
    if moment.tzinfo is None:
        raise ValueError(f"campaign clock {event.payload['now']!r} has no offset")
    return NewEvent(CLOCK_NOTED, {"campaign_id": event.payload["campaign_id"],
                                  "now": moment.isoformat(),
                                  "set_event_id": event.event_id})


def note(uow: UnitOfWork, event: RecordedEvent, meta: EventMetadata) -> datetime | None:
    """Note intake's clock move; returns the clock before it (None: the
    wall clock ruled). A move to where the clock already is notes nothing."""
    stream = stream_id(event.payload["campaign_id"])
    before = uow.load(stream, NOTED_CLOCK)
    decided = noted(event)
    after = datetime.fromisoformat(decided.payload["now"])
    if before != after:
        uow.append(stream, [decided], stamped(meta, after))
    return before


class CampaignClocks:
    """Each campaign's "now" as this service noted it (else the wall clock)."""

    def __init__(self, wall_clock: Callable[[], datetime] = utcnow) -> None:
        self.wall_clock = wall_clock

    def noted(self, uow: UnitOfWork, campaign_id: str) -> datetime | None:
        return uow.load(stream_id(campaign_id), NOTED_CLOCK)

    def now(self, uow: UnitOfWork, campaign_id: str) -> datetime:
        found = self.noted(uow, campaign_id)
        return self.wall_clock() if found is None else found


def stamped(meta: EventMetadata, campaign_now: datetime) -> EventMetadata:
    """`meta` with the campaign time its events count at."""
    return replace(meta, campaign_time=campaign_now.isoformat())
