"""Stage 4: experience-sharing forums by region and by theme, for the winners.

Who is invited follows from published results only: a nomination is invited
when a published round awarded it (a prize or a tier) and it matches the
forum's region (the nominee's jurisdiction) or theme (its category). The
invitation is one event naming every invitee; the notification service turns
it into one invitation per nominee.

Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from laurel.envelope import NewEvent, parse_time
from laurel.errors import AlreadyExists, FailedPrecondition, FieldViolation, InvalidArgument
from laurel.review.domain import rounds
from laurel.review.domain.events import FORUM_INVITATIONS_ISSUED
from laurel.review.domain.facts import Nomination

GROUPINGS = ("region", "theme")
RULE_NOT_PUBLISHED = "results_not_published"
RULE_NO_INVITEES = "no_invitees"


@dataclass(frozen=True)
class ForumPlan:
    forum_id: str
    campaign_id: str
    grouping: str  # region | theme
    label: str  # the region's or the theme's name, as invitations show it
    title: str
    starts_at: str  # the envelope's UTC time format
    venue: str
    round_ids: tuple[str, ...]
    jurisdiction_ids: tuple[str, ...] = ()  # region: whose winners
    categories: tuple[str, ...] = ()  # theme: which categories' winners


def issue_invitations(
    already_issued: bool, plan: ForumPlan, published: Iterable[rounds.ReviewRound | None],
    nominations: Mapping[str, Nomination],
) -> list[NewEvent]:
    """ForumInvitationsIssued, or a refusal naming what is missing."""
    if already_issued:
        raise AlreadyExists(f"forum {plan.forum_id} has sent its invitations")
    _check_plan(plan)
    winners = _winners(plan, list(published))
    invitees = sorted(nid for nid in winners if _matches(plan, nominations.get(nid)))
    if not invitees:
        raise FailedPrecondition(
            RULE_NO_INVITEES, f"no awarded nomination of rounds {', '.join(plan.round_ids)} "
            f"matches {plan.grouping} {plan.label!r}", plan.forum_id)
    return [NewEvent(FORUM_INVITATIONS_ISSUED, {
        "forum_id": plan.forum_id, "campaign_id": plan.campaign_id,
        "grouping": plan.grouping, plan.grouping: plan.label, "title": plan.title.strip(),
        "starts_at": plan.starts_at, "venue": plan.venue.strip(),
        "round_ids": list(plan.round_ids), "nomination_ids": invitees,
    })]


def _check_plan(plan: ForumPlan) -> None:
    found = []
    if plan.grouping not in GROUPINGS:
        found.append(FieldViolation("grouping", f"expected one of {GROUPINGS}"))
    for name in ("forum_id", "label", "title", "venue"):
        if not getattr(plan, name).strip():
            found.append(FieldViolation(name, "required"))
    try:
        parse_time(plan.starts_at)
    except ValueError:
        found.append(FieldViolation("starts_at", "when the forum starts is required"))
    if not plan.round_ids:
        found.append(FieldViolation("round_ids", "name the rounds whose winners attend"))
    if plan.grouping == "region" and not plan.jurisdiction_ids:
        found.append(FieldViolation("jurisdiction_ids", "a regional forum names its "
                                    "jurisdictions"))
    if plan.grouping == "theme" and not plan.categories:
        found.append(FieldViolation("categories", "a thematic forum names its categories"))
    if found:
        raise InvalidArgument(f"the forum has {len(found)} problem(s)", found)


def _winners(plan: ForumPlan, published: list[rounds.ReviewRound | None]) -> set[str]:
    winners: set[str] = set()
    for round_id, state in zip(plan.round_ids, published, strict=True):
        if state is None or state.published_version is None:
            raise FailedPrecondition(RULE_NOT_PUBLISHED, f"round {round_id} has no "
                                     "published results yet", round_id)
        if state.campaign_id != plan.campaign_id:
            raise InvalidArgument("a forum invites from one campaign", [FieldViolation(
                "round_ids", f"{round_id} belongs to {state.campaign_id}")])
        winners |= {nid for nid, d in state.decisions.items()
                    if d.outcome in (rounds.AWARD, rounds.TIER)}
    return winners


def _matches(plan: ForumPlan, nomination: Nomination | None) -> bool:
    if nomination is None:
        return False
    if plan.grouping == "region":
        return nomination.jurisdiction_id in plan.jurisdiction_ids
    return nomination.category in plan.categories
