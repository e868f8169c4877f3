"""Review's use cases: panels and assignment, rounds and decisions.

`ReviewApplication` is what the gRPC servicer and the tests call; its two
halves live in `panel_cases` (reviewers, panels, assignment, recusal) and
`round_cases` (rounds, blind scoring, reminders, decisions, publication) and
`forum_cases` (stage-4 invitations), on the shared base in `cases`.
"""

from __future__ import annotations

from laurel.review.forum_cases import ForumCases
from laurel.review.panel_cases import PanelCases
from laurel.review.round_cases import RoundCases


class ReviewApplication(PanelCases, RoundCases, ForumCases):
    """Every review use case; see the modules of its bases."""
