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
from datetime import date, datetime
from typing import Any

from laurel.auth import event_metadata
from laurel.campaigns import access as campaign_access
from laurel.campaigns import endorsement_opinion_field, endorsement_values, require_stage
from laurel.campaigns.stages import stages_at
from laurel.campaigns.vocabulary import canonical_nominee_kind
from laurel.envelope import Caller, NewEvent, RecordedEvent, counted_by
from laurel.errors import (
    ConcurrencyConflict,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from laurel.eventstore import EventStore, Publication
from laurel.intake import evidence_store, read_models
from laurel.intake.domain import access, campaigns, evidence, nomination, organizations, rules
from laurel.intake.domain.commands import (
    AmendNomination,
    AttachEvidence,
    AttachReport,
    DraftNomination,
    EndorseNomination,
    ForwardNomination,
    GetCampaign,
    GetEvidence,
    GetNomination,
    GetNominationHistory,
    GetOrganization,
    ListCampaigns,
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
from laurel.intake.domain.organizations import ORGANIZATION, Organization, Placement, Route
from laurel.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Dependencies:
    """What handlers need besides their unit of work (built by the bootstrap)."""

    catalog: campaigns.CampaignCatalog
    topic: str  # where intake's events are published
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
            now = campaign.local(_campaign_now(uow, deps, campaign))
            uow.append(stream, decided, event_metadata(caller=cmd.caller, campaign_time=now),
                       publish=Publication(deps.topic))
            changed.append(campaign.campaign_id)
    return changed


def set_campaign_clock(cmd: SetCampaignClock, uow: UnitOfWork, deps: Dependencies) -> int:
    campaign = deps.catalog.campaign(cmd.campaign_id)
    decided = campaigns.set_clock(campaign, cmd.now, cmd.caller.actor,
                                  development=deps.development)
    # Published: review, scoring and notification note it and keep to it.
    return uow.append(campaigns.clock_stream(cmd.campaign_id), decided,
                      event_metadata(caller=cmd.caller),
                      publish=Publication(deps.topic))[-1].version


@dataclass(frozen=True)
class CampaignView:
    """A campaign as ListCampaigns and GetCampaign show it."""

    recorded: campaigns.RecordedDefinition
    now: datetime

    @property
    def open_stages(self) -> list[str]:
        return [s.key for s in stages_at(self.recorded.definition, self.now)]


def list_campaigns(query: ListCampaigns, uow: UnitOfWork,
                   deps: Dependencies) -> list[CampaignView]:
    return [_campaign_view(uow, deps, c.campaign_id) for c in deps.catalog.all()]


def get_campaign(query: GetCampaign, uow: UnitOfWork, deps: Dependencies) -> CampaignView:
    return _campaign_view(uow, deps, query.campaign_id, query.as_of, query.recorded_as_of)


def _campaign_view(uow: UnitOfWork, deps: Dependencies, campaign_id: str,
                   as_of: datetime | None = None,
                   recorded_as_of: datetime | None = None) -> CampaignView:
    campaign = deps.catalog.campaign(campaign_id)
    recorded = campaigns.recorded_definition(
        uow.read(campaigns.definition_stream(campaign_id)), campaign_id, as_of=as_of,
        recorded_as_of=recorded_as_of)
    return CampaignView(recorded, _campaign_now(uow, deps, campaign))


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
#
# Every command on a nomination checks, in this order: that the caller may see
# it (else NOT_FOUND, as for a nomination that does not exist), the version the
# caller saw, the stage of the campaign clock that permits the act, then who
# may do it and the nomination's status. Its events carry the campaign time.


@dataclass(frozen=True)
class Act:
    """A command's nomination, once the caller may see it: with its campaign
    and the campaign's "now" (the campaign clock)."""

    nomination: Nomination
    campaign: campaigns.CampaignRules
    now: datetime

    def require_stage(self, action: str) -> None:
        require_stage(self.campaign.definition, action, self.now,
                      self.nomination.nomination_id)


def draft_nomination(cmd: DraftNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    form = cmd.form
    campaign, category = deps.catalog.category(form.campaign_id, form.category)
    now = _campaign_now(uow, deps, campaign)
    require_stage(campaign.definition, "submit", now, form.nomination_id)
    placement, kind = _placement(uow, cmd.caller, form.nominee, campaign)
    fields, violations = category.normalize(form.fields, partial=True)
    violations = rules.nominee_violations(form.nominee, category, kind) + violations
    current = _load(uow, form.nomination_id)
    return _record(uow, deps, cmd.caller, nomination.draft_nomination(
        current, _canonical(form, fields), placement, violations), campaign, now, current)


def save_draft(cmd: SaveDraft, uow: UnitOfWork, deps: Dependencies) -> int:
    act = _act(uow, deps, cmd.caller, cmd.nomination_id, cmd.expected_version)
    act.require_stage("submit")
    category = _category(deps, act.nomination)
    changes, violations = category.normalize(cmd.fields, partial=True)
    return _recorded(uow, deps, cmd.caller, act,
                     nomination.save_draft(act.nomination, changes, violations))


def submit_nomination(cmd: SubmitNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    """Submit a whole nomination in one step."""
    current = _load(uow, cmd.form.nomination_id)
    campaign = deps.catalog.campaign(cmd.form.campaign_id)
    return _submit(uow, deps, cmd.caller, current, cmd.form, campaign,
                   _campaign_now(uow, deps, campaign))


def submit_draft(cmd: SubmitDraft, uow: UnitOfWork, deps: Dependencies) -> int:
    act = _act(uow, deps, cmd.caller, cmd.nomination_id, cmd.expected_version)
    return _submit(uow, deps, cmd.caller, act.nomination, None, act.campaign, act.now)


def _submit(uow: UnitOfWork, deps: Dependencies, caller: Caller,
            current: Nomination | None, form: NominationForm | None,
            campaign: campaigns.CampaignRules, now: datetime) -> int:
    """Every rule a submission passes; `form` None submits the draft `current`."""
    source = form if form is not None else _existing(current).form
    campaign, category = deps.catalog.category(campaign.campaign_id, source.category)
    require_stage(campaign.definition, "submit", now, source.nomination_id)
    placement, kind = _placement(uow, caller, source.nominee, campaign)
    fields, violations = category.normalize(source.fields)
    violations = rules.nominee_violations(source.nominee, category, kind) + violations
    source = _canonical(source, fields)
    form = source if form is not None else None
    if violations:
        raise InvalidArgument(f"the nomination has {len(violations)} invalid "
                              "field(s); nothing was stored", violations)
    total = category.self_assessment_total(source.fields)
    uow.lock()  # the quota's count must not move before this submission commits
    facts = read_models.hospital_facts(uow.conn, placement.hospital_id,
                                       excluding=source.nomination_id)
    rules.check_submission(category, total, facts, source.nomination_id)
    return _record(uow, deps, caller, nomination.submit_nomination(
        current, form, placement, [], total), campaign, now, current)


def return_nomination(cmd: ReturnNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    act = _act(uow, deps, cmd.caller, cmd.nomination_id, cmd.expected_version)
    act.require_stage("endorse")
    commission = cmd.caller.actor.organization_id
    return _recorded(uow, deps, cmd.caller, act, nomination.return_nomination(
        act.nomination, commission, cmd.reasons, _name_of(uow, commission)))


def resubmit_nomination(cmd: ResubmitNomination, uow: UnitOfWork,
                        deps: Dependencies) -> int:
    act = _act(uow, deps, cmd.caller, cmd.nomination_id, cmd.expected_version)
    act.require_stage("submit")
    changes, violations, total = _corrected(deps, act.nomination, cmd.fields)
    return _recorded(uow, deps, cmd.caller, act, nomination.resubmit_nomination(
        act.nomination, changes, violations, total))


def endorse_nomination(cmd: EndorseNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    act = _act(uow, deps, cmd.caller, cmd.nomination_id, cmd.expected_version)
    act.require_stage("endorse")
    commission = cmd.caller.actor.organization_id
    return _recorded(uow, deps, cmd.caller, act, nomination.endorse_nomination(
        act.nomination, commission, cmd.opinion, _name_of(uow, commission)))


def forward_nomination(cmd: ForwardNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    act = _act(uow, deps, cmd.caller, cmd.nomination_id, cmd.expected_version)
    act.require_stage("endorse")
    return _recorded(uow, deps, cmd.caller, act, nomination.forward_nomination(
        act.nomination, cmd.caller.actor.organization_id))


def receive_nomination(cmd: ReceiveNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    act = _act(uow, deps, cmd.caller, cmd.nomination_id, cmd.expected_version)
    act.require_stage("receive")
    receiver = campaign_access.require_receiver(
        act.campaign.definition, cmd.caller.actor, act.nomination.route.receiver_id)
    return _recorded(uow, deps, cmd.caller, act, nomination.receive_nomination(
        act.nomination, receiver.organization_id))


def amend_nomination(cmd: AmendNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    act = _act(uow, deps, cmd.caller, cmd.nomination_id, cmd.expected_version)
    act.require_stage("amend")
    changes, violations, total = _corrected(deps, act.nomination, cmd.fields)
    return _recorded(uow, deps, cmd.caller, act, nomination.amend_nomination(
        act.nomination, changes, cmd.reason, violations, total))


def withdraw_nomination(cmd: WithdrawNomination, uow: UnitOfWork,
                        deps: Dependencies) -> int:
    """Withdraw; a leader nomination that loses its benchmark becomes ineligible."""
    act = _act(uow, deps, cmd.caller, cmd.nomination_id, cmd.expected_version)
    act.require_stage("withdraw")
    return _end(uow, deps, cmd.caller, act,
                nomination.withdraw_nomination(act.nomination, cmd.reason))


def reject_nomination(cmd: RejectNomination, uow: UnitOfWork, deps: Dependencies) -> int:
    """The commission (while endorsing) or the receiver (while receiving)
    declines it, with the same consequence."""
    actor = cmd.caller.actor
    act = _act(uow, deps, cmd.caller, cmd.nomination_id, cmd.expected_version)
    if actor.role == campaign_access.ORGANIZER:
        act.require_stage("receive")
        campaign_access.require_receiver(act.campaign.definition, actor,
                                         act.nomination.route.receiver_id)
    else:
        act.require_stage("endorse")
    return _end(uow, deps, cmd.caller, act, nomination.reject_nomination(
        act.nomination, actor.organization_id, cmd.reasons))


def attach_evidence(cmd: AttachEvidence, uow: UnitOfWork, deps: Dependencies) -> int:
    """Check the file, decide, then keep the bytes in the event's transaction:
    a refused file is never written, and both commit or neither does. A
    draft's evidence belongs to submitting, a live nomination's to amending."""
    attachment = evidence.describe(cmd.content, cmd.filename, cmd.media_type, cmd.kind)
    act = _act(uow, deps, cmd.caller, cmd.nomination_id, cmd.expected_version)
    act.require_stage("submit" if act.nomination.status == "draft" else "amend")
    decided = nomination.attach_evidence(act.nomination, attachment)
    uow.lock()  # writes from here on: the bytes, then the event naming them
    evidence_store.keep(uow.conn, cmd.content)
    return _recorded(uow, deps, cmd.caller, act, decided)


def attach_report(cmd: AttachReport, uow: UnitOfWork, deps: Dependencies) -> int:
    """A journalist (or the reporting newspaper) attaches an article or a
    report in the stage that permits it (henan-2021: interviews and
    reporting), to a nomination of a campaign they report on."""
    attachment = evidence.describe(cmd.content, cmd.filename, cmd.media_type, cmd.kind,
                                   evidence.REPORT_KINDS)
    act = _act(uow, deps, cmd.caller, cmd.nomination_id, cmd.expected_version)
    act.require_stage("attach_report")
    campaign_access.require_reporter(act.campaign.definition, cmd.caller.actor, cmd.kind)
    decided = nomination.attach_report(act.nomination, attachment, cmd.title,
                                       cmd.caller.actor.organization_id)
    uow.lock()
    evidence_store.keep(uow.conn, cmd.content)
    return _recorded(uow, deps, cmd.caller, act, decided)


# -- queries ---------------------------------------------------------------------------


def get_nomination(query: GetNomination, uow: UnitOfWork, deps: Dependencies) -> Nomination:
    """As it stands, or as it stood at a campaign time (`as_of`: the events
    that count by then) or at a wall-clock time (`recorded_as_of`: the events
    recorded by then)."""
    stream = stream_id(query.nomination_id)
    when = ""
    if query.recorded_as_of is not None:
        found = uow.load(stream, NOMINATION, as_of=query.recorded_as_of)
        when = f" as recorded by {query.recorded_as_of.isoformat()}"
    elif query.as_of is not None:
        found = nomination.fold(counted_by(uow.read(stream), query.as_of))
        when = f" as of campaign time {query.as_of.isoformat()}"
    else:
        found = uow.load(stream, NOMINATION)
    current = _visible(deps, query.caller, found, query.nomination_id, when)
    return shown(deps, current)


def get_nomination_history(query: GetNominationHistory, uow: UnitOfWork,
                           deps: Dependencies) -> list[RecordedEvent]:
    history = uow.read(stream_id(query.nomination_id))
    _visible(deps, query.caller, nomination.fold(history), query.nomination_id)
    return history


def list_nominations(query: ListNominations, uow: UnitOfWork,
                     deps: Dependencies) -> tuple[list[dict[str, Any]], str]:
    """A page of the caller's nominations and the token of the next ('' at the end)."""
    limit = min(max(query.page_size or 50, 1), 500)
    filters: dict[str, Any] = {
        "campaign_id": query.campaign_id, "category": query.category,
        "jurisdiction_id": query.jurisdiction_id, "status": query.status}
    filters.update(access.list_scope(query.caller.actor, query.jurisdiction_id,
                                     query.campaign_id,
                                     [c.definition for c in deps.catalog.all()]))
    rows = read_models.list_nominations(uow.conn, limit=limit, after=query.page_token,
                                        **filters)
    return rows, read_models.page_token(rows[-1]) if len(rows) == limit else ""


def get_evidence(query: GetEvidence, uow: UnitOfWork,
                 deps: Dependencies) -> tuple[Attachment, bytes]:
    """An attachment the caller may read (it belongs to a nomination they see)."""
    found = _visible(deps, query.caller, uow.load(stream_id(query.nomination_id),
                                                  NOMINATION), query.nomination_id)
    attachment = next((a for a in found.attachments if a.sha256 == query.sha256), None)
    if attachment is None:
        raise NotFound(f"nomination {query.nomination_id} has no attachment "
                       f"{query.sha256[:12]}…", field="sha256")
    content = evidence_store.fetch(uow.conn, attachment.sha256)
    if content is None:
        raise NotFound(f"the bytes of evidence {attachment.sha256[:12]}… are missing",
                       field="sha256")
    return attachment, evidence.verified(content, attachment.sha256)


def shown(deps: Dependencies, found: Nomination) -> Nomination:
    """The nomination as its form reads: the cells an authority fills by its
    act (附件2's 所属卫生健康委意见, by the endorsement) filled from that act."""
    endorsement = found.endorsement
    category = _category(deps, found).definition
    if endorsement is None or endorsement_opinion_field(category) is None:
        return found
    cells = endorsement_values(
        category, opinion=endorsement.opinion,
        endorser=endorsement.commission_name or endorsement.commission_id,
        endorsed_on=date.fromisoformat(endorsement.endorsed_on))
    return replace(found, fields={**found.fields, **cells})


# -- shared steps ------------------------------------------------------------------------


def _load(uow: UnitOfWork, nomination_id: str) -> Nomination | None:
    return uow.load(stream_id(nomination_id), NOMINATION)


def _act(uow: UnitOfWork, deps: Dependencies, caller: Caller, nomination_id: str,
         expected_version: int | None) -> Act:
    """The nomination a command acts on, if the caller may see it (else
    NOT_FOUND), at the version the caller saw (else ABORTED)."""
    found = _load(uow, nomination_id)
    current = _visible(deps, caller, found, nomination_id)
    if expected_version is not None and expected_version != current.version:
        raise ConcurrencyConflict(f"nomination {nomination_id}", expected_version,
                                  current.version)
    campaign = deps.catalog.campaign(current.campaign_id)
    if not current.route.receiver_id:  # routed before receivers were campaign data
        receiver = campaign.definition.routing.receivers[0].organization_id
        current = replace(current, route=replace(current.route, receiver_id=receiver))
    return Act(current, campaign, _campaign_now(uow, deps, campaign))


def _existing(current: Nomination | None) -> Nomination:
    if current is None:
        raise NotFound("no such nomination", field="nomination_id")
    return current


def _visible(deps: Dependencies, caller: Caller, found: Nomination | None,
             nomination_id: str, when: str = "") -> Nomination:
    campaign = deps.catalog.get(found.campaign_id) if found is not None else None
    return access.visible(caller.actor, found, nomination_id,
                          campaign.definition if campaign else None, when)


def _category(deps: Dependencies, found: Nomination) -> campaigns.CategoryRules:
    return deps.catalog.category(found.campaign_id, found.category)[1]


def _record(uow: UnitOfWork, deps: Dependencies, caller: Caller,
            decided: Sequence[NewEvent], campaign: campaigns.CampaignRules,
            now: datetime, current: Nomination | None) -> int:
    """Append what was decided, at campaign time `now`; the nomination's
    version after it."""
    if not decided:
        return current.version if current else 0
    return _append(uow, deps, caller, decided, campaign, now)[-1].version


def _recorded(uow: UnitOfWork, deps: Dependencies, caller: Caller, act: Act,
              decided: Sequence[NewEvent]) -> int:
    return _record(uow, deps, caller, decided, act.campaign, act.now, act.nomination)


def _append(uow: UnitOfWork, deps: Dependencies, caller: Caller,
            decided: Sequence[NewEvent], campaign: campaigns.CampaignRules,
            now: datetime, causation_id: str = "") -> list[RecordedEvent]:
    nomination_id = decided[0].payload["nomination_id"]
    return uow.append(stream_id(nomination_id), decided,
                      event_metadata(causation_id, caller=caller,
                                     campaign_time=campaign.local(now)),
                      publish=Publication(deps.topic))


def _end(uow: UnitOfWork, deps: Dependencies, caller: Caller, act: Act,
         decided: Sequence[NewEvent]) -> int:
    """A withdrawal or rejection, and the leader nominations it leaves without
    the live nomination they need, marked ineligible in the same transaction."""
    ended, campaign = act.nomination, act.campaign
    cause = _append(uow, deps, caller, decided, campaign, act.now)[-1]
    facts = read_models.hospital_facts(uow.conn, ended.hospital_id,
                                       excluding=ended.nomination_id)
    for category in rules.dependants_losing_support(campaign.categories(), ended.category,
                                                    facts):
        for dependant_id in read_models.live_nomination_ids(uow.conn, ended.hospital_id,
                                                            [category.key]):
            marked = nomination.lost_support(_load(uow, dependant_id), ended, cause,
                                             category.required_live_categories())
            if marked:
                _append(uow, deps, caller, marked, campaign, act.now,
                        causation_id=cause.event_id)
    return cause.version


def _corrected(deps: Dependencies, current: Nomination, fields: Mapping[str, str]
               ) -> tuple[dict[str, str], list[FieldViolation], int | None]:
    """A nomination's form with a caller's `fields` changed: the changes in
    canonical form, what is wrong with them or with the whole form they make,
    and its self-assessment total, which must still reach the category's
    threshold."""
    category = _category(deps, current)
    changes, violations = category.normalize(fields, partial=True)
    if violations:
        return changes, violations, None
    merged = nomination.merged_fields(current.fields, changes)
    total = category.self_assessment_total(merged)
    rules.check_self_assessment(category, total, current.nomination_id)
    return changes, category.validate(merged), total


def _canonical(form: NominationForm, fields: Mapping[str, str]) -> NominationForm:
    """The form as stored: canonical fields (blank ones left out), the
    nominee's kind in the documents' word."""
    nominee = replace(form.nominee, kind=canonical_nominee_kind(form.nominee.kind)
                      or form.nominee.kind)
    return replace(form, nominee=nominee,
                   fields={k: v for k, v in fields.items() if v != ""})


def _placement(uow: UnitOfWork, caller: Caller, nominee: Nominee,
               campaign: campaigns.CampaignRules) -> tuple[Placement, str]:
    """Where a nomination of `nominee` goes, by the campaign's routing, and
    the kind the nominee's organization is registered as. The nominating
    organization is the caller's: the nominee's own, or its hospital."""
    actor = caller.actor
    org = read_models.organization(uow.conn, nominee.organization_id)
    if org is None:
        raise NotFound(f"no organization {nominee.organization_id!r}",
                       field="nominee.organization_id")
    hospital = organizations.hospital_of(
        org, read_models.organizations(uow.conn, [org.parent_id]))
    acting = {org.organization_id: org, hospital.organization_id: hospital}.get(
        actor.organization_id)
    if acting is None:
        raise PermissionDenied(
            f"{actor.id} nominates for {actor.organization_id or 'no organization'}, "
            f"not for {nominee.organization_id} of {hospital.organization_id}")
    decision = campaign_access.require_nominator(
        campaign.definition, actor, campaign_access.NominatingOrganization(
            acting.organization_id, acting.kind, hospital.organization_id,
            hospital.provincial_level, hospital.jurisdiction_id))
    receiver = decision.receiver.organization_id
    route = (Route("center", receiver, receiver) if decision.direct
             else Route("commission", decision.endorser_id, receiver))
    return Placement(hospital.organization_id, hospital.jurisdiction_id, route), org.kind


def _name_of(uow: UnitOfWork, organization_id: str) -> str:
    """An organization's name, for the events' readers (a notification names
    the commission that returned a nomination)."""
    found = read_models.organization(uow.conn, organization_id)
    return found.name if found else ""


def _campaign_now(uow: UnitOfWork, deps: Dependencies,
                  campaign: campaigns.CampaignRules) -> datetime:
    """The campaign's clock (its last CampaignClockSet), else the wall clock."""
    return campaigns.campaign_now(uow.load(campaigns.clock_stream(campaign.campaign_id),
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
    AttachReport: attach_report,
    GetNomination: get_nomination,
    ListCampaigns: list_campaigns,
    GetCampaign: get_campaign,
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
