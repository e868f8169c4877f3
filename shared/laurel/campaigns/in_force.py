"""The campaign definition in force where a service keeps its own copy.

Intake records each definition (CampaignDefined/Amended); consumers note it
in their own store (a "…Noted" event on a stream of their choosing) and read
it back from there, so a decision uses the definition intake announced, not
a file that may differ on this pod. Before any note the shipped file serves.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from laurel.campaigns.loader import campaign_from_data
from laurel.campaigns.lookup import DEFINITION_NOTED, category_of
from laurel.campaigns.schema import CampaignDefinition
from laurel.errors import LaurelError, NotFound
from laurel.unit_of_work import UnitOfWork

log = logging.getLogger("laurel.campaigns")

__all__ = ["DEFINITION_NOTED", "DefinitionsInForce", "category_of"]



class DefinitionsInForce:
    """Per service: where its notes are (`stream_id(campaign_id)`) and the
    shipped catalog. Parsed definitions are cached by digest (a definition's
    digest names exactly one text)."""

    def __init__(self, catalog: Mapping[str, CampaignDefinition],
                 stream_id: Callable[[str], str], noted_type: str = DEFINITION_NOTED) -> None:
        self.catalog = dict(catalog)
        self.stream_id = stream_id
        self.noted_type = noted_type
        self._parsed: dict[str, CampaignDefinition | None] = {}
        self._lock = threading.Lock()

    def get(self, uow: UnitOfWork, campaign_id: str) -> CampaignDefinition | None:
        noted = [e for e in uow.read(self.stream_id(campaign_id))
                 if e.type == self.noted_type]
        parsed = self.parse(noted[-1].payload) if noted else None
        return parsed or self.catalog.get(campaign_id)

    def require(self, uow: UnitOfWork, campaign_id: str) -> CampaignDefinition:
        found = self.get(uow, campaign_id)
        if found is None:
            raise NotFound(f"no campaign {campaign_id!r}", field="campaign_id")
        return found

    def parse(self, payload: Mapping[str, Any]) -> CampaignDefinition | None:
        """A noted definition; None (logged once) when this release cannot read it."""
        digest = payload["digest"]
        with self._lock:
            if digest in self._parsed:
                return self._parsed[digest]
        try:
            parsed: CampaignDefinition | None = campaign_from_data(payload["definition"])
        except LaurelError as error:
            log.warning("campaign %s (%s) does not parse here: %s",
                        payload["campaign_id"], digest[:12], error)
            parsed = None
        with self._lock:
            self._parsed[digest] = parsed
        return parsed
