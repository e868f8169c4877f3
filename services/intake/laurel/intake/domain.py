"""Intake's domain: nomination commands decide events; events fold into state.

Pure functions only (no I/O, no clock reads): the application layer loads the
stream and the campaign, passes them in, and appends what comes back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from laurel.envelope import NewEvent, RecordedEvent
from laurel.errors import AlreadyExists, FieldViolation, InvalidArgument

NOMINATION_SUBMITTED = "NominationSubmitted"


@dataclass(frozen=True)
class Nominee:
    kind: str
    name: str
    organization_id: str


@dataclass(frozen=True)
class SubmitNomination:
    nomination_id: str
    campaign_id: str
    category: str
    nominee: Nominee
    fields: Mapping[str, str]


@dataclass(frozen=True)
class Nomination:
    nomination_id: str
    campaign_id: str
    category: str
    nominee: Nominee
    fields: dict[str, str] = field(default_factory=dict)
    status: str = "submitted"
    version: int = 0
    submitted_at: str = ""
    submitted_by: str = ""


def stream_id(nomination_id: str) -> str:
    return f"nomination-{nomination_id}"


def submit_nomination(
    current: Nomination | None,
    command: SubmitNomination,
    form_violations: Iterable[FieldViolation],
    expected_nominee_kind: str,
) -> list[NewEvent]:
    """Decide NominationSubmitted, or refuse with every problem at once."""
    if current is not None:
        raise AlreadyExists(f"nomination {command.nomination_id} already exists")
    violations = list(_nominee_violations(command.nominee, expected_nominee_kind))
    violations += form_violations
    if violations:
        raise InvalidArgument(
            f"the nomination has {len(violations)} invalid field(s); nothing was stored",
            violations,
        )
    return [
        NewEvent(
            NOMINATION_SUBMITTED,
            {
                "nomination_id": command.nomination_id,
                "campaign_id": command.campaign_id,
                "category": command.category,
                "nominee": {
                    "kind": command.nominee.kind,
                    "name": command.nominee.name,
                    "organization_id": command.nominee.organization_id,
                },
                "fields": dict(command.fields),
            },
        )
    ]


def _nominee_violations(nominee: Nominee, expected_kind: str) -> Iterable[FieldViolation]:
    if not nominee.name.strip():
        yield FieldViolation("nominee.name", "the nominee's name is required")
    if not nominee.organization_id.strip():
        yield FieldViolation(
            "nominee.organization_id", "the nominating organization is required"
        )
    if nominee.kind != expected_kind:
        yield FieldViolation(
            "nominee.kind",
            f"this category nominates a {expected_kind!r}, not {nominee.kind!r}",
        )


def fold(events: Iterable[RecordedEvent]) -> Nomination | None:
    state: Nomination | None = None
    for event in events:
        state = apply(state, event)
    return state


def apply(state: Nomination | None, event: RecordedEvent) -> Nomination | None:
    if event.type == NOMINATION_SUBMITTED:
        return _submitted(event.payload, event)
    return state if state is None else replace(state, version=event.version)


def _submitted(payload: Mapping[str, Any], event: RecordedEvent) -> Nomination:
    nominee = payload["nominee"]
    return Nomination(
        nomination_id=payload["nomination_id"],
        campaign_id=payload["campaign_id"],
        category=payload["category"],
        nominee=Nominee(nominee["kind"], nominee["name"], nominee["organization_id"]),
        fields=dict(payload["fields"]),
        status="submitted",
        version=event.version,
        submitted_at=event.recorded_at,
        submitted_by=event.actor.id,
    )
