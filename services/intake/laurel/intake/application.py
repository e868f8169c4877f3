"""Intake's use cases: gather facts, let the domain decide, append.

Each write runs inside one store transaction. Appends are serialized per
database, so the facts read inside it (a hospital's live nominations for a
quota) cannot change before the decision commits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from laurel.auth import current_request, event_metadata
from laurel.campaigns.access import require_organizer_of
from laurel.config import Topics
from laurel.envelope import SYSTEM_ACTOR, EventMetadata, NewEvent, RecordedEvent, utcnow
from laurel.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from laurel.eventstore import EventStore, Publication, Transaction
from laurel.intake import domain, organizations, rules
from laurel.intake.campaign_rules import CampaignCatalog, CampaignRules, CategoryRules
from laurel.intake.projection import IntakeProjection

CLOCK_SET = "CampaignClockSet"
CAMPAIGN_DEFINED = "CampaignDefined"
CAMPAIGN_AMENDED = "CampaignAmended"


class IntakeApplication:
    def __init__(
        self, store: EventStore, projection: IntakeProjection, catalog: CampaignCatalog,
        topics: Topics, *, center_id: str = "henan-center", development: bool = False,
        wall_clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.projection = projection
        self.catalog = catalog
        self.topics = topics
        self.center_id = center_id
        self.development = development
        self.wall_clock = wall_clock

    # -- campaigns and their clock -------------------------------------------

    def record_campaign_definitions(self) -> list[str]:
        """Append CampaignDefined/Amended where the files differ from the log."""
        changed = []
        for campaign in self.catalog.all():
            stream = f"campaign-{campaign.campaign_id}"
            history = self.store.read_stream(stream)
            if history and history[-1].payload["digest"] == campaign.digest:
                continue
            kind = CAMPAIGN_AMENDED if history else CAMPAIGN_DEFINED
            event = NewEvent(kind, {"campaign_id": campaign.campaign_id,
                                    "digest": campaign.digest,
                                    "definition": campaign.as_data()})
            self.store.append(stream, len(history), [event], self._system_metadata(),
                              publish=Publication(self.topics.intake, campaign.campaign_id))
            changed.append(campaign.campaign_id)
        return changed

    def campaign_definition_as_of(self, campaign_id: str, as_of: datetime) -> dict | None:
        history = self.store.read_stream(f"campaign-{campaign_id}", as_of=as_of)
        return history[-1].payload["definition"] if history else None

    def set_campaign_clock(self, campaign_id: str, moment: datetime) -> None:
        """Move a campaign's clock (demo and tests only), as an audited event."""
        campaign = self._campaign(campaign_id)
        if not self.development:
            raise PermissionDenied("the campaign clock can be set only in development mode")
        require_organizer_of(campaign.definition, current_request().actor)
        self.store.append(f"campaign-clock-{campaign_id}", None, [NewEvent(
            CLOCK_SET, {"campaign_id": campaign_id, "now": moment.isoformat()})],
            event_metadata())

    def campaign_now(self, campaign_id: str) -> datetime:
        settings = self.store.read_stream(f"campaign-clock-{campaign_id}")
        if settings:
            return datetime.fromisoformat(settings[-1].payload["now"])
        return self.wall_clock()

    # -- organizations ---------------------------------------------------------

    def register_organization(self, candidate: organizations.Organization) -> int:
        self._require_role("organizer")
        stream = organizations.stream_id(candidate.organization_id)
        with self.store.transaction() as tx:
            existing = organizations.fold(self.store.read_stream(stream))
            lookup = self._organization_lookup(tx, candidate)
            events = organizations.register_organization(existing, candidate, lookup)
            return tx.append(stream, 0, events, event_metadata())[-1].version

    def organization(self, organization_id: str) -> organizations.Organization:
        found = organizations.fold(
            self.store.read_stream(organizations.stream_id(organization_id)))
        if found is None:
            raise NotFound(f"no organization {organization_id!r}", field="organization_id")
        return found

    def _organization_name(self, organization_id: str) -> str:
        """For the events' readers (a notification names the commission)."""
        with self.store.engine.connect() as conn:
            row = self.projection.organization(conn, organization_id)
        return row["name"] if row else ""

    def _organization_lookup(
        self, tx: Transaction, candidate: organizations.Organization
    ) -> dict[str, organizations.Organization]:
        lookup = {}
        for org_id in (candidate.jurisdiction_id, candidate.parent_id):
            row = self.projection.organization(tx.conn, org_id) if org_id else None
            if row:
                lookup[org_id] = organizations.Organization(**row)
        return lookup

    # -- the nomination lifecycle ----------------------------------------------

    def draft_nomination(self, draft: domain.NominationDraft) -> int:
        campaign, category = self._category(draft.campaign_id, draft.category)
        placement = self._placement(draft.nominee)
        self._require_nominator_of(placement, draft.nominee)
        violations = rules.nominee_violations(draft.nominee, category)
        violations += category.validate(draft.fields, partial=True)
        return self._decide(draft.nomination_id, lambda current, tx: domain.draft_nomination(
            current, draft, placement, violations))

    def save_draft(self, nomination_id: str, changes: Mapping[str, str]) -> int:
        def decide(current: domain.Nomination | None, tx: Transaction) -> list[NewEvent]:
            nomination = self._own(current)
            _, category = self._category(nomination.campaign_id, nomination.category)
            merged = domain.merged_fields(nomination.fields, changes)
            return domain.save_draft(current, changes, category.validate(merged, partial=True))
        return self._decide(nomination_id, decide)

    def submit_nomination(self, draft: domain.NominationDraft | None,
                          nomination_id: str = "") -> int:
        """Submit in one step (`draft` given) or submit an existing draft."""
        nomination_id = draft.nomination_id if draft else nomination_id

        def decide(current: domain.Nomination | None, tx: Transaction) -> list[NewEvent]:
            if draft is None:
                current = self._own(current)
            source = draft or domain.NominationDraft(
                current.nomination_id, current.campaign_id, current.category,
                current.nominee, current.fields)
            campaign, category = self._category(source.campaign_id, source.category)
            placement = self._placement(source.nominee)
            self._require_nominator_of(placement, source.nominee)
            violations = rules.nominee_violations(source.nominee, category)
            violations += category.validate(source.fields)
            if violations:
                raise InvalidArgument(f"the nomination has {len(violations)} invalid "
                                      "field(s); nothing was stored", violations)
            total = category.self_assessment_total(source.fields)
            facts = self._hospital_facts(tx, placement.hospital_id, nomination_id)
            rules.check_submission(campaign, category, total, facts,
                                   self.campaign_now(campaign.campaign_id), nomination_id)
            return domain.submit_nomination(current, draft, placement, [], total)
        return self._decide(nomination_id, decide)

    def return_nomination(self, nomination_id: str, reasons: list[str]) -> int:
        actor = self._require_role("endorser")
        name = self._organization_name(actor.organization_id)
        return self._decide(nomination_id, lambda current, tx: domain.return_nomination(
            current, actor.organization_id, reasons, name))

    def resubmit_nomination(self, nomination_id: str, changes: Mapping[str, str]) -> int:
        def decide(current: domain.Nomination | None, tx: Transaction) -> list[NewEvent]:
            nomination = self._own(current)
            campaign, category = self._category(nomination.campaign_id, nomination.category)
            merged = domain.merged_fields(nomination.fields, changes)
            total = category.self_assessment_total(merged)
            rules.check_self_assessment(category, total, nomination_id)
            return domain.resubmit_nomination(current, changes, category.validate(merged),
                                              total)
        return self._decide(nomination_id, decide)

    def endorse_nomination(self, nomination_id: str, opinion: str) -> int:
        actor = self._require_role("endorser")
        name = self._organization_name(actor.organization_id)
        return self._decide(nomination_id, lambda current, tx: domain.endorse_nomination(
            current, actor.organization_id, opinion, name))

    def forward_nomination(self, nomination_id: str) -> int:
        actor = self._require_role("endorser")
        return self._decide(nomination_id, lambda current, tx: domain.forward_nomination(
            current, actor.organization_id, self.center_id))

    def receive_nomination(self, nomination_id: str) -> int:
        actor = self._require_role("organizer")
        if actor.organization_id != self.center_id:
            raise PermissionDenied(f"only the provincial center ({self.center_id}) "
                                   "receives nominations")
        def decide(current: domain.Nomination | None, tx: Transaction) -> list[NewEvent]:
            if current is not None:
                require_organizer_of(self._campaign(current.campaign_id).definition, actor)
            return domain.receive_nomination(current, self.center_id)
        return self._decide(nomination_id, decide)

    def amend_nomination(self, nomination_id: str, changes: Mapping[str, str],
                         reason: str) -> int:
        def decide(current: domain.Nomination | None, tx: Transaction) -> list[NewEvent]:
            nomination = self._own(current)
            campaign, category = self._category(nomination.campaign_id, nomination.category)
            merged = domain.merged_fields(nomination.fields, changes)
            total = category.self_assessment_total(merged)
            rules.check_self_assessment(category, total, nomination_id)
            open_now = campaign.stage_open("nomination", self.campaign_now(
                campaign.campaign_id))
            return domain.amend_nomination(current, changes, reason,
                                           category.validate(merged), open_now, total)
        return self._decide(nomination_id, decide)

    def withdraw_nomination(self, nomination_id: str, reason: str) -> int:
        """Withdraw; a leader nomination that loses its benchmark becomes ineligible."""
        return self._end(nomination_id, lambda current: domain.withdraw_nomination(
            self._own(current), reason))

    def reject_nomination(self, nomination_id: str, reasons: list[str]) -> int:
        """The commission or the center declines it, with the same consequence."""
        actor = current_request().actor
        if actor.role not in ("endorser", "organizer"):
            raise PermissionDenied("rejecting is for endorsers and the provincial center")
        def decide(current: domain.Nomination | None) -> list[NewEvent]:
            if current is not None and actor.role == "organizer":
                require_organizer_of(self._campaign(current.campaign_id).definition, actor)
            return domain.reject_nomination(current, actor.organization_id, self.center_id,
                                            reasons)
        return self._end(nomination_id, decide)

    def _end(self, nomination_id: str,
             decide: Callable[[domain.Nomination | None], list[NewEvent]]) -> int:
        with self.store.transaction() as tx:
            current = domain.fold(self.store.read_stream(domain.stream_id(nomination_id)))
            events = decide(current)
            recorded = self._append(tx, current, events)
            self._cascade_ineligibility(tx, current, recorded[-1])
            return recorded[-1].version

    def attach_evidence(self, nomination_id: str, attachment: domain.Attachment,
                        keep: Callable[[Connection], None]) -> int:
        """Decide, then `keep` the bytes in the same transaction as the event:
        a refused file is never written, and both commit or neither does."""
        def decide(current: domain.Nomination | None, tx: Transaction) -> list[NewEvent]:
            events = domain.attach_evidence(self._own(current), attachment)
            keep(tx.conn)
            return events
        return self._decide(nomination_id, decide)

    def evidence_of(self, nomination_id: str, sha256: str) -> domain.Attachment:
        """An attachment the caller may read (it belongs to a nomination they see)."""
        nomination = self.get_nomination(nomination_id)
        for attachment in nomination.attachments:
            if attachment.sha256 == sha256:
                return attachment
        raise NotFound(f"nomination {nomination_id} has no attachment {sha256[:12]}…",
                       field="sha256")

    # -- queries ---------------------------------------------------------------

    def get_nomination(self, nomination_id: str, as_of: datetime | None = None
                       ) -> domain.Nomination:
        events = self.store.read_stream(domain.stream_id(nomination_id), as_of=as_of)
        nomination = domain.fold(events)
        if nomination is None or not self._may_read(nomination):
            raise NotFound(f"no nomination {nomination_id!r}"
                           + (f" as of {as_of.isoformat()}" if as_of else ""),
                           field="nomination_id")
        return nomination

    def history(self, nomination_id: str) -> list[RecordedEvent]:
        events = self.store.read_stream(domain.stream_id(nomination_id))
        nomination = domain.fold(events)
        if nomination is None or not self._may_read(nomination):
            raise NotFound(f"no nomination {nomination_id!r}", field="nomination_id")
        return events

    def list_nominations(self, **filters: Any) -> tuple[list[dict[str, Any]], str]:
        limit = min(max(int(filters.pop("page_size", 0) or 50), 1), 500)
        filters.update(self._list_scope(filters))
        with self.store.engine.connect() as conn:
            rows = self.projection.list(conn, limit=limit, **filters)
        token = f"{rows[-1]['created_at']}|{rows[-1]['nomination_id']}" if len(
            rows) == limit else ""
        return rows, token

    # -- internals -------------------------------------------------------------

    def _decide(
        self, nomination_id: str,
        decide: Callable[[domain.Nomination | None, Transaction], list[NewEvent]],
    ) -> int:
        with self.store.transaction() as tx:
            current = domain.fold(self.store.read_stream(domain.stream_id(nomination_id)))
            events = decide(current, tx)
            if not events:
                return current.version if current else 0
            return self._append(tx, current, events)[-1].version

    def _append(self, tx: Transaction, current: domain.Nomination | None,
                events: list[NewEvent], causation_id: str = "") -> list[RecordedEvent]:
        nomination_id = events[0].payload["nomination_id"]
        return tx.append(
            domain.stream_id(nomination_id), current.version if current else 0, events,
            event_metadata(causation_id),
            publish=Publication(self.topics.intake, nomination_id),
        )

    def _cascade_ineligibility(self, tx: Transaction, withdrawn: domain.Nomination,
                               cause: RecordedEvent) -> None:
        campaign = self._campaign(withdrawn.campaign_id)
        facts = self._hospital_facts(tx, withdrawn.hospital_id, withdrawn.nomination_id)
        for category in rules.dependants_losing_support(
                campaign.categories(), withdrawn.category, facts):
            for row in self.projection.live_nominations(
                    tx.conn, withdrawn.hospital_id, [category.key]):
                dependant = domain.fold(self.store.read_stream(
                    domain.stream_id(row["nomination_id"])))
                events = domain.mark_ineligible(
                    dependant, "requires_live_nomination",
                    f"its hospital's {withdrawn.category} nomination "
                    f"{withdrawn.nomination_id} was {cause_word(cause)}, and no live "
                    f"{' or '.join(category.required_live_categories())} nomination "
                    "remains",
                    cause.event_id)
                if events:
                    self._append(tx, dependant, events, causation_id=cause.event_id)

    def _hospital_facts(self, tx: Transaction, hospital_id: str,
                        excluding: str) -> rules.HospitalFacts:
        counts: dict[str, int] = {}
        for row in self.projection.list(tx.conn, hospital_id=hospital_id, limit=10_000):
            if row["nomination_id"] != excluding and row["status"] in domain.LIVE:
                counts[row["category"]] = counts.get(row["category"], 0) + 1
        return rules.HospitalFacts(counts)

    def _placement(self, nominee: domain.Nominee) -> domain.Placement:
        org = self.organization(nominee.organization_id)
        with self.store.engine.connect() as conn:
            rows = {r: self.projection.organization(conn, r) for r in (org.parent_id,) if r}
        lookup = {k: organizations.Organization(**v) for k, v in rows.items() if v}
        hospital = organizations.hospital_of(org, lookup)
        route = organizations.route_for(hospital, self.center_id)
        return domain.Placement(hospital.organization_id, hospital.jurisdiction_id,
                                domain.Route(route.to, route.organization_id))

    def _campaign(self, campaign_id: str) -> CampaignRules:
        campaign = self.catalog.get(campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id!r}", field="campaign_id")
        return campaign

    def _category(self, campaign_id: str, key: str) -> tuple[CampaignRules, CategoryRules]:
        campaign = self._campaign(campaign_id)
        category = campaign.category(key)
        if category is None:
            raise InvalidArgument(
                f"campaign {campaign_id!r} has no category {key!r}",
                [FieldViolation("category", f"expected one of {campaign.category_keys()}")])
        return campaign, category

    def _list_scope(self, filters: Mapping[str, Any]) -> dict[str, str]:
        """Narrow a listing to what the caller may read."""
        actor = current_request().actor
        if actor.role in ("organizer", "auditor", "service"):
            return {}
        if actor.role == "nominator":
            return {"hospital_id": actor.organization_id}
        if actor.role == "endorser":
            asked = filters.get("jurisdiction_id")
            if asked and asked != actor.organization_id:
                raise PermissionDenied(
                    f"{actor.id} lists nominations of {actor.organization_id} only")
            return {"jurisdiction_id": actor.organization_id}
        raise PermissionDenied(f"the {actor.role} role does not list nominations")

    def _may_read(self, nomination: domain.Nomination) -> bool:
        """Who may see a nomination; others are told it does not exist."""
        actor = current_request().actor
        if actor.role in ("organizer", "auditor", "service"):
            return True
        if actor.role == "nominator":
            return actor.organization_id in (nomination.hospital_id,
                                             nomination.nominee.organization_id)
        if actor.role == "endorser":
            return actor.organization_id == nomination.jurisdiction_id
        return False

    def _own(self, current: domain.Nomination | None) -> domain.Nomination:
        """The nomination, if the caller's organization nominated it (or acts on it)."""
        if current is None:
            raise NotFound("no such nomination", field="nomination_id")
        actor = current_request().actor
        if actor.role == "nominator" and actor.organization_id not in (
                current.hospital_id, current.nominee.organization_id):
            raise NotFound("no such nomination", field="nomination_id")
        return current

    def _require_nominator_of(self, placement: domain.Placement,
                              nominee: domain.Nominee) -> None:
        """A nominator nominates only for their own hospital (or its department)."""
        actor = self._require_role("nominator")
        if actor.organization_id not in (placement.hospital_id, nominee.organization_id):
            raise PermissionDenied(
                f"{actor.id} nominates for {actor.organization_id or 'no organization'}, "
                f"not for {placement.hospital_id}")

    def _require_role(self, role: str):  # noqa: ANN202
        actor = current_request().actor
        if actor.role != role:
            raise PermissionDenied(f"this action is for the {role} role, not {actor.role}")
        return actor

    def _system_metadata(self) -> EventMetadata:
        return EventMetadata(SYSTEM_ACTOR, correlation_id="campaign-definitions")


def cause_word(event: RecordedEvent) -> str:
    return "rejected" if event.type == domain.NOMINATION_REJECTED else "withdrawn"
