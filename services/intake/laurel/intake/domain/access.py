"""Who may act on, or see, which nomination: the data-scoped half of authorization.

Which role may call what is the policy table's (`laurel.policy`, checked
before a call reaches intake). What the table cannot know needs the data: a
nominator acts only for their own hospital (or one of its departments), an
endorser only in their own jurisdiction (the route a nomination holds; see
`nomination`), only the provincial center receives, and an organizer only
for a campaign they organize (`laurel.campaigns.access`). Whoever may not see
a nomination is told it does not exist.
"""

from __future__ import annotations

from laurel.envelope import Actor
from laurel.errors import NotFound, PermissionDenied
from laurel.intake.domain.commands import Nominee
from laurel.intake.domain.nomination import Nomination
from laurel.intake.domain.organizations import Placement

SEES_EVERYTHING = ("organizer", "auditor", "service")


def require_nominator_of(actor: Actor, placement: Placement, nominee: Nominee) -> None:
    """A nominator nominates only for their own hospital (or its department)."""
    if actor.organization_id not in (placement.hospital_id, nominee.organization_id):
        raise PermissionDenied(
            f"{actor.id} nominates for {actor.organization_id or 'no organization'}, "
            f"not for {placement.hospital_id}")


def require_center(actor: Actor, center_id: str) -> None:
    if actor.organization_id != center_id:
        raise PermissionDenied(f"only the provincial center ({center_id}) "
                               "receives nominations")


def own(actor: Actor, current: Nomination | None) -> Nomination:
    """The nomination, if the caller's organization nominated it (or acts on it)."""
    if current is None or (actor.role == "nominator" and actor.organization_id not in (
            current.hospital_id, current.nominee.organization_id)):
        raise NotFound("no such nomination", field="nomination_id")
    return current


def may_read(actor: Actor, nomination: Nomination) -> bool:
    if actor.role in SEES_EVERYTHING:
        return True
    if actor.role == "nominator":
        return actor.organization_id in (nomination.hospital_id,
                                         nomination.nominee.organization_id)
    if actor.role == "endorser":
        return actor.organization_id == nomination.jurisdiction_id
    return False


def list_scope(actor: Actor, asked_jurisdiction: str) -> dict[str, str]:
    """The filters that narrow a listing to what the caller may read."""
    if actor.role in SEES_EVERYTHING:
        return {}
    if actor.role == "nominator":
        return {"hospital_id": actor.organization_id}
    if actor.role == "endorser":
        if asked_jurisdiction and asked_jurisdiction != actor.organization_id:
            raise PermissionDenied(
                f"{actor.id} lists nominations of {actor.organization_id} only")
        return {"jurisdiction_id": actor.organization_id}
    raise PermissionDenied(f"the {actor.role} role does not list nominations")
