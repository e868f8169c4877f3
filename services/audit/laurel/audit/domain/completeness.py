"""Downstream completeness: did each consumer take every upstream event?

For a consumer and one of its upstreams, every event the upstream published
up to a position must be accounted for in the consumer's store: applied
(its inbox mark, or its position recorded as applied, in the transaction of
the effect) or ignored (its position recorded as ignored: the consumer has
no reaction to its type). Whatever is neither is missing, and named.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

APPLIED, IGNORED = "applied", "ignored"


@dataclass(frozen=True)
class Published:
    """An event an upstream published: enough to name it."""

    position: int
    event_id: str
    type: str
    stream_id: str


@dataclass(frozen=True)
class Missing:
    """A published event the consumer did not take, and what it recorded
    of it: "parked" (it failed and was set aside, laurel.parking) or
    "not recorded" (it never reached the consumer, or its record is gone)."""

    event: Published
    reason: str


@dataclass(frozen=True)
class Account:
    """One consumer's account of one upstream, up to a position."""

    consumer: str
    upstream: str
    through: int  # the upstream's published positions up to here were checked
    applied: int
    ignored: int
    missing: tuple[Missing, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


def account(consumer: str, upstream: str, through: int, published: Iterable[Published],
            outcomes: Mapping[int, str], marked: Collection[str]) -> Account:
    """Each published event up to `through`, against what the consumer
    recorded: `outcomes` by upstream position, `marked` event ids."""
    applied = ignored = 0
    missing = []
    for event in published:
        if event.position > through:
            break
        outcome = outcomes.get(event.position)
        if outcome == APPLIED or event.event_id in marked:
            applied += 1
        elif outcome == IGNORED:
            ignored += 1
        else:
            missing.append(Missing(event, outcome or "not recorded"))
    return Account(consumer, upstream, through, applied, ignored, tuple(missing))
