"""Organizations: who may nominate, who endorses whom, and the routing between.

Which organization nominates, who endorses and who receives is each
campaign's routing (`laurel.campaigns.access.route_for`); the facts it
needs about an organization (its kind, its hospital, that hospital's
jurisdiction and level) are registered here as events, so an auditor can
see which hospital belonged where when a nomination moved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from laurel.envelope import Aggregate, NewEvent, RecordedEvent
from laurel.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound
from laurel.intake.domain import events

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
    """Where a submission goes first: a local commission that endorses it
    (`to` "commission"), or straight to the organization that receives it
    (`to` "center": a provincial center, a hospital's own office, as the
    campaign's routing says); `receiver_id` receives it in the end."""

    to: str  # "commission" or "center"
    organization_id: str
    receiver_id: str = ""


@dataclass(frozen=True)
class Placement:
    """Where a nominating hospital sits: looked up before deciding."""

    hospital_id: str
    jurisdiction_id: str
    route: Route


def stream_id(organization_id: str) -> str:
    return f"organization-{organization_id}"


def register_organization(
    existing: Organization | None,
    candidate: Organization,
    lookup: Mapping[str, Organization],
) -> list[NewEvent]:
    """Decide OrganizationRegistered; parents and jurisdictions must exist already."""
    if existing is not None:
        raise AlreadyExists(f"organization {candidate.organization_id!r} is registered")
    violations = list(_violations(candidate, lookup))
    if violations:
        raise InvalidArgument("the organization cannot be registered", violations)
    return [events.organization_registered(candidate)]


def _violations(org: Organization, lookup: Mapping[str, Organization]
                ) -> Iterable[FieldViolation]:
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


def evolve(state: Organization | None, event: RecordedEvent) -> Organization | None:
    if event.type != events.ORGANIZATION_REGISTERED:
        return state
    p = event.payload
    return Organization(p["organization_id"], p["kind"], p["name"], p["parent_id"],
                        p["jurisdiction_id"], p["provincial_level"], event.version)


ORGANIZATION = Aggregate("organization", evolve)


def hospital_of(org: Organization, lookup: Mapping[str, Organization]) -> Organization:
    """The hospital an organization belongs to (itself, for a hospital)."""
    if org.kind == "hospital":
        return org
    parent = lookup.get(org.parent_id)
    if parent is None or parent.kind != "hospital":
        raise NotFound(f"organization {org.organization_id!r} belongs to no hospital")
    return parent
