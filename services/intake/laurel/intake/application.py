"""Intake's use cases: load, decide, append. Each a few lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from laurel.auth import event_metadata
from laurel.config import Topics
from laurel.errors import FieldViolation, InvalidArgument, NotFound
from laurel.eventstore import EventStore, Publication

from laurel.intake import domain
from laurel.intake.campaign_rules import CampaignCatalog


class IntakeApplication:
    def __init__(self, store: EventStore, catalog: CampaignCatalog, topics: Topics) -> None:
        self.store = store
        self.catalog = catalog
        self.topics = topics

    def submit_nomination(self, command: domain.SubmitNomination) -> int:
        """Validate against the campaign in force and record the submission."""
        campaign = self.catalog.get(command.campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {command.campaign_id!r}", field="campaign_id")
        category = campaign.category(command.category)
        if category is None:
            raise InvalidArgument(
                f"campaign {command.campaign_id!r} has no category {command.category!r}",
                [FieldViolation("category", f"expected one of {campaign.category_keys()}")],
            )
        stream = domain.stream_id(command.nomination_id)
        current = domain.fold(self.store.read_stream(stream))
        events = domain.submit_nomination(
            current, command, category.validate(command.fields), category.nominee_kind
        )
        recorded = self.store.append(
            stream, 0, events, event_metadata(),
            publish=Publication(self.topics.intake, command.nomination_id),
        )
        return recorded[-1].version

    def get_nomination(
        self, nomination_id: str, as_of: datetime | None = None
    ) -> domain.Nomination:
        events = self.store.read_stream(domain.stream_id(nomination_id), as_of=as_of)
        nomination = domain.fold(events)
        if nomination is None:
            raise NotFound(f"no nomination {nomination_id!r}", field="nomination_id")
        return nomination

    def describe(self) -> dict[str, Any]:
        return {"campaigns": sorted(self.catalog.ids())}
