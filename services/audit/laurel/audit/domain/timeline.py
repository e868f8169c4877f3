"""A nomination's cross-service history as one causal timeline.

Each service's store orders its own events (global position = commit order),
but clocks across services are not to be trusted for order: an event caused
by another (metadata.causation_id == the other's event_id) must come after
its cause even if its recorded_at says otherwise. So the timeline is a
topological merge: edges from each cause to its effects and from each
store's event to the store's next one; among events that are free to go
next, the earliest recorded_at goes first, then the lower position, then the
store name and event id, so the same history always gives the same order.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from laurel.envelope import RecordedEvent

Node = tuple[str, int]  # (store, position)


@dataclass(frozen=True)
class TimelineEntry:
    store: str
    event: RecordedEvent
    caused_by: str = ""  # "store:position" of the cause, when it is in the timeline

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "caused_by": self.caused_by,
            **self.event.to_dict(),
        }


def merge_timeline(
    events: Mapping[str, Sequence[RecordedEvent]],
) -> list[TimelineEntry]:
    """Each store's events (in its commit order), merged causes-first."""
    nodes = {
        (store, event.position): event
        for store, store_events in events.items()
        for event in store_events
    }
    by_event_id = {event.event_id: node for node, event in nodes.items()}
    successors: dict[Node, list[Node]] = {n: [] for n in nodes}
    waiting = dict.fromkeys(nodes, 0)
    causes: dict[Node, Node] = {}
    for node, event in nodes.items():
        cause = by_event_id.get(event.metadata.get("causation_id", ""))
        if cause is not None and cause != node:
            causes[node] = cause
            successors[cause].append(node)
            waiting[node] += 1
    for store in events:
        ordered = sorted(n for n in nodes if n[0] == store)
        for before, after in zip(ordered, ordered[1:], strict=False):
            successors[before].append(after)
            waiting[after] += 1
    return [
        TimelineEntry(node[0], nodes[node], _label(causes.get(node)))
        for node in _topological(nodes, successors, waiting)
    ]


def _topological(
    nodes: Mapping[Node, RecordedEvent],
    successors: Mapping[Node, list[Node]],
    waiting: dict[Node, int],
) -> list[Node]:
    def key(node: Node) -> tuple[str, int, str, str]:
        event = nodes[node]
        return (event.recorded_at, event.position, node[0], event.event_id)

    ready = [(key(n), n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[Node] = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for after in successors[node]:
            waiting[after] -= 1
            if waiting[after] == 0:
                heapq.heappush(ready, (key(after), after))
    if len(order) < len(nodes):  # a causation cycle: only corrupt data makes one
        placed = set(order)
        order.extend(sorted((n for n in nodes if n not in placed), key=key))
    return order


def _label(node: Node | None) -> str:
    return f"{node[0]}:{node[1]}" if node else ""
