"""Review's use cases: one function per command or query.

Each takes its command, the unit of work and what it needs besides
(`definitions`, `topics`, `now`: the bootstrap injects them by name), loads
streams through the unit, lets the domain decide and appends what it decided.
A refusal raises before anything is appended, so it stores nothing.

Streams are read before the write lock: the unit checks at the write that
none moved on, and `EventStore.run` decides again if one did. Read-model rows
a rule depends on (which nominations are received or ineligible, the result
version scoring reported) are not versioned streams, so a handler reads them
after `uow.lock()`, serialized with every other writer.

Who may call which RPC at all is the policy table's (`laurel.policy`). What
is checked here depends on the data: an organizer of the campaign (its
organizers, and a co-organizer for the acts of the stages it co-organizes:
`laurel.campaigns.access.may_organize`) acts on its panels and rounds, a
reviewer declares, recuses and scores only for themself, sees only their
part of a round, and others' reviews only when the round allows
(`rounds.visible_reviews`).

Every act that belongs to a stage is checked against the campaign clock
(`laurel.campaigns.stages.require_stage`): panels, recusals, rounds, scores
and decisions in the expert evaluation, results and forum invitations in the
stage that permits them. The clock is the one intake announced, as review
noted it (`clocks`); outside its stage an act is FAILED_PRECONDITION naming
the stage and its dates. What an act appends carries the campaign time it
counts at (`EventMetadata.campaign_time`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from laurel.auth import event_metadata
from laurel.campaigns.access import require_organizing
from laurel.campaigns.clock import CampaignClocks, stamped
from laurel.campaigns.in_force import DefinitionsInForce, category_of
from laurel.campaigns.schema import CampaignDefinition
from laurel.campaigns.stages import require_stage
from laurel.config import Topics
from laurel.envelope import Caller, NewEvent, RecordedEvent
from laurel.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from laurel.eventstore import Publication
from laurel.review import read_models
from laurel.review.domain import assignment, campaign, commands, events, facts, forums, rounds
from laurel.review.domain.facts import Nomination
from laurel.unit_of_work import UnitOfWork

REVIEWER = "reviewer"
RULE_NO_RESULT = "no_result"
RULE_STALE = "decisions_stale"
RULE_INELIGIBLE = "ineligible"
# The acts of `laurel.campaigns.vocabulary.ACTIONS` review does.
FORM_PANELS, RUN_ROUNDS, SCORE, DECIDE = "form_panels", "run_rounds", "score", "decide"
PUBLISH_RESULTS, INVITE_TO_FORUMS = "publish_results", "invite_to_forums"

Clock = Callable[[], datetime]


# -- reviewers, panels, assignment ---------------------------------------------------


def register_reviewer(cmd: commands.RegisterReviewer, uow: UnitOfWork, *,
                      topics: Topics) -> int:
    state = uow.load(events.reviewers_stream(), assignment.ASSIGNMENT)
    decided = assignment.register_reviewer(state or assignment.AssignmentState(),
                                           cmd.reviewer, cmd.contact)
    return _append_reviewers(uow, cmd.caller, decided, topics)


def declare_conflict(cmd: commands.DeclareConflict, uow: UnitOfWork, *,
                     topics: Topics) -> int:
    actor = cmd.caller.actor
    if actor.role == REVIEWER and actor.id != cmd.reviewer_id:
        raise PermissionDenied("an organizer, or the reviewer themself, declares "
                               "a conflict")
    state = uow.load(events.reviewers_stream(), assignment.ASSIGNMENT,
                     expected_version=cmd.expected_version)
    decided = assignment.declare_conflict(state or assignment.AssignmentState(),
                                          cmd.reviewer_id, cmd.subject_id, cmd.reason)
    return _append_reviewers(uow, cmd.caller, decided, topics)


def form_panel(cmd: commands.FormPanel, uow: UnitOfWork, *,
               definitions: DefinitionsInForce, clocks: CampaignClocks,
               topics: Topics) -> int:
    spec = cmd.spec
    definition, at = _act(uow, cmd.caller, spec.campaign_id, FORM_PANELS, definitions,
                          clocks, organizing=True)
    category_of(definition, spec.category)
    spec = replace(spec, panel_id=spec.panel_id or spec.round_id,
                   mix=campaign.panel_mix(definition, spec.category, spec.mix))
    state = _assignment(uow, spec.round_id)
    if state.panel_of_round(spec.round_id) is not None:
        raise AlreadyExists(f"round {spec.round_id} has its panel already")
    decided = assignment.form_panel(state, spec)
    return _append_round(uow, cmd.caller, spec.round_id, decided, topics,
                         at)[-1].version


def assign_reviewers(cmd: commands.AssignReviewers, uow: UnitOfWork, *,
                     definitions: DefinitionsInForce, clocks: CampaignClocks,
                     topics: Topics) -> list[dict[str, Any]]:
    """All or nothing; nominees already complete are left as they are."""
    _, at = _round_act(uow, cmd.caller, cmd.round_id, FORM_PANELS, definitions, clocks,
                       organizing=True)
    state = _assignment(uow, cmd.round_id)
    panel = state.round_panel(cmd.round_id)
    current = _round(uow, cmd.round_id, cmd.expected_version)
    uow.lock()  # which nominations are received and eligible: read-model rows
    nominees = _nominees(uow, panel, cmd.nomination_ids, current)
    decided = assignment.assign_reviewers(
        state, panel.panel_id, [n.conflict_subject() for n in nominees])
    _append_round(uow, cmd.caller, cmd.round_id, decided, topics, at)
    return [e.payload for e in decided]


def recuse(cmd: commands.Recuse, uow: UnitOfWork, *, definitions: DefinitionsInForce,
           clocks: CampaignClocks, topics: Topics) -> dict[str, Any]:
    """The reviewer steps out with a reason; the replacement's assignment."""
    actor = cmd.caller.actor
    reviewer_id = cmd.reviewer_id or actor.id
    if actor.role == REVIEWER and actor.id != reviewer_id:
        raise PermissionDenied("a reviewer recuses themself; an organizer may "
                               "recuse a reviewer")
    _, at = _round_act(uow, cmd.caller, cmd.round_id, FORM_PANELS, definitions, clocks,
                       organizing=actor.role != REVIEWER)
    current = _round(uow, cmd.round_id, cmd.expected_version)
    if current is not None and current.status == rounds.CLOSED:
        raise FailedPrecondition(rounds.RULE_ROUND_CLOSED, f"round {cmd.round_id} "
                                 "is closed", cmd.round_id)
    state = _assignment(uow, cmd.round_id)
    panel = state.round_panel(cmd.round_id)
    nominee = _nomination(uow, cmd.nomination_id)
    decided = assignment.recuse(state, panel.panel_id, nominee.conflict_subject(),
                                reviewer_id, cmd.reason)
    _append_round(uow, cmd.caller, cmd.round_id, decided, topics, at)
    return decided[-1].payload


def explain_assignment(query: commands.ExplainAssignment, uow: UnitOfWork, *,
                       definitions: DefinitionsInForce
                       ) -> tuple[assignment.ReviewerExplanation, ...]:
    _require_round_organizer(uow, query.caller, query.round_id, definitions, FORM_PANELS)
    state = _assignment(uow, query.round_id)
    panel = state.round_panel(query.round_id)
    nominee = _nomination(uow, query.nomination_id)
    return assignment.explain_assignment(state, panel.panel_id, nominee.conflict_subject())


# -- rounds ------------------------------------------------------------------------------


def open_round(cmd: commands.OpenRound, uow: UnitOfWork, *,
               definitions: DefinitionsInForce, clocks: CampaignClocks, topics: Topics,
               now: Clock) -> int:
    definition, at = _round_act(uow, cmd.caller, cmd.round_id, RUN_ROUNDS, definitions,
                                clocks, organizing=True)
    if cmd.deadline <= now():
        raise InvalidArgument("the deadline has passed", [FieldViolation(
            "deadline", "must be in the future")])
    panel = _assignment(uow, cmd.round_id).round_panel(cmd.round_id)
    criteria = campaign.criteria(definition, panel.category)
    ids = cmd.nomination_ids or tuple(sorted(
        nid for nid, assigned in panel.assignments.items() if assigned))
    decided = rounds.open_round(
        _round(uow, cmd.round_id, cmd.expected_version), rounds.RoundSpec(
            cmd.round_id, panel.campaign_id, panel.category, cmd.number or 1,
            cmd.deadline, criteria, ids, cmd.previous_round_id))
    return _append_round(uow, cmd.caller, cmd.round_id, decided, topics, at)[-1].version


def submit_review(cmd: commands.SubmitReview, uow: UnitOfWork, *,
                  definitions: DefinitionsInForce, clocks: CampaignClocks,
                  topics: Topics, now: Clock) -> tuple[int, bool]:
    """(form version, changed): the caller's form, or its amendment."""
    state = _round(uow, cmd.round_id, cmd.expected_version)
    if state is None:
        raise NotFound(f"no round {cmd.round_id!r}", field="round_id")
    _, at = _act(uow, cmd.caller, state.campaign_id, SCORE, definitions, clocks,
                 subject=cmd.round_id)
    reviewer_id = cmd.caller.actor.id
    decided = rounds.record_score(state, cmd.nomination_id, reviewer_id, cmd.scores,
                                  cmd.comment, now())
    if not decided:  # the same form again
        own = state.form(cmd.nomination_id, reviewer_id)
        return (own.version if own else 0), False
    _append_round(uow, cmd.caller, cmd.round_id, decided, topics, at)
    return decided[0].payload["form_version"], True


def close_round(cmd: commands.CloseRound, uow: UnitOfWork, *,
                definitions: DefinitionsInForce, clocks: CampaignClocks, topics: Topics,
                now: Clock) -> dict[str, Any] | None:
    """The ReviewRoundClosed payload (what was outstanding); None if closed already."""
    _, at = _round_act(uow, cmd.caller, cmd.round_id, RUN_ROUNDS, definitions, clocks,
                       organizing=True)
    decided = rounds.close_round(_round(uow, cmd.round_id, cmd.expected_version), now(),
                                 cmd.reason)
    _append_round(uow, cmd.caller, cmd.round_id, decided, topics, at)
    return decided[0].payload if decided else None


def reopen_round(cmd: commands.ReopenRound, uow: UnitOfWork, *,
                 definitions: DefinitionsInForce, clocks: CampaignClocks, topics: Topics,
                 now: Clock) -> int:
    _, at = _round_act(uow, cmd.caller, cmd.round_id, RUN_ROUNDS, definitions, clocks,
                       organizing=True)
    decided = rounds.reopen_round(_round(uow, cmd.round_id, cmd.expected_version),
                                  cmd.reason, cmd.deadline, now())
    return _append_round(uow, cmd.caller, cmd.round_id, decided, topics, at)[-1].version


def remind_reviewers(cmd: commands.RemindReviewers, uow: UnitOfWork, *,
                     clocks: CampaignClocks, topics: Topics) -> int:
    """ReviewDeadlineReminderDue for reviewers with forms still to submit."""
    state = _round(uow, cmd.round_id)
    decided = rounds.reminders_due(state, cmd.at)
    if not decided or state is None:
        return 0
    at = clocks.now(uow, state.campaign_id)
    return len(_append_round(uow, cmd.caller, cmd.round_id, decided, topics, at))


# -- decisions, publication, forums ---------------------------------------------------


def record_decision(cmd: commands.RecordDecision, uow: UnitOfWork, *,
                    definitions: DefinitionsInForce, clocks: CampaignClocks,
                    topics: Topics) -> int:
    definition, at = _round_act(uow, cmd.caller, cmd.round_id, DECIDE, definitions,
                                clocks, organizing=True)
    state = rounds.opened(_round(uow, cmd.round_id, cmd.expected_version))
    uow.lock()  # the result version and the verdicts: read-model rows
    latest = read_models.result_version(uow.conn, cmd.round_id)
    version = cmd.result_version or latest
    decided = rounds.record_decision(state, cmd.nomination_id, cmd.outcome, cmd.tier,
                                     cmd.reason, version or 1)
    if version == 0 or version > latest:
        raise FailedPrecondition(
            RULE_NO_RESULT, f"scoring has reported result version {latest} "
            f"for round {cmd.round_id}, not {version}", cmd.round_id)
    if cmd.outcome != rounds.NOT_AWARDED:
        why = read_models.ineligible(uow.conn, [cmd.nomination_id])
        if why:
            raise FailedPrecondition(
                RULE_INELIGIBLE, f"{cmd.nomination_id} cannot be awarded: "
                f"{why[cmd.nomination_id]}", cmd.nomination_id)
    tiers = campaign.tier_keys(definition, state.category)
    if cmd.outcome == rounds.TIER and cmd.tier not in tiers:
        raise InvalidArgument("not a prize tier of the category", [
            FieldViolation("tier", f"expected one of {tiers}")])
    return _append_round(uow, cmd.caller, cmd.round_id, decided, topics, at)[-1].version


def publish_results(cmd: commands.PublishResults, uow: UnitOfWork, *,
                    definitions: DefinitionsInForce, clocks: CampaignClocks,
                    topics: Topics) -> tuple[int, int]:
    """(result version, decisions published): every decision at once."""
    _, at = _round_act(uow, cmd.caller, cmd.round_id, PUBLISH_RESULTS, definitions,
                       clocks, organizing=True)
    state = rounds.opened(_round(uow, cmd.round_id, cmd.expected_version))
    uow.lock()  # the result version: a read-model row
    latest = read_models.result_version(uow.conn, cmd.round_id)
    decided = rounds.publish_results(state, latest)
    if not decided:
        return latest, len(state.decisions)
    if latest == 0:
        raise FailedPrecondition(RULE_NO_RESULT, "scoring has reported no result for "
                                 f"round {cmd.round_id}", cmd.round_id)
    stale = sorted(d.nomination_id for d in state.decisions.values()
                   if d.result_version != latest)
    if stale:
        raise FailedPrecondition(
            RULE_STALE, f"result version {latest} came after the decisions on "
            f"{', '.join(stale)}: decide them again on it", cmd.round_id)
    _append_round(uow, cmd.caller, cmd.round_id, decided, topics, at)
    return latest, len(decided[0].payload["decisions"])


def issue_forum_invitations(cmd: commands.IssueForumInvitations, uow: UnitOfWork, *,
                            definitions: DefinitionsInForce, clocks: CampaignClocks,
                            topics: Topics) -> list[str]:
    """Invite the matching winners, once per forum; returns who was invited."""
    plan = cmd.plan
    if not plan.campaign_id:
        raise InvalidArgument("which campaign's forum?", [FieldViolation(
            "campaign_id", "required")])
    _, at = _act(uow, cmd.caller, plan.campaign_id, INVITE_TO_FORUMS, definitions, clocks,
                 organizing=True, subject=plan.forum_id)
    published = [_round(uow, round_id) for round_id in plan.round_ids]
    candidates = {nid for state in published if state is not None for nid in state.decisions}
    nominations = {nid: found for nid in sorted(candidates)
                   if (found := uow.load(events.nomination_stream(nid), facts.NOMINATION))}
    stream = events.forum_stream(plan.forum_id)
    decided = forums.issue_invitations(bool(uow.read(stream)), plan, published, nominations)
    uow.append(stream, decided, stamped(event_metadata(caller=cmd.caller), at),
               publish=Publication(topics.review))
    return list(decided[0].payload["nomination_ids"])


# -- what callers read -------------------------------------------------------------------


@dataclass(frozen=True)
class RoundView:
    round: rounds.ReviewRound
    manager: bool  # False: a reviewer's part of the round
    result_version: int
    ineligible: list[str]


@dataclass(frozen=True)
class ForReview:
    round: rounds.ReviewRound
    nomination: Nomination
    own: rounds.ReviewForm | None
    labels: dict[str, tuple[str, str]]  # criterion -> (zh, en)


def get_round(query: commands.GetRound, uow: UnitOfWork) -> RoundView:
    """The round; for organizers and auditors also its result version and
    exclusions; for a reviewer their nominations only, decisions once published."""
    state = _opened_round(uow, query.round_id)
    actor = query.caller.actor
    if actor.role == REVIEWER:
        mine = {row["nomination_id"] for row in read_models.assignments_of(
            uow.conn, actor.id, state.round_id)}
        if not mine:
            raise NotFound(f"you have no assignments in round {state.round_id}",
                           field="round_id")
        part = replace(
            state, nomination_ids=tuple(n for n in state.nomination_ids if n in mine),
            decisions=state.decisions if state.published_version is not None else {})
        return RoundView(part, False, 0, [])
    ineligible = read_models.ineligible(uow.conn, list(state.nomination_ids))
    return RoundView(state, True, read_models.result_version(uow.conn, query.round_id),
                     sorted(ineligible))


def list_my_assignments(query: commands.ListMyAssignments, uow: UnitOfWork
                        ) -> list[dict[str, Any]]:
    rows = read_models.assignments_of(uow.conn, query.caller.actor.id, query.round_id)
    for row in rows:
        known = read_models.nomination(uow.conn, row["nomination_id"])
        row["nominee_name"] = known.nominee_name if known else ""
        row["campaign_id"] = known.campaign_id if known else ""
        row["category"] = known.category if known else ""
    return rows


def get_nomination_for_review(query: commands.GetNominationForReview, uow: UnitOfWork,
                              *, definitions: DefinitionsInForce) -> ForReview:
    """A reviewer reads only what is assigned to them (else: not found)."""
    actor = query.caller.actor
    if actor.role == REVIEWER and not read_models.is_assigned(
            uow.conn, query.round_id, query.nomination_id, actor.id):
        raise NotFound(f"{query.nomination_id} is not among your assignments in "
                       f"round {query.round_id}", field="nomination_id")
    state = _opened_round(uow, query.round_id)
    if query.nomination_id not in state.nomination_ids:
        raise NotFound(f"{query.nomination_id} is not in round {query.round_id}",
                       field="nomination_id")
    labels = campaign.labels(definitions.require(uow, state.campaign_id), state.category)
    return ForReview(state, _nomination(uow, query.nomination_id),
                     state.form(query.nomination_id, actor.id), labels)


def get_reviews(query: commands.GetReviews, uow: UnitOfWork
                ) -> tuple[list[rounds.ReviewForm], int]:
    """(forms the caller may read, how many others' are withheld)."""
    state = _opened_round(uow, query.round_id)
    nid = query.nomination_id
    forms = [f for f in state.current_forms() if not nid or f.nomination_id == nid]
    actor = query.caller.actor
    if actor.role != REVIEWER:
        return forms, 0
    visible = [f for f in rounds.visible_reviews(state, actor.id)
               if not f.recused and (not nid or f.nomination_id == nid)]
    return visible, len(forms) - len(visible)


HANDLERS: dict[type[Any], Callable[..., Any]] = {
    commands.RegisterReviewer: register_reviewer,
    commands.DeclareConflict: declare_conflict,
    commands.FormPanel: form_panel,
    commands.AssignReviewers: assign_reviewers,
    commands.Recuse: recuse,
    commands.OpenRound: open_round,
    commands.SubmitReview: submit_review,
    commands.CloseRound: close_round,
    commands.ReopenRound: reopen_round,
    commands.RemindReviewers: remind_reviewers,
    commands.RecordDecision: record_decision,
    commands.PublishResults: publish_results,
    commands.IssueForumInvitations: issue_forum_invitations,
    commands.ExplainAssignment: explain_assignment,
    commands.GetRound: get_round,
    commands.ListMyAssignments: list_my_assignments,
    commands.GetNominationForReview: get_nomination_for_review,
    commands.GetReviews: get_reviews,
}


# -- state and checks --------------------------------------------------------------------


def _round(uow: UnitOfWork, round_id: str, expected_version: int | None = None
           ) -> rounds.ReviewRound | None:
    return uow.load(events.round_stream(round_id), rounds.ROUND,
                    expected_version=expected_version)


def _opened_round(uow: UnitOfWork, round_id: str) -> rounds.ReviewRound:
    state = _round(uow, round_id)
    if state is None or state.status == rounds.FORMING:
        raise NotFound(f"no open or closed round {round_id!r}", field="round_id")
    return state


def _assignment(uow: UnitOfWork, round_id: str) -> assignment.AssignmentState:
    """Who the reviewers are, with the panel of the round."""
    return assignment.combined(
        uow.load(events.reviewers_stream(), assignment.ASSIGNMENT),
        uow.load(events.round_stream(round_id), assignment.ASSIGNMENT))


def _nomination(uow: UnitOfWork, nomination_id: str) -> Nomination:
    found = uow.load(events.nomination_stream(nomination_id), facts.NOMINATION)
    if found is None:
        raise NotFound(f"review knows no nomination {nomination_id!r}",
                       field="nomination_id")
    return found


def _act(uow: UnitOfWork, caller: Caller, campaign_id: str, action: str,
         definitions: DefinitionsInForce, clocks: CampaignClocks, *,
         organizing: bool = False, subject: str = "") -> tuple[CampaignDefinition, datetime]:
    """The campaign's definition and its "now", once the caller may do
    `action` in it (`organizing`: an organizer's act, which the campaign's
    organizers and its co-organizers of the stage that permits it do) and a
    stage open on the campaign clock permits it."""
    definition = definitions.require(uow, campaign_id)
    if organizing:
        require_organizing(definition, caller.actor, action)
    at = clocks.now(uow, campaign_id)
    require_stage(definition, action, at, subject or campaign_id)
    return definition, at


def _round_act(uow: UnitOfWork, caller: Caller, round_id: str, action: str,
               definitions: DefinitionsInForce, clocks: CampaignClocks, *,
               organizing: bool = False) -> tuple[CampaignDefinition, datetime]:
    """`_act` in the round's campaign (its panel's until the round opens); a
    round nobody formed is not found."""
    campaign_id = _round_campaign(uow, round_id)
    if not campaign_id:
        raise NotFound(f"no round {round_id!r}: form its panel first", field="round_id")
    return _act(uow, caller, campaign_id, action, definitions, clocks,
                organizing=organizing, subject=round_id)


def _round_campaign(uow: UnitOfWork, round_id: str) -> str:
    state = _round(uow, round_id)
    campaign_id = state.campaign_id if state else ""
    if not campaign_id:
        panel = _assignment(uow, round_id).panel_of_round(round_id)
        campaign_id = panel.campaign_id if panel else ""
    return campaign_id


def _require_round_organizer(uow: UnitOfWork, caller: Caller, round_id: str,
                             definitions: DefinitionsInForce, action: str) -> None:
    """For reading: an organizer of the round's campaign who may do `action`."""
    campaign_id = _round_campaign(uow, round_id)
    if campaign_id:
        require_organizing(definitions.require(uow, campaign_id), caller.actor, action)


def _nominees(uow: UnitOfWork, panel: assignment.Panel, asked: Sequence[str],
              current: rounds.ReviewRound | None) -> list[Nomination]:
    """The asked nominations, checked; or every one that can be reviewed."""
    in_round = (set(current.nomination_ids)
                if current is not None and current.status != rounds.FORMING else None)
    if not asked:
        found = [n for n in read_models.reviewable(uow.conn, panel.campaign_id,
                                                   panel.category)
                 if in_round is None or n.nomination_id in in_round]
        excluded = read_models.ineligible(uow.conn, [n.nomination_id for n in found])
        found = [n for n in found if n.nomination_id not in excluded]
        if not found:
            raise FailedPrecondition(
                "nothing_to_assign", f"no received, eligible {panel.category} "
                "nomination is waiting for reviewers", panel.round_id)
        return found
    nominees = [_nomination(uow, nid) for nid in dict.fromkeys(asked)]
    excluded = read_models.ineligible(uow.conn, list(asked))
    for nominee in nominees:
        _check_nominee(nominee, panel, excluded, in_round)
    return nominees


def _check_nominee(n: Nomination, panel: assignment.Panel, ineligible: dict[str, str],
                   in_round: set[str] | None) -> None:
    nid = n.nomination_id
    if (n.campaign_id, n.category) != (panel.campaign_id, panel.category):
        raise InvalidArgument("a nomination of another category", [FieldViolation(
            "nomination_ids", f"{nid} is {n.campaign_id}/{n.category}, the panel "
            f"{panel.campaign_id}/{panel.category}")])
    if not n.reviewable:
        raise FailedPrecondition("not_received", f"{nid} is {n.status}; only "
                                 "nominations the center received are reviewed", nid)
    if nid in ineligible:
        raise FailedPrecondition("ineligible", f"{nid} is ineligible: "
                                 f"{ineligible[nid]}", nid)
    if in_round is not None and nid not in in_round:
        raise FailedPrecondition(rounds.RULE_ROUND_OPEN, f"round {panel.round_id} "
                                 f"is open without {nid}", nid)


def _append_reviewers(uow: UnitOfWork, caller: Caller,
                      decided: list[NewEvent], topics: Topics) -> int:
    """The reviewers' stream version after appending what was decided."""
    stream = events.reviewers_stream()
    if not decided:
        return uow.version(stream)
    return uow.append(stream, decided, event_metadata(caller=caller),
                      publish=Publication(topics.review))[-1].version


def _append_round(uow: UnitOfWork, caller: Caller, round_id: str,
                  decided: list[NewEvent], topics: Topics, at: datetime
                  ) -> list[RecordedEvent]:
    """Round events are keyed by round (review's contract), so consumers see
    them in order; they count at campaign time `at`."""
    if not decided:
        return []
    return uow.append(events.round_stream(round_id), decided,
                      stamped(event_metadata(caller=caller), at),
                      publish=Publication(topics.review))
