"""Who does what in a campaign: the one set of rules every service applies.

Each question has a `may_…`/`…s` answer (a bool) and a `require_…` form that
raises PermissionDenied naming who may, so a refused caller learns whom to
ask. The answers come from the definition (organizer, co_organizers,
nominators, routing, reporting); facts about the acting organization (its
kind, hospital, jurisdiction: intake's registry) are passed in. Pure.

Roles are `laurel.auth`'s: an organizer acts for the organization in its
token, a nominator for its organization, a journalist (JOURNALIST, a role
`laurel.auth` does not know yet) for its newspaper.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from laurel.campaigns.schema import CampaignDefinition, Receiver, Route
from laurel.campaigns.vocabulary import ACTION_NAMES
from laurel.envelope import Actor
from laurel.errors import FailedPrecondition, PermissionDenied

ORGANIZER = "organizer"
NOMINATOR = "nominator"
JOURNALIST = "journalist"
RULE_ROUTING = "routing"


# -- organizing -----------------------------------------------------------------


def organizes(definition: CampaignDefinition, actor: Actor) -> bool:
    """An organizer of one of the campaign's organizing organizations (never
    a co-organizer: see `may_organize`)."""
    return (actor.role == ORGANIZER
            and actor.organization_id in definition.organizer.organization_ids)


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


def co_organizes(definition: CampaignDefinition, actor: Actor,
                 stage: str | None = None) -> bool:
    """An organizer of a co-organizing organization (of `stage`, if given)."""
    co = definition.co_organizer(actor.organization_id)
    return (actor.role == ORGANIZER and co is not None
            and (stage is None or stage in co.stages))


def require_co_organizer_of(definition: CampaignDefinition, actor: Actor,
                            stage: str | None = None) -> None:
    if not co_organizes(definition, actor, stage):
        raise PermissionDenied(f"{_who(actor)} does not co-organize "
                               f"{stage + ' of ' if stage else ''}{definition.id}; "
                               f"{_organizers(definition)}")


def may_organize(definition: CampaignDefinition, actor: Actor, action: str) -> bool:
    """The campaign's organizers may do every organizer's act; a co-organizer
    the acts that the stages it co-organizes permit (henan-2021's newspaper:
    interviews, and panels, rounds, scoring and decisions in the evaluation)."""
    if organizes(definition, actor):
        return True
    co = definition.co_organizer(actor.organization_id)
    return actor.role == ORGANIZER and co is not None and any(
        action in stage.permits for stage in definition.stages if stage.key in co.stages)


def require_organizing(definition: CampaignDefinition, actor: Actor, action: str) -> None:
    if not may_organize(definition, actor, action):
        raise PermissionDenied(f"{ACTION_NAMES.get(action, action)} in {definition.id} "
                               f"is not for {_who(actor)}; {_organizers(definition)}")


# -- receiving ------------------------------------------------------------------


def receives(definition: CampaignDefinition, actor: Actor,
             receiver_id: str | None = None) -> bool:
    """An organizer of a receiving organization (of `receiver_id`, the
    receiver on a nomination's route, if given)."""
    ids = [r.organization_id for r in definition.routing.receivers]
    return actor.role == ORGANIZER and actor.organization_id in ids and (
        receiver_id is None or actor.organization_id == receiver_id)


def require_receiver(definition: CampaignDefinition, actor: Actor,
                     receiver_id: str | None = None) -> Receiver:
    """The receiver `actor` acts for; refused naming who receives."""
    if receives(definition, actor, receiver_id):
        found = definition.routing.receiver(actor.organization_id)
        assert found is not None
        return found
    named = (definition.routing.receivers if receiver_id is None else
             [r for r in definition.routing.receivers if r.organization_id == receiver_id])
    raise PermissionDenied(
        f"{_who(actor)} does not receive "
        f"{'this nomination' if receiver_id else definition.id + ' nominations'}; "
        f"{_receivers(named) or receiver_id} receives "
        f"{'it' if receiver_id else 'them'}")


# -- nominating and routing -----------------------------------------------------


@dataclass(frozen=True)
class NominatingOrganization:
    """What intake's registry knows of the organization that nominates."""

    organization_id: str
    kind: str  # hospital, department, ward
    hospital_id: str  # its own id for a hospital
    provincial_level: bool = False
    jurisdiction_id: str = ""  # the local health commission of its hospital


@dataclass(frozen=True)
class RouteDecision:
    """Where a nomination goes: endorsed first by `endorser_id` (its local
    commission; "" when it goes straight), received by `receiver`."""

    route: Route
    receiver: Receiver
    endorser_id: str = ""

    @property
    def direct(self) -> bool:
        return not self.endorser_id


def route_for(definition: CampaignDefinition, organization: NominatingOrganization
              ) -> RouteDecision:
    """The route of `organization`'s nominations; PermissionDenied if it does
    not nominate in this campaign, naming who does."""
    nominators = definition.nominators
    if organization.kind not in nominators.kinds:
        raise PermissionDenied(
            f"in {definition.id} {_nominators(definition)} nominate; "
            f"{organization.organization_id} is a {organization.kind}")
    if nominators.within and organization.hospital_id != nominators.within:
        raise PermissionDenied(
            f"{definition.id} is {nominators.within}'s own campaign: "
            f"{_nominators(definition)} nominate; {organization.organization_id} "
            f"belongs to {organization.hospital_id or 'no hospital'}")
    route = next(r for r in definition.routing.routes
                 if r.takes(organization.kind, organization.provincial_level))
    receiver = definition.routing.receiver(route.receiver)
    assert receiver is not None  # the schema checks every route's receiver
    if route.endorsed_by is None:
        return RouteDecision(route, receiver)
    if not organization.jurisdiction_id:
        raise FailedPrecondition(RULE_ROUTING, (
            f"{organization.organization_id}'s nominations in {definition.id} go "
            "through its local health commission, and none is registered for it"),
            organization.organization_id)
    return RouteDecision(route, receiver, organization.jurisdiction_id)


def may_nominate(definition: CampaignDefinition, actor: Actor,
                 organization: NominatingOrganization) -> bool:
    try:
        require_nominator(definition, actor, organization)
    except (PermissionDenied, FailedPrecondition):
        return False
    return True


def require_nominator(definition: CampaignDefinition, actor: Actor,
                      organization: NominatingOrganization) -> RouteDecision:
    """`actor` nominates for `organization` (its own), which nominates in this
    campaign; the route its nomination takes."""
    if actor.role != NOMINATOR:
        raise PermissionDenied(f"nominating in {definition.id} is for "
                               f"{_nominators(definition)}, not the {actor.role} role")
    if actor.organization_id != organization.organization_id:
        raise PermissionDenied(f"{actor.id} nominates for "
                               f"{actor.organization_id or 'no organization'}, not for "
                               f"{organization.organization_id}")
    return route_for(definition, organization)


# -- stage-2 reporting ----------------------------------------------------------


def reports(definition: CampaignDefinition, actor: Actor,
            evidence_kind: str | None = None) -> bool:
    """A journalist of a reporting organization, or an organizer of it (the
    co-organizing newspaper itself), attaching one of the reporting kinds."""
    reporting = definition.reporting
    return (reporting is not None
            and actor.role in (JOURNALIST, ORGANIZER)
            and actor.organization_id in reporting.organization_ids
            and (evidence_kind is None or evidence_kind in reporting.evidence_kinds))


def require_reporter(definition: CampaignDefinition, actor: Actor,
                     evidence_kind: str) -> None:
    if reports(definition, actor, evidence_kind):
        return
    reporting = definition.reporting
    if reporting is None:
        raise PermissionDenied(f"{definition.id} has no stage-2 reporting: nobody "
                               "attaches interview articles or reports")
    orgs = ", ".join(reporting.organization_ids)
    if evidence_kind not in reporting.evidence_kinds:
        raise PermissionDenied(f"reporters attach {', '.join(reporting.evidence_kinds)}"
                               f" in {definition.id}, not {evidence_kind!r}")
    raise PermissionDenied(f"{_who(actor)} does not report on {definition.id}; "
                           f"journalists of {orgs} and {orgs} itself attach "
                           f"{' and '.join(f'{k}s' for k in reporting.evidence_kinds)}")


# -- naming who may -------------------------------------------------------------


def _who(actor: Actor) -> str:
    return f"{actor.id} ({actor.role} of {actor.organization_id or 'no organization'})"


def _organizers(definition: CampaignDefinition) -> str:
    text = f"its organizers are from {', '.join(definition.organizer.organization_ids)}"
    for co in definition.organizer.co_organizers:
        text += f"; {co.organization_id} co-organizes {', '.join(co.stages)}"
    return text


def _receivers(receivers: Iterable[Receiver]) -> str:
    return ", ".join(f"{r.organization_id} ({r.name_zh})" for r in receivers)


def _nominators(definition: CampaignDefinition) -> str:
    kinds = " and ".join(f"{k}s" for k in definition.nominators.kinds)
    within = definition.nominators.within
    return f"the {kinds} of {within}" if within else kinds
