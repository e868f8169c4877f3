"""What callers ask of review: commands (which change something) and queries.

Each names who asks (`caller`, read once at the edge) and, where it acts on
a stream that exists already, the version the caller saw
(`expected_version`: a mismatch is ABORTED, not decided on a state the
caller never saw).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from laurel.envelope import Caller
from laurel.review.domain.assignment import PanelSpec, Reviewer
from laurel.review.domain.forums import ForumPlan

# -- reviewers, panels, assignment ---------------------------------------------------


@dataclass(frozen=True)
class RegisterReviewer:
    caller: Caller
    reviewer: Reviewer
    contact: Mapping[str, str] = field(default_factory=dict)  # email, language


@dataclass(frozen=True)
class DeclareConflict:
    caller: Caller
    reviewer_id: str
    subject_id: str
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True)
class FormPanel:
    caller: Caller
    spec: PanelSpec


@dataclass(frozen=True)
class AssignReviewers:
    """Every eligible, received nomination of the panel's category when
    `nomination_ids` is empty."""

    caller: Caller
    round_id: str
    nomination_ids: tuple[str, ...] = ()
    expected_version: int | None = None


@dataclass(frozen=True)
class Recuse:
    """`reviewer_id` empty: the caller recuses themself."""

    caller: Caller
    round_id: str
    nomination_id: str
    reviewer_id: str
    reason: str
    expected_version: int | None = None


# -- rounds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenRound:
    """`nomination_ids` empty: every nomination the panel has reviewers for."""

    caller: Caller
    round_id: str
    deadline: datetime
    nomination_ids: tuple[str, ...] = ()
    number: int = 1
    previous_round_id: str = ""
    expected_version: int | None = None


@dataclass(frozen=True)
class SubmitReview:
    caller: Caller
    round_id: str
    nomination_id: str
    scores: Mapping[str, object]
    comment: str = ""
    expected_version: int | None = None


@dataclass(frozen=True)
class CloseRound:
    caller: Caller
    round_id: str
    reason: str = ""
    expected_version: int | None = None


@dataclass(frozen=True)
class ReopenRound:
    caller: Caller
    round_id: str
    reason: str
    deadline: datetime
    expected_version: int | None = None


@dataclass(frozen=True)
class RemindReviewers:
    """Record the reminders due in a round at `at` (the reminder pass's time)."""

    caller: Caller
    round_id: str
    at: datetime


# -- decisions, publication, forums -------------------------------------------------------


@dataclass(frozen=True)
class RecordDecision:
    """`result_version` 0: the latest result scoring reported."""

    caller: Caller
    round_id: str
    nomination_id: str
    outcome: str
    tier: str
    reason: str
    result_version: int = 0
    expected_version: int | None = None


@dataclass(frozen=True)
class PublishResults:
    caller: Caller
    round_id: str
    expected_version: int | None = None


@dataclass(frozen=True)
class IssueForumInvitations:
    caller: Caller
    plan: ForumPlan


# -- queries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExplainAssignment:
    caller: Caller
    round_id: str
    nomination_id: str


@dataclass(frozen=True)
class GetRound:
    caller: Caller
    round_id: str


@dataclass(frozen=True)
class ListMyAssignments:
    """`round_id` empty: in every round."""

    caller: Caller
    round_id: str = ""


@dataclass(frozen=True)
class GetNominationForReview:
    caller: Caller
    round_id: str
    nomination_id: str


@dataclass(frozen=True)
class GetReviews:
    """`nomination_id` empty: the whole round."""

    caller: Caller
    round_id: str
    nomination_id: str = ""
