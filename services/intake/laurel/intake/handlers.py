"""Intake's use cases: one function per command or query, each given its unit of work.

A handler loads what it needs through `uow` (streams and read-model rows,
before the store's write lock, so other writers keep going), lets the domain
decide, and appends; at the write the unit checks that no stream it read has
moved on, and `EventStore.run` decides again if one did. The one read that
must be serialized with the write is a hospital's live nominations (its
quotas and the leader rule): made after `uow.lock()`.

`Intake.handle(message)` runs a message's handler in one unit of work: one
connection, one transaction. Queries run in a unit that never takes the
write lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from laurel.auth import event_metadata
from laurel.campaigns.access import require_organizer_of
from laurel.envelope import Caller, NewEvent, RecordedEvent
from laurel.errors import FieldViolation, InvalidArgument, NotFound
from laurel.eventstore import EventStore, Publication
from laurel.intake import evidence_store, read_models
from laurel.intake.domain import access, campaigns, evidence, nomination, organizations, rules
from laurel.intake.domain.commands import (
    AmendNomination,
    AttachEvidence,
    DraftNomination,
    EndorseNomination,
    ForwardNomination,
    GetEvidence,
    GetNomination,
    GetNominationHistory,
    GetOrganization,
    ListNominations,
    NominationForm,
    Nominee,
    ReceiveNomination,
    RecordCampaignDefinitions,
    RegisterOrganization,
    RejectNomination,
    ResubmitNomination,
    ReturnNomination,
    SaveDraft,
    SetCampaignClock,
    SubmitDraft,
    SubmitNomination,
    WithdrawNomination,
)
from laurel.intake.domain.evidence import Attachment
from laurel.intake.domain.nomination import NOMINATION, Nomination, stream_id
from laurel.intake.domain.organizations import ORGANIZATION, Organization, Placement
from laurel.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Dependencies:
    """What handlers need besides their unit of work (built by the bootstrap)."""

    catalog: campaigns.CampaignCatalog
    topic: str  # where intake's events are published
    center_id: str  # the provincial center, which receives nominations
    development: bool  # the campaign clock may be moved
    clock: Callable[[], datetime]  # the wall clock, when no campaign clock is set


# -- campaigns ---------------------------------------------------------------------


def record_campaign_definitions(cmd: RecordCampaignDefinitions, uow: UnitOfWork,
                                deps: Dependencies) -> list[str]:
    changed = []
    for campaign in deps.catalog.all():
        stream = campaigns.definition_stream(campaign.campaign_id)
        decided = campaigns.record_definition(
            uow.load(stream, campaigns.RECORDED_DIGEST), campaign)
        if decided:
            uow.append(stream, decided, event_metadata(caller=cmd.caller),
                       publish=Publication(deps.topic, campaign.campaign_id))
            changed.append(campaign.campaign_id)
    return changed


def set_campaign_clock(cmd: SetCampaignClock, uow: UnitOfWork, deps: Dependencies) -> int:
    campaign = deps.catalog.campaign(cmd.campaign_id)
    decided = campaigns.set_clock(campaign, cmd.now, cmd.caller.actor,
                                  development=deps.development)
    # Published: review, scoring and notification note it and keep to it.
    return uow.append(campaigns.clock_stream(cmd.campaign_id), decided,
                      event_metadata(caller=cmd.caller),
                      publish=Publication(deps.topic, cmd.campaign_id))[-1].version


# -- organizations -------------------------------------------------------------------


def register_organization(cmd: RegisterOrganization, uow: UnitOfWork,
                          deps: Dependencies) -> int:
    candidate = cmd.organization
    stream = organizations.stream_id(candidate.organization_id)
    existing = uow.load(stream, ORGANIZATION)
    lookup = read_models.organizations(uow.conn, (candidate.jurisdiction_id,
                                                  candidate.parent_id))
    decided = organizations.register_organization(existing, candidate, lookup)
    return uow.append(stream, decided, event_metadata(caller=cmd.caller))[-1].version


def get_organization(query: GetOrganization, uow: UnitOfWork,
                     deps: Dependencies) -> Organization:
    found = uow.load(organizations.stream_id(query.organization_id), ORGANIZATION)
    if found is None:
        raise NotFound(f"no organization {query.organization_id!r}", field="organization_id")
    return found


# -- the nomination lifecycle -----------------------------------------------------------


def draft_nomination(cmd: DraftNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    form = cmd.form
    _, category = deps.catalog.category(form.campaign_id, form.category)
    placement = _placement(uow, deps, form.nominee)
    access.require_nominator_of(cmd.caller.actor, placement, form.nominee)
    fields, violations = category.normalize(form.fields, partial=True)
    violations = rules.nominee_violations(form.nominee, category) + violations
    current = _load(uow, form.nomination_id)
    return _record(uow, deps, cmd.caller, current, nomination.draft_nomination(
        current, _canonical(form, fields), placement, violations))


def save_draft(cmd: SaveDraft, uow: UnitOfWork, deps: Dependencies) -> int:
    current = access.own(cmd.caller.actor, _load(uow, cmd.nomination_id,
                                                 cmd.expected_version))
    _, category = deps.catalog.category(current.campaign_id, current.category)
    changes, violations = category.normalize(cmd.fields, partial=True)
    return _record(uow, deps, cmd.caller, current,
                   nomination.save_draft(current, changes, violations))


def submit_nomination(cmd: SubmitNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    """Submit a whole nomination in one step."""
    current = _load(uow, cmd.form.nomination_id)
    return _submit(uow, deps, cmd.caller, current, cmd.form)


def submit_draft(cmd: SubmitDraft, uow: UnitOfWork, deps: Dependencies) -> int:
    current = access.own(cmd.caller.actor, _load(uow, cmd.nomination_id,
                                                 cmd.expected_version))
    return _submit(uow, deps, cmd.caller, current, None)


def _submit(uow: UnitOfWork, deps: Dependencies, caller: Caller,
            current: Nomination | None, form: NominationForm | None) -> int:
    """Every rule a submission passes; `form` None submits the draft `current`."""
    source = form if form is not None else _existing(current).form
    campaign, category = deps.catalog.category(source.campaign_id, source.category)
    placement = _placement(uow, deps, source.nominee)
    access.require_nominator_of(caller.actor, placement, source.nominee)
    fields, violations = category.normalize(source.fields)
    violations = rules.nominee_violations(source.nominee, category) + violations
    source = _canonical(source, fields)
    form = source if form is not None else None
    if violations:
        raise InvalidArgument(f"the nomination has {len(violations)} invalid "
                              "field(s); nothing was stored", violations)
    total = category.self_assessment_total(source.fields)
    now = _campaign_now(uow, deps, campaign.campaign_id)
    uow.lock()  # the quota's count must not move before this submission commits
    facts = read_models.hospital_facts(uow.conn, placement.hospital_id,
                                       excluding=source.nomination_id)
    rules.check_submission(campaign, category, total, facts, now, source.nomination_id)
    return _record(uow, deps, caller, current,
                   nomination.submit_nomination(current, form, placement, [], total))


def return_nomination(cmd: ReturnNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    current = _load(uow, cmd.nomination_id, cmd.expected_version)
    commission = cmd.caller.actor.organization_id
    return _record(uow, deps, cmd.caller, current, nomination.return_nomination(
        current, commission, cmd.reasons, _name_of(uow, commission)))


def resubmit_nomination(cmd: ResubmitNomination, uow: UnitOfWork,
                        deps: Dependencies) -> int:
    current = access.own(cmd.caller.actor, _load(uow, cmd.nomination_id,
                                                 cmd.expected_version))
    _, changes, violations, total = _corrected(deps, current, cmd.fields)
    return _record(uow, deps, cmd.caller, current, nomination.resubmit_nomination(
        current, changes, violations, total))


def endorse_nomination(cmd: EndorseNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    current = _load(uow, cmd.nomination_id, cmd.expected_version)
    commission = cmd.caller.actor.organization_id
    return _record(uow, deps, cmd.caller, current, nomination.endorse_nomination(
        current, commission, cmd.opinion, _name_of(uow, commission)))


def forward_nomination(cmd: ForwardNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    current = _load(uow, cmd.nomination_id, cmd.expected_version)
    return _record(uow, deps, cmd.caller, current, nomination.forward_nomination(
        current, cmd.caller.actor.organization_id, deps.center_id))


def receive_nomination(cmd: ReceiveNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    access.require_center(cmd.caller.actor, deps.center_id)
    current = _load(uow, cmd.nomination_id, cmd.expected_version)
    if current is not None:
        require_organizer_of(deps.catalog.campaign(current.campaign_id).definition,
                             cmd.caller.actor)
    return _record(uow, deps, cmd.caller, current,
                   nomination.receive_nomination(current, deps.center_id))


def amend_nomination(cmd: AmendNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    current = access.own(cmd.caller.actor, _load(uow, cmd.nomination_id,
                                                 cmd.expected_version))
    campaign, changes, violations, total = _corrected(deps, current, cmd.fields)
    open_now = campaign.stage_open("nomination",
                                   _campaign_now(uow, deps, campaign.campaign_id))
    return _record(uow, deps, cmd.caller, current, nomination.amend_nomination(
        current, changes, cmd.reason, violations, open_now, total))


def withdraw_nomination(cmd: WithdrawNomination, uow: UnitOfWork,
                        deps: Dependencies) -> int:
    """Withdraw; a leader nomination that loses its benchmark becomes ineligible."""
    current = access.own(cmd.caller.actor, _load(uow, cmd.nomination_id,
                                                 cmd.expected_version))
    return _end(uow, deps, cmd.caller, current,
                nomination.withdraw_nomination(current, cmd.reason))


def reject_nomination(cmd: RejectNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    """The commission or the center declines it, with the same consequence."""
    actor = cmd.caller.actor
    current = _load(uow, cmd.nomination_id, cmd.expected_version)
    if current is not None and actor.role == "organizer":  # the center, for its campaign
        require_organizer_of(deps.catalog.campaign(current.campaign_id).definition, actor)
    return _end(uow, deps, cmd.caller, current, nomination.reject_nomination(
        current, actor.organization_id, deps.center_id, cmd.reasons))


def attach_evidence(cmd: AttachEvidence, uow: UnitOfWork, deps: Dependencies) -> int:
    """Check the file, decide, then keep the bytes in the event's transaction:
    a refused file is never written, and both commit or neither does."""
    attachment = evidence.describe(cmd.content, cmd.filename, cmd.media_type, cmd.kind)
    current = access.own(cmd.caller.actor, _load(uow, cmd.nomination_id,
                                                 cmd.expected_version))
    decided = nomination.attach_evidence(current, attachment)
    uow.lock()  # writes from here on: the bytes, then the event naming them
    evidence_store.keep(uow.conn, cmd.content)
    return _record(uow, deps, cmd.caller, current, decided)


# -- queries ---------------------------------------------------------------------------


def get_nomination(query: GetNomination, uow: UnitOfWork, deps: Dependencies) -> Nomination:
    found = uow.load(stream_id(query.nomination_id), NOMINATION, as_of=query.as_of)
    return _readable(query.caller, found, query.nomination_id, query.as_of)


def get_nomination_history(query: GetNominationHistory, uow: UnitOfWork,
                           deps: Dependencies) -> list[RecordedEvent]:
    history = uow.read(stream_id(query.nomination_id))
    _readable(query.caller, nomination.fold(history), query.nomination_id)
    return history


def list_nominations(query: ListNominations, uow: UnitOfWork,
                     deps: Dependencies) -> tuple[list[dict[str, Any]], str]:
    """A page of the caller's nominations and the token of the next ('' at the end)."""
    limit = min(max(query.page_size or 50, 1), 500)
    filters = {"campaign_id": query.campaign_id, "category": query.category,
               "jurisdiction_id": query.jurisdiction_id, "status": query.status}
    filters.update(access.list_scope(query.caller.actor, query.jurisdiction_id))
    rows = read_models.list_nominations(uow.conn, limit=limit, after=query.page_token,
                                        **filters)
    return rows, read_models.page_token(rows[-1]) if len(rows) == limit else ""


def get_evidence(query: GetEvidence, uow: UnitOfWork,
                 deps: Dependencies) -> tuple[Attachment, bytes]:
    """An attachment the caller may read (it belongs to a nomination they see)."""
    found = _readable(query.caller, uow.load(stream_id(query.nomination_id), NOMINATION),
                      query.nomination_id)
    attachment = next((a for a in found.attachments if a.sha256 == query.sha256), None)
    if attachment is None:
        raise NotFound(f"nomination {query.nomination_id} has no attachment "
                       f"{query.sha256[:12]}…", field="sha256")
    content = evidence_store.fetch(uow.conn, attachment.sha256)
    if content is None:
        raise NotFound(f"the bytes of evidence {attachment.sha256[:12]}… are missing",
                       field="sha256")
    return attachment, evidence.verified(content, attachment.sha256)


# -- shared steps ------------------------------------------------------------------------


def _load(uow: UnitOfWork, nomination_id: str,
          expected_version: int | None = None) -> Nomination | None:
    return uow.load(stream_id(nomination_id), NOMINATION, expected_version=expected_version)


def _existing(current: Nomination | None) -> Nomination:
    if current is None:
        raise NotFound("no such nomination", field="nomination_id")
    return current


def _readable(caller: Caller, found: Nomination | None, nomination_id: str,
              as_of: datetime | None = None) -> Nomination:
    """The nomination, if the caller may see it; else it does not exist for them."""
    if found is None or not access.may_read(caller.actor, found):
        raise NotFound(f"no nomination {nomination_id!r}"
                       + (f" as of {as_of.isoformat()}" if as_of else ""),
                       field="nomination_id")
    return found


def _record(uow: UnitOfWork, deps: Dependencies, caller: Caller,
            current: Nomination | None, decided: Sequence[NewEvent]) -> int:
    """Append what was decided; the nomination's version after it."""
    if not decided:
        return current.version if current else 0
    return _append(uow, deps, caller, decided)[-1].version


def _append(uow: UnitOfWork, deps: Dependencies, caller: Caller,
            decided: Sequence[NewEvent], causation_id: str = "") -> list[RecordedEvent]:
    nomination_id = decided[0].payload["nomination_id"]
    return uow.append(stream_id(nomination_id), decided,
                      event_metadata(causation_id, caller=caller),
                      publish=Publication(deps.topic, nomination_id))


def _end(uow: UnitOfWork, deps: Dependencies, caller: Caller, current: Nomination | None,
         decided: Sequence[NewEvent]) -> int:
    """A withdrawal or rejection, and the leader nominations it leaves without
    the live nomination they need, marked ineligible in the same transaction."""
    ended = _existing(current)
    cause = _append(uow, deps, caller, decided)[-1]
    campaign = deps.catalog.campaign(ended.campaign_id)
    facts = read_models.hospital_facts(uow.conn, ended.hospital_id,
                                       excluding=ended.nomination_id)
    for category in rules.dependants_losing_support(campaign.categories(), ended.category,
                                                    facts):
        for dependant_id in read_models.live_nomination_ids(uow.conn, ended.hospital_id,
                                                            [category.key]):
            marked = nomination.lost_support(_load(uow, dependant_id), ended, cause,
                                             category.required_live_categories())
            if marked:
                _append(uow, deps, caller, marked, causation_id=cause.event_id)
    return cause.version


def _corrected(deps: Dependencies, current: Nomination, fields: Mapping[str, str]
               ) -> tuple[campaigns.CampaignRules, dict[str, str], list[FieldViolation],
                          int | None]:
    """A nomination's form with a caller's `fields` changed: its campaign, the
    changes in canonical form, what is wrong with them or with the whole form
    they make, and its self-assessment total, which must still reach the
    category's threshold."""
    campaign, category = deps.catalog.category(current.campaign_id, current.category)
    changes, violations = category.normalize(fields, partial=True)
    if violations:
        return campaign, changes, violations, None
    merged = nomination.merged_fields(current.fields, changes)
    total = category.self_assessment_total(merged)
    rules.check_self_assessment(category, total, current.nomination_id)
    return campaign, changes, category.validate(merged), total


def _canonical(form: NominationForm, fields: Mapping[str, str]) -> NominationForm:
    """The form with its fields as stored: canonical, blank ones left out."""
    return replace(form, fields={k: v for k, v in fields.items() if v != ""})


def _placement(uow: UnitOfWork, deps: Dependencies, nominee: Nominee) -> Placement:
    org = read_models.organization(uow.conn, nominee.organization_id)
    if org is None:
        raise NotFound(f"no organization {nominee.organization_id!r}",
                       field="organization_id")
    lookup = read_models.organizations(uow.conn, [org.parent_id])
    return organizations.placement_of(org, lookup, deps.center_id)


def _name_of(uow: UnitOfWork, organization_id: str) -> str:
    """An organization's name, for the events' readers (a notification names
    the commission that returned a nomination)."""
    found = read_models.organization(uow.conn, organization_id)
    return found.name if found else ""


def _campaign_now(uow: UnitOfWork, deps: Dependencies, campaign_id: str) -> datetime:
    return campaigns.campaign_now(uow.load(campaigns.clock_stream(campaign_id),
                                           campaigns.CLOCK), deps.clock())


# -- dispatch ----------------------------------------------------------------------------

HANDLERS: dict[type, Callable[[Any, UnitOfWork, Dependencies], Any]] = {
    RecordCampaignDefinitions: record_campaign_definitions,
    SetCampaignClock: set_campaign_clock,
    RegisterOrganization: register_organization,
    GetOrganization: get_organization,
    DraftNomination: draft_nomination,
    SaveDraft: save_draft,
    SubmitNomination: submit_nomination,
    SubmitDraft: submit_draft,
    ReturnNomination: return_nomination,
    ResubmitNomination: resubmit_nomination,
    EndorseNomination: endorse_nomination,
    ForwardNomination: forward_nomination,
    ReceiveNomination: receive_nomination,
    AmendNomination: amend_nomination,
    WithdrawNomination: withdraw_nomination,
    RejectNomination: reject_nomination,
    AttachEvidence: attach_evidence,
    GetNomination: get_nomination,
    GetNominationHistory: get_nomination_history,
    ListNominations: list_nominations,
    GetEvidence: get_evidence,
}


@dataclass(frozen=True)
class Intake:
    """Intake's use cases over its store (the service's `app`)."""

    store: EventStore
    deps: Dependencies

    def handle(self, message: Any) -> Any:
        """Run `message`'s handler in one unit of work (blocking: the gRPC
        adapter calls this in a thread)."""
        handler = HANDLERS[type(message)]
        return self.store.run(lambda uow: handler(message, uow, self.deps))
