"""Intake's published events as its consumers read them (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A nomination in one of these statuses still competes: it counts against
# quotas and keeps a leader nomination of its hospital eligible.
LIVE_STATUSES = ("submitted", "returned", "endorsed", "forwarded", "received")


def apply_field_changes(fields: Mapping[str, str],
                        changes: Mapping[str, Mapping[str, Any]] | None) -> dict[str, str]:
    """The form fields after an event's `changes` ({key: {before, after}};
    an `after` of None removes the field)."""
    merged = dict(fields)
    for key, change in (changes or {}).items():
        if change["after"] is None:
            merged.pop(key, None)
        else:
            merged[key] = change["after"]
    return merged
