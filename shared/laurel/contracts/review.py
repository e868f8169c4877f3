"""Review's events: the contract its consumers read them by (pure).

Keys: a reviewer's registration and declared conflicts are keyed by their
stream, "reviewers" (every reviewer shares that one stream in review's
store): one partition brings the stream in order, as consumers apply it.
They were keyed by the reviewer id until 2026-12: those events crossed
partitions and came out of stream order, which each consumer's inbox then
repaired from review's log (`laurel.catchup`). Events and the outbox rows
already written keep the old key (events are never rewritten), and
consumers never read the key, so a topic holding both is read alike: what
arrives out of stream order across the change is caught up as before.
Everything that happens in a
round (panel, assignments, recusals, scores, closing, reminders, decisions,
publication) is keyed by the round id, because scoring folds a round's
events in order to compute its result; forum invitations are keyed by the
forum id (one event per forum). What review noted from intake and scoring
stays in its store.
"""

from __future__ import annotations

from typing import Any

from laurel.contracts.base import (
    EventPayload,
    by,
    clock_noted,
    contracts_of,
    event,
    of_stream,
    parking,
)

SERVICE = "review"

REVIEWER_REGISTERED = "ReviewerRegistered"
CONFLICT_DECLARED = "ReviewerConflictDeclared"
PANEL_FORMED = "PanelFormed"
PANEL_MEMBERS_ADDED = "PanelMembersAdded"
REVIEWER_ASSIGNED = "ReviewerAssigned"
REVIEWER_RECUSED = "ReviewerRecused"
ROUND_OPENED = "ReviewRoundOpened"
SCORE_RECORDED = "ReviewScoreRecorded"
ROUND_CLOSED = "ReviewRoundClosed"
ROUND_REOPENED = "ReviewRoundReopened"
REMINDER_DUE = "ReviewDeadlineReminderDue"
DECISION_RECORDED = "DecisionRecorded"
RESULTS_PUBLISHED = "ResultsPublished"
FORUM_INVITATIONS_ISSUED = "ForumInvitationsIssued"
DEFINITION_NOTED = "CampaignDefinitionNoted"
NOMINATION_NOTED = "NominationNoted"
ELIGIBILITY_NOTED = "EligibilityNoted"
RESULT_VERSION_NOTED = "ResultVersionNoted"


class ReviewerRegistered(EventPayload):
    reviewer_id: str
    name: str
    organization_id: str
    jurisdiction_id: str
    group: str  # hospital_manager, industry_expert, media, …
    declared_conflicts: list[str]
    # How notification reaches the reviewer (when given at registration).
    email: str | None = None
    language: str | None = None


class ReviewerConflictDeclared(EventPayload):
    reviewer_id: str
    subject_id: str
    reason: str


class PanelFormed(EventPayload):
    panel_id: str
    campaign_id: str
    category: str
    round_id: str
    mix: dict[str, int]
    members: list[str]
    seed: str


class PanelMembersAdded(EventPayload):
    panel_id: str
    round_id: str
    members: list[str]


class ReviewerAssigned(EventPayload):
    panel_id: str
    round_id: str
    campaign_id: str
    category: str
    nomination_id: str
    reviewer_id: str
    group: str
    load_before: int
    reason: str
    replaces: str


class ReviewerRecused(EventPayload):
    panel_id: str
    round_id: str
    nomination_id: str
    reviewer_id: str
    group: str
    reason: str


class ReviewRoundOpened(EventPayload):
    round_id: str
    campaign_id: str
    category: str
    number: int
    deadline: str
    criteria: dict[str, str]  # criterion -> maximum (decimal text)
    nomination_ids: list[str]
    previous_round_id: str


class ReviewScoreRecorded(EventPayload):
    round_id: str
    round_number: int
    campaign_id: str
    category: str
    nomination_id: str
    reviewer_id: str
    group: str
    scores: dict[str, str]  # criterion -> score (decimal text)
    comment: str
    form_version: int
    amends: int | None


class Outstanding(EventPayload):
    nomination_id: str
    reviewer_id: str


class ReviewRoundClosed(EventPayload):
    round_id: str
    closed_at: str
    early: bool
    reason: str
    outstanding: list[Outstanding]


class ReviewRoundReopened(EventPayload):
    round_id: str
    reason: str
    deadline: str


class ReviewDeadlineReminderDue(EventPayload):
    round_id: str
    campaign_id: str
    category: str
    reviewer_id: str
    nomination_ids: list[str]
    deadline: str
    lead_seconds: int
    due_at: str


class DecisionRecorded(EventPayload):
    round_id: str
    campaign_id: str
    category: str
    nomination_id: str
    outcome: str
    tier: str
    reason: str
    result_version: int
    supersedes: bool


class ResultsPublished(EventPayload):
    round_id: str
    campaign_id: str
    category: str
    result_version: int
    decisions: list[dict[str, Any]]  # nomination_id, outcome, tier, reason, result_version


class ForumInvitationsIssued(EventPayload):
    forum_id: str
    campaign_id: str
    grouping: str  # "region" or "theme": which of the two fields below is set
    region: str | None = None
    theme: str | None = None
    title: str
    starts_at: str
    venue: str
    round_ids: list[str]
    nomination_ids: list[str]


class CampaignDefinitionNoted(EventPayload):
    campaign_id: str
    digest: str
    definition: dict[str, Any]
    source_event_id: str
    source_type: str


class NominationNoted(EventPayload):
    nomination_id: str
    source_type: str
    source_event_id: str
    nomination: dict[str, Any]


class EligibilityNoted(EventPayload):
    nomination_id: str
    rule: str
    decision: str
    reason: str
    source_event_id: str


class ResultVersionNoted(EventPayload):
    round_id: str
    campaign_id: str
    category: str
    version: int
    entries: list[dict[str, Any]]
    ineligible: list[str]
    source_event_id: str


REVIEWERS_STREAM = "reviewers"  # review's one stream of every reviewer
_REVIEWER = of_stream(REVIEWERS_STREAM, why="all reviewers share one stream, which "
                      "consumers apply in order; one partition keeps that order, and "
                      "the stream is small: registrations and declared conflicts")
_ROUND = by("round_id", why="scoring folds a round's events in order to compute its "
            "result; one partition per round keeps that order")


CONTRACTS = contracts_of(
    SERVICE,
    *parking(),
    clock_noted(),
    event(REVIEWER_REGISTERED, ReviewerRegistered, _REVIEWER, "A reviewer was registered."),
    event(CONFLICT_DECLARED, ReviewerConflictDeclared, _REVIEWER,
          "A reviewer declared a conflict with a subject."),
    event(PANEL_FORMED, PanelFormed, _ROUND, "A round's panel was formed."),
    event(PANEL_MEMBERS_ADDED, PanelMembersAdded, _ROUND, "A panel was widened."),
    event(REVIEWER_ASSIGNED, ReviewerAssigned, _ROUND,
          "A reviewer was assigned a nomination in a round."),
    event(REVIEWER_RECUSED, ReviewerRecused, _ROUND,
          "A reviewer recused from a nomination in a round."),
    event(ROUND_OPENED, ReviewRoundOpened, _ROUND, "A review round opened."),
    event(SCORE_RECORDED, ReviewScoreRecorded, _ROUND,
          "A reviewer's score form (or its amendment) was recorded."),
    event(ROUND_CLOSED, ReviewRoundClosed, _ROUND, "A review round closed."),
    event(ROUND_REOPENED, ReviewRoundReopened, _ROUND, "A closed round was reopened."),
    event(REMINDER_DUE, ReviewDeadlineReminderDue, _ROUND,
          "A reviewer should be reminded of a round's deadline."),
    event(DECISION_RECORDED, DecisionRecorded, _ROUND,
          "The organizer decided a nomination's outcome on a result version."),
    event(RESULTS_PUBLISHED, ResultsPublished, _ROUND, "A round's decisions were published."),
    event(FORUM_INVITATIONS_ISSUED, ForumInvitationsIssued,
          by("forum_id", why="one event per forum; forums are independent"),
          "Winners were invited to a forum."),
    event(DEFINITION_NOTED, CampaignDefinitionNoted, None,
          "A campaign definition as review decides by it."),
    event(NOMINATION_NOTED, NominationNoted, None,
          "What review knows of a nomination after an intake event."),
    event(ELIGIBILITY_NOTED, EligibilityNoted, None, "A scoring verdict, as review noted it."),
    event(RESULT_VERSION_NOTED, ResultVersionNoted, None,
          "A scoring result version, in short, as review noted it."),
)
