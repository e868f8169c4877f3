"""Upcasters: old event schemas read as the current one, never rewritten.

A stored event keeps the schema version it was written with forever; readers
ask for the current shape and get it by a chain of small pure functions, one
per version step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class Upcasters:
    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorate a function turning `from_version` into `from_version + 1`."""

        def decorate(step: Upcaster) -> Upcaster:
            key = (event_type, from_version)
            if key in self._steps:
                raise ValueError(f"two upcasters for {event_type} v{from_version}")
            self._steps[key] = step
            return step

        return decorate

    def current_version(self, event_type: str) -> int:
        versions = [v for (t, v) in self._steps if t == event_type]
        return max(versions) + 1 if versions else 1

    def steps(self, event_type: str) -> dict[int, Upcaster]:
        """The steps registered for `event_type`, by the version each reads."""
        return {v: step for (t, v), step in self._steps.items() if t == event_type}

    def upcast(self, event_type: str, version: int, payload: Payload) -> tuple[int, Payload]:
        while (step := self._steps.get((event_type, version))) is not None:
            payload = step(dict(payload))
            version += 1
        return version, payload
