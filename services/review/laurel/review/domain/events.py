"""Review's events: what they are called, which stream holds them, and the
"…Noted" events that record what other services said.

Review's own decisions build their payloads where they are decided
(`assignment`, `rounds`, `forums`); the notes are built here, each naming the
event it came from, so assignment, blind review and decisions replay from
review's log alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from laurel.campaigns.in_force import DEFINITION_NOTED
from laurel.contracts.review import REVIEWERS_STREAM
from laurel.envelope import NewEvent, RecordedEvent

if TYPE_CHECKING:
    from laurel.review.domain.facts import Nomination

# -- reviewers and panels (assignment) ----------------------------------------------
REVIEWER_REGISTERED = "ReviewerRegistered"
CONFLICT_DECLARED = "ReviewerConflictDeclared"
PANEL_FORMED = "PanelFormed"
PANEL_MEMBERS_ADDED = "PanelMembersAdded"
REVIEWER_ASSIGNED = "ReviewerAssigned"
REVIEWER_RECUSED = "ReviewerRecused"

# -- rounds ----------------------------------------------------------------------
ROUND_OPENED = "ReviewRoundOpened"
SCORE_RECORDED = "ReviewScoreRecorded"
ROUND_CLOSED = "ReviewRoundClosed"
ROUND_REOPENED = "ReviewRoundReopened"
REMINDER_DUE = "ReviewDeadlineReminderDue"
DECISION_RECORDED = "DecisionRecorded"
RESULTS_PUBLISHED = "ResultsPublished"

# -- stage 4 -----------------------------------------------------------------------
FORUM_INVITATIONS_ISSUED = "ForumInvitationsIssued"

# -- what other services said --------------------------------------------------------
CAMPAIGN_NOTED = DEFINITION_NOTED
NOMINATION_NOTED = "NominationNoted"
ELIGIBILITY_NOTED = "EligibilityNoted"
RESULT_VERSION_NOTED = "ResultVersionNoted"


# -- streams ---------------------------------------------------------------------------


def reviewers_stream() -> str:
    """Every reviewer and their declared conflicts, in one stream (published
    keyed by it: review's contract)."""
    return REVIEWERS_STREAM


def round_stream(round_id: str) -> str:
    """A round and its panel: each round keeps its own assignments and forms."""
    return f"review-round-{round_id}"


def nomination_stream(nomination_id: str) -> str:
    return f"review-nomination-{nomination_id}"


def results_stream(round_id: str) -> str:
    return f"review-results-{round_id}"


def forum_stream(forum_id: str) -> str:
    return f"review-forum-{forum_id}"


def campaign_stream(campaign_id: str) -> str:
    return f"review-campaign-{campaign_id}"


# -- notes -------------------------------------------------------------------------------


def campaign_noted(source: RecordedEvent) -> NewEvent:
    """Intake's CampaignDefined/Amended, as the definition review decides by."""
    p = source.payload
    return NewEvent(CAMPAIGN_NOTED, {
        "campaign_id": p["campaign_id"], "digest": p["digest"],
        "definition": p["definition"], "source_event_id": source.event_id,
        "source_type": source.type})


def nomination_noted(nomination: Nomination, source: RecordedEvent) -> NewEvent:
    return NewEvent(NOMINATION_NOTED, {
        "nomination_id": nomination.nomination_id, "source_type": source.type,
        "source_event_id": source.event_id, "nomination": nomination.to_payload()})


def eligibility_noted(verdict: RecordedEvent) -> NewEvent:
    p = verdict.payload
    return NewEvent(ELIGIBILITY_NOTED, {
        "nomination_id": p["nomination_id"], "rule": p["rule"],
        "decision": p["decision"], "reason": p["reason"],
        "source_event_id": verdict.event_id})


def result_noted(result: RecordedEvent) -> NewEvent:
    """The ranking in short: who is where, with which tier; scoring has the rest."""
    p = result.payload
    return NewEvent(RESULT_VERSION_NOTED, {
        "round_id": p["round_id"], "campaign_id": p["campaign_id"],
        "category": p["category"], "version": p["version"],
        "entries": [{k: e[k] for k in ("rank", "nomination_id", "score_display",
                                       "tier")} for e in p["entries"]],
        "ineligible": sorted(p.get("ineligible", {})),
        "source_event_id": result.event_id})
