"""A category round's result with its ineligible nominations left out.

An ineligible (or withdrawn) nomination must not take a prize place, so its
reviews do not enter the ranking; the result lists it under `ineligible` with
the failing rules and their reasons (and it shows among the unscored). A
verdict that changes later changes the result's inputs, and so mints a new
result version like any other change.

Pure: wraps `ranking.compute_results`, which stays the one place that decides
whether a version is new.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from laurel.envelope import NewEvent
from laurel.scoring.domain.ranking import (
    RESULT_COMPUTED,
    CategoryResults,
    ResultInputs,
    compute_results,
    result_payload,
)

_UNVERSIONED = ("version", "supersedes", "cause")


def decide_results(
    state: CategoryResults | None, inputs: ResultInputs,
    ineligible: Mapping[str, Any],
) -> list[NewEvent]:
    """The next version, or nothing when the outcome (exclusions too) is the same."""
    excluded = {nid: reason for nid, reason in sorted(ineligible.items())
                if nid in inputs.nominations}
    eligible_only = replace(inputs, reviews=tuple(
        r for r in inputs.reviews if r.nomination_id not in excluded))
    fresh = {**result_payload(eligible_only), "ineligible": excluded}
    latest = state.latest if state else None
    if latest is not None and _comparable(latest.payload) == _comparable(fresh):
        return []
    decided = compute_results(_without_exclusions(state), eligible_only)
    if not decided:
        decided = compute_results(None, eligible_only)
        decided[0].payload.update(
            version=latest.version + 1 if latest else 1,
            supersedes=latest.version if latest else None)
    [event] = decided
    return [NewEvent(RESULT_COMPUTED, {**event.payload, "ineligible": excluded},
                     event_id=event.event_id)]


def _without_exclusions(state: CategoryResults | None) -> CategoryResults | None:
    """The state as `compute_results` compares it: exclusions are ours."""
    if state is None or state.latest is None:
        return state
    latest = state.latest
    stripped = replace(latest, payload={k: v for k, v in latest.payload.items()
                                        if k != "ineligible"})
    return replace(state, versions=(*state.versions[:-1], stripped))


def _comparable(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in _UNVERSIONED}
