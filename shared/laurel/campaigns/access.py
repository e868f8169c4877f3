"""Who organizes a campaign: the one rule every service applies the same way."""

from __future__ import annotations

from laurel.campaigns.schema import CampaignDefinition
from laurel.envelope import Actor
from laurel.errors import PermissionDenied

ORGANIZER = "organizer"


def organizes(definition: CampaignDefinition, actor: Actor) -> bool:
    allowed = definition.organizer.organization_ids
    return actor.role == ORGANIZER and (
        not allowed or actor.organization_id in allowed)


def require_organizer_of(definition: CampaignDefinition, actor: Actor) -> None:
    """Refuse an organizer of another campaign (or anyone else) by name."""
    if organizes(definition, actor):
        return
    if actor.role != ORGANIZER:
        raise PermissionDenied(f"this is for the organizers of {definition.id}, "
                               f"not the {actor.role} role")
    raise PermissionDenied(
        f"{actor.id} ({actor.organization_id or 'no organization'}) does not organize "
        f"{definition.id}; its organizers are from "
        f"{', '.join(definition.organizer.organization_ids)}")
