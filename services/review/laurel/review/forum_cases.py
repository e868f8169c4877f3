"""Stage 4 use cases: inviting the winners to forums by region and theme."""

from __future__ import annotations

from laurel.auth import event_metadata
from laurel.eventstore import Publication
from laurel.review import forums
from laurel.review.cases import ReviewBase


class ForumCases(ReviewBase):
    def issue_forum_invitations(self, plan: forums.ForumPlan) -> list[str]:
        """Invite the matching winners, once per forum; returns who was invited."""
        self._require_organizer(plan.campaign_id)
        stream = forums.stream_id(plan.forum_id)
        with self.store.transaction() as tx:
            published = [self._round(round_id) for round_id in plan.round_ids]
            candidates = {nid for state in published if state is not None
                          for nid in state.decisions}
            nominations = {nid: found for nid in sorted(candidates)
                           if (found := self.projection.nomination(tx.conn, nid))}
            events = forums.issue_invitations(
                bool(self.store.read_stream(stream)), plan, published, nominations)
            tx.append(stream, 0, events, event_metadata(),
                      publish=Publication(self.topics.review, plan.forum_id))
            return events[0].payload["nomination_ids"]
