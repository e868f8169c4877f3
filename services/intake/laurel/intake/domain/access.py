"""Who may act on, or see, which nomination: the data-scoped half of authorization.

Which role may call what is the policy table's (`laurel.policy`, checked
before a call reaches intake). What the table cannot know needs the data,
and comes from the nomination's campaign (`laurel.campaigns.access`): a
nominator acts for their own organization when the campaign lets its kind
nominate, an endorser for the commission on a nomination's route, an
organizer only in a campaign their organization organizes, co-organizes or
receives for, a journalist only in a campaign their newspaper reports on.

Whoever may not see a nomination is told it does not exist, whatever they
asked to do with it (`Hidden`: NOT_FOUND to them, the real reason to the
security log), so a refusal never confirms that a nomination exists or
names who owns it.
"""

from __future__ import annotations

from collections.abc import Iterable

from laurel.campaigns import CampaignDefinition
from laurel.campaigns import access as campaign_access
from laurel.envelope import Actor
from laurel.errors import Hidden, NotFound, PermissionDenied
from laurel.intake.domain.commands import Nominee
from laurel.intake.domain.nomination import Nomination
from laurel.intake.domain.organizations import Placement

SEES_EVERYTHING = ("auditor", "service")


def require_nominator_of(actor: Actor, placement: Placement, nominee: Nominee) -> None:
    """A nominator nominates only for their own hospital (or its department)."""
    if actor.organization_id not in (placement.hospital_id, nominee.organization_id):
        raise PermissionDenied(
            f"{actor.id} nominates for {actor.organization_id or 'no organization'}, "
            f"not for {placement.hospital_id}")


def acts_in(definition: CampaignDefinition, actor: Actor) -> bool:
    """An organizer whose organization organizes, co-organizes or receives in
    the campaign; a journalist whose newspaper reports on it."""
    if actor.role == campaign_access.JOURNALIST:
        return campaign_access.reports(definition, actor)
    return actor.role == campaign_access.ORGANIZER and (
        campaign_access.organizes(definition, actor)
        or campaign_access.co_organizes(definition, actor)
        or campaign_access.receives(definition, actor))


def may_read(actor: Actor, nomination: Nomination, definition: CampaignDefinition) -> bool:
    if actor.role in SEES_EVERYTHING:
        return True
    if actor.role == "nominator":
        return actor.organization_id in (nomination.hospital_id,
                                         nomination.nominee.organization_id)
    if actor.role == "endorser":
        return bool(actor.organization_id) and actor.organization_id in (
            nomination.jurisdiction_id,
            nomination.route.organization_id if nomination.route.to == "commission" else "")
    return acts_in(definition, actor)


def visible(actor: Actor, found: Nomination | None, nomination_id: str,
            definition: CampaignDefinition | None, what: str = "") -> Nomination:
    """The nomination, if it exists and `actor` may see it; else NotFound,
    the same words either way (`Hidden` keeps the real reason)."""
    message = f"no nomination {nomination_id!r}{what}"
    if found is None or definition is None:
        raise NotFound(message, field="nomination_id")
    if not may_read(actor, found, definition):
        raise Hidden(message, (
            f"{actor.id} ({actor.role} of {actor.organization_id or 'no organization'}) "
            f"may not see nomination {nomination_id} of {found.hospital_id} in "
            f"{found.campaign_id} (routed to {found.route.organization_id})"),
            field="nomination_id")
    return found


def own(actor: Actor, current: Nomination) -> Nomination:
    """A nomination the caller's organization nominated (it must be visible
    to them already: see `visible`)."""
    if actor.role == "nominator" and actor.organization_id not in (
            current.hospital_id, current.nominee.organization_id):
        raise PermissionDenied(f"{actor.id} does not act for {current.hospital_id}")
    return current


def list_scope(actor: Actor, asked_jurisdiction: str, asked_campaign: str,
               definitions: Iterable[CampaignDefinition]) -> dict[str, object]:
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
    if actor.role in (campaign_access.ORGANIZER, campaign_access.JOURNALIST):
        mine = sorted(d.id for d in definitions if acts_in(d, actor))
        if asked_campaign and asked_campaign not in mine:
            raise PermissionDenied(
                f"{actor.id} ({actor.organization_id or 'no organization'}) lists "
                f"nominations of {', '.join(mine) or 'no campaign'} only")
        return {"campaign_ids": [asked_campaign] if asked_campaign else mine}
    raise PermissionDenied(f"the {actor.role} role does not list nominations")
