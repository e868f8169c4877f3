"""Notification's use cases: one function per command or query, each given
its unit of work.

A handler loads what it needs through the unit (`uow.load`, read models on
`uow.conn`), lets the domain decide, and appends through the unit; the unit
commits events, outbox rows and read-model rows together. Callers run a
handler with `store.run(lambda uow: handler(cmd, uow, context))`, which
decides again if a stream it read moved on before the write.

Who may call what is the access policy's (laurel.policy); what is checked
here depends on data: an organizer of *this* campaign approves its batch, a
person reads their own inbox unless they are an organizer or auditor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from laurel.campaigns import CampaignDefinition
from laurel.campaigns.access import require_organizer_of, require_organizing
from laurel.campaigns.clock import CampaignClocks, stamped
from laurel.campaigns.stages import require_stage
from laurel.envelope import Caller, EventMetadata, NewEvent
from laurel.errors import FieldViolation, InvalidArgument, PermissionDenied
from laurel.eventstore import Publication
from laurel.notification.domain import approval, delivery
from laurel.notification.domain.commands import (
    ApproveNotificationBatch,
    ListEmailDeliveries,
    ListNotifications,
    ListPendingBatches,
    RecordSendOutcome,
    SettleOrphanedSend,
    StartEmailSend,
    WatchNotifications,
)
from laurel.notification.domain.delivery import Email, RetryPolicy
from laurel.notification.domain.events import batch_stream, email_stream
from laurel.notification.domain.notifications import Append, Policy
from laurel.notification.read_models import ReadModels, Row, cursor
from laurel.telemetry import current_trace_carrier
from laurel.unit_of_work import Aggregate, UnitOfWork

BATCH = Aggregate("notification-batch", approval.evolve)
EMAIL = Aggregate("notification-email", delivery.evolve)
READ_ANY_INBOX = frozenset({"organizer", "auditor"})
POSITION = re.compile(r"[0-9]{1,20}", re.ASCII)


@dataclass(frozen=True)
class Context:
    """What the use cases need besides their unit of work."""

    read: ReadModels
    policy: Policy
    topic: str  # notification's own topic: what it records is published there
    campaigns: Mapping[str, CampaignDefinition]
    retry: RetryPolicy = RetryPolicy()
    # Longer than any live send lasts (two SMTP timeouts and a margin): a send
    # started longer ago than this has lost its worker.
    stale_after: timedelta = timedelta(seconds=65)
    # Each campaign's clock as notification noted intake's (else the wall clock).
    clocks: CampaignClocks = field(default_factory=CampaignClocks)


# What approving a batch of a kind is, as an act of a campaign stage
# (`laurel.campaigns.vocabulary`): results go out in the stage that publishes
# them, forum invitations in the one that invites; other kinds have no stage.
RESULTS_KIND, FORUM_KIND_PREFIX = "results", "forum_invitation"


def stage_act(kind: str) -> str | None:
    if kind == RESULTS_KIND:
        return "publish_results"
    if kind.startswith(FORUM_KIND_PREFIX):
        return "invite_to_forums"
    return None


def record(uow: UnitOfWork, appends: Sequence[Append], metadata: EventMetadata,
           topic: str) -> None:
    """Append what the domain decided; what is not `published` stays off Kafka."""
    for append in appends:
        publish = Publication(topic) if append.published else None
        uow.append(append.stream_id, append.events, metadata, publish=publish)


# -- approving ------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchApproval:
    batch: Row
    released: int
    already_approved: bool


def approve_notification_batch(cmd: ApproveNotificationBatch, uow: UnitOfWork,
                               ctx: Context) -> BatchApproval:
    """Release a held batch, in one transaction; approving twice releases
    nothing (two concurrent approvals: the second decides again and finds it
    approved).

    Results and forum invitations are approved by an organizer of their
    campaign (or a co-organizer of the stage that permits the act) while a
    stage open on the campaign clock permits it (`stage_act`): outside,
    FAILED_PRECONDITION names the stage and its dates."""
    batch = uow.load(batch_stream(cmd.batch_id), BATCH,
                     expected_version=cmd.expected_version)
    metadata = cmd.caller.metadata(current_trace_carrier(),
                                   batch.source_event_id if batch else "")
    if batch is not None and batch.campaign_id in ctx.campaigns:
        definition = ctx.campaigns[batch.campaign_id]
        act = stage_act(batch.kind)
        at = ctx.clocks.now(uow, batch.campaign_id)
        if act is None:
            require_organizer_of(definition, cmd.caller.actor)
        else:
            require_organizing(definition, cmd.caller.actor, act)
            if batch.status != approval.APPROVED:
                require_stage(definition, act, at, batch.batch_id)
        metadata = stamped(metadata, at)
    appends = approval.approve(batch, cmd.caller.actor, ctx.policy)
    assert batch is not None  # approve refused a missing batch
    record(uow, appends, metadata, ctx.topic)
    [row] = ctx.read.batches.find(uow.conn, batch_id=cmd.batch_id)
    return BatchApproval(row, len(batch.held) if appends else 0, not appends)


def list_pending_batches(query: ListPendingBatches, uow: UnitOfWork,
                         ctx: Context) -> list[Row]:
    return ctx.read.batches.find(uow.conn, approval.PENDING, query.campaign_id)


# -- reading inboxes --------------------------------------------------------------------


def list_notifications(query: ListNotifications, uow: UnitOfWork,
                       ctx: Context) -> tuple[list[Row], str]:
    """A page of an inbox, newest first, and the token of the next page."""
    recipient_id = inbox_owner(query.caller, query.recipient_id)
    page_token = checked_cursor("page_token", query.page_token)
    limit = min(max(query.page_size, 1), 200) if query.page_size else 50
    rows = ctx.read.inbox.page(uow.conn, recipient_id, query.nomination_id, limit,
                               page_token)
    return rows, rows[-1]["position"] if len(rows) == limit else ""


@dataclass(frozen=True)
class Watch:
    """An open watch: whose entries, and the cursor of the last one sent."""

    recipient_id: str
    nomination_id: str
    after: str


def watch_notifications(query: WatchNotifications, uow: UnitOfWork,
                        ctx: Context) -> Watch:
    """Check a watch once, when it opens: whose inbox, from where."""
    recipient_id = inbox_owner(query.caller, query.recipient_id)
    after = checked_cursor("after_cursor", query.after_cursor)
    return Watch(recipient_id, query.nomination_id,
                 after or ctx.read.inbox.last_cursor(uow.conn))


def next_notifications(watch: Watch, uow: UnitOfWork, ctx: Context) -> list[Row]:
    """A watch's entries after its cursor, oldest first."""
    return ctx.read.inbox.since(uow.conn, watch.recipient_id, watch.nomination_id,
                                watch.after)


def inbox_owner(caller: Caller, recipient_id: str) -> str:
    """Whose inbox: one's own, or anyone's for organizers and auditors."""
    actor = caller.actor
    recipient_id = recipient_id or actor.id
    if recipient_id != actor.id and actor.role not in READ_ANY_INBOX:
        raise PermissionDenied("you may read only your own notifications")
    return recipient_id


def checked_cursor(field: str, text: str) -> str:
    """A caller's cursor or page token as the inbox compares it ("" stays "").

    Cursors compare as fixed-width text, so anything else (a typo, "abc")
    would silently select nothing or everything: refuse it instead.
    """
    if not text:
        return ""
    if not POSITION.fullmatch(text):
        raise InvalidArgument(f"{field} is not a cursor", [FieldViolation(
            field, "expected a cursor from an earlier answer, or 0 for the start")])
    return cursor(int(text))


# -- e-mail delivery --------------------------------------------------------------------


def list_email_deliveries(query: ListEmailDeliveries, uow: UnitOfWork,
                          ctx: Context) -> list[Row]:
    limit = min(max(query.page_size, 1), 500) if query.page_size else 100
    return ctx.read.deliveries.find(uow.conn, query.status, query.nomination_id, limit)


def start_email_send(cmd: StartEmailSend, uow: UnitOfWork, ctx: Context) -> Email | None:
    """The e-mail once its start is recorded; None when it is not due (sent
    already, or another worker started it first)."""
    email = uow.load(email_stream(cmd.notification_id), EMAIL)
    if email is None or not delivery.is_due(email, cmd.at):
        return None
    return _record_email(uow, email, delivery.start(email, cmd.at, cmd.worker),
                         cmd.caller, ctx)


def record_send_outcome(cmd: RecordSendOutcome, uow: UnitOfWork,
                        ctx: Context) -> Email | None:
    """The e-mail after what the relay said; None when the attempt was settled
    meanwhile (as uncertain, by a worker that found it stale)."""
    email = uow.load(email_stream(cmd.notification_id), EMAIL)
    if email is None or (email.status, email.attempts) != (delivery.SENDING, cmd.attempt):
        return None
    events = delivery.conclude(email, cmd.outcome, cmd.at, ctx.retry)
    return _record_email(uow, email, events, cmd.caller, ctx)


def settle_orphaned_send(cmd: SettleOrphanedSend, uow: UnitOfWork,
                         ctx: Context) -> Email | None:
    """The e-mail marked uncertain, when its send lost its worker; else None."""
    email = uow.load(email_stream(cmd.notification_id), EMAIL)
    if email is None:
        return None
    events = delivery.orphaned(email, cmd.at, ctx.stale_after, cmd.dead_worker)
    return _record_email(uow, email, events, cmd.caller, ctx) if events else None


def _record_email(uow: UnitOfWork, email: Email, events: list[NewEvent],
                  caller: Caller, ctx: Context) -> Email:
    recorded = uow.append(email_stream(email.notification_id), events,
                          caller.metadata(current_trace_carrier()),
                          publish=Publication(ctx.topic))
    for event in recorded:
        email = delivery.evolve(email, event) or email
    return email
