"""Organizations: who may nominate, who endorses whom, and the routing between.

A hospital's nomination goes to the local health commission of its
jurisdiction, which endorses or returns it and forwards it to the provincial
center; provincial-level hospitals submit straight to the center. That
routing is data here, registered as events, so an auditor can see which
hospital belonged where when a nomination moved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from laurel.envelope import NewEvent, RecordedEvent
from laurel.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound

ORGANIZATION_REGISTERED = "OrganizationRegistered"
KINDS = ("center", "commission", "hospital", "department", "ward")


@dataclass(frozen=True)
class Organization:
    organization_id: str
    kind: str
    name: str
    parent_id: str = ""
    jurisdiction_id: str = ""
    provincial_level: bool = False
    version: int = 0


@dataclass(frozen=True)
class Route:
    """Where a submission goes first: a commission, or straight to the center."""

    to: str
    organization_id: str


def stream_id(organization_id: str) -> str:
    return f"organization-{organization_id}"


def register_organization(
    existing: Organization | None,
    candidate: Organization,
    lookup: dict[str, Organization],
) -> list[NewEvent]:
    """Decide OrganizationRegistered; parents and jurisdictions must exist already."""
    if existing is not None:
        raise AlreadyExists(f"organization {candidate.organization_id!r} is registered")
    violations = list(_violations(candidate, lookup))
    if violations:
        raise InvalidArgument("the organization cannot be registered", violations)
    return [NewEvent(ORGANIZATION_REGISTERED, {
        "organization_id": candidate.organization_id,
        "kind": candidate.kind,
        "name": candidate.name,
        "parent_id": candidate.parent_id,
        "jurisdiction_id": candidate.jurisdiction_id,
        "provincial_level": candidate.provincial_level,
    })]


def _violations(org: Organization, lookup: dict[str, Organization]) -> Iterable[FieldViolation]:
    if not org.organization_id.strip():
        yield FieldViolation("organization_id", "an id is required")
    if not org.name.strip():
        yield FieldViolation("name", "a name is required")
    if org.kind not in KINDS:
        yield FieldViolation("kind", f"expected one of {KINDS}")
    if org.kind == "hospital" and not org.provincial_level:
        commission = lookup.get(org.jurisdiction_id)
        if commission is None or commission.kind != "commission":
            yield FieldViolation(
                "jurisdiction_id",
                "a hospital that is not provincial-level needs its local "
                "health commission, registered first",
            )
    if org.kind in ("department", "ward"):
        parent = lookup.get(org.parent_id)
        if parent is None or parent.kind != "hospital":
            yield FieldViolation("parent_id", "a department or ward needs its hospital")


def fold(events: Iterable[RecordedEvent]) -> Organization | None:
    state = None
    for event in events:
        if event.type == ORGANIZATION_REGISTERED:
            p = event.payload
            state = Organization(
                p["organization_id"], p["kind"], p["name"], p["parent_id"],
                p["jurisdiction_id"], p["provincial_level"], event.version,
            )
    return state


def hospital_of(org: Organization, lookup: dict[str, Organization]) -> Organization:
    """The hospital an organization belongs to (itself, for a hospital)."""
    if org.kind == "hospital":
        return org
    parent = lookup.get(org.parent_id)
    if parent is None or parent.kind != "hospital":
        raise NotFound(f"organization {org.organization_id!r} belongs to no hospital")
    return parent


def route_for(hospital: Organization, center_id: str) -> Route:
    if hospital.provincial_level:
        return Route("center", center_id)
    return Route("commission", hospital.jurisdiction_id)
