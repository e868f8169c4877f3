"""The campaign definition in force for review: the one intake last announced.

Intake records each definition as an event (CampaignDefined / Amended) and
review notes it in its own log. Until it has, the same files intake loads
(`LAUREL_CAMPAIGNS_DIR`) stand in, so a nomination that arrives before its
campaign's announcement is not refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from laurel.campaigns import CampaignDefinition, campaign_from_data
from laurel.envelope import NewEvent, RecordedEvent
from laurel.errors import LaurelError, NotFound
from laurel.eventstore import EventStore

log = logging.getLogger("laurel.review")

CAMPAIGN_NOTED = "CampaignDefinitionNoted"


def stream_id(campaign_id: str) -> str:
    return f"review-campaign-{campaign_id}"


def noted(source: RecordedEvent) -> NewEvent:
    p = source.payload
    return NewEvent(CAMPAIGN_NOTED, {
        "campaign_id": p["campaign_id"], "digest": p["digest"],
        "definition": p["definition"], "source_event_id": source.event_id,
        "source_type": source.type})


class Definitions:
    def __init__(self, store: EventStore,
                 catalog: Mapping[str, CampaignDefinition]) -> None:
        self.store = store
        self.catalog = dict(catalog)
        self._parsed: dict[str, CampaignDefinition | None] = {}

    def get(self, campaign_id: str) -> CampaignDefinition:
        events = [e for e in self.store.read_stream(stream_id(campaign_id))
                  if e.type == CAMPAIGN_NOTED]
        parsed = self._parse(events[-1].payload) if events else None
        found = parsed or self.catalog.get(campaign_id)
        if found is None:
            raise NotFound(f"no campaign {campaign_id!r}", field="campaign_id")
        return found

    def _parse(self, payload: Mapping[str, Any]) -> CampaignDefinition | None:
        digest = payload["digest"]
        if digest not in self._parsed:
            try:
                self._parsed[digest] = campaign_from_data(payload["definition"])
            except LaurelError as error:
                log.warning("campaign %s (%s) does not parse here: %s",
                            payload["campaign_id"], digest[:12], error)
                self._parsed[digest] = None
        return self._parsed[digest]
