"""From intents to the events that record them.

An `Intent` (who must hear what, see `kinds`) is rendered from the template
catalog and becomes either
- issued now: `NotificationIssued` (`SubmissionReceiptIssued` for receipts)
  in the notification stream of its nomination, which the inbox shows, plus
  `EmailQueued` in the e-mail's own stream when the person has an address and
  e-mail is on; or
- held, when its kind needs approval (`results` by default): one batch per
  source event and kind, `NotificationBatchOpened` then one `NotificationHeld`
  each, released by `approval.approve`.
Ids are derived (see `events`), so a redelivered message decides the same
notifications again, which the caller recognises as recorded already.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from laurel.envelope import NewEvent, RecordedEvent
from laurel.notification.domain import directory, kinds
from laurel.notification.domain.events import (
    BATCH_OPENED,
    EMAIL_QUEUED,
    NOTIFICATION_HELD,
    NOTIFICATION_ISSUED,
    NOTIFICATION_UNADDRESSED,
    RECEIPT_ISSUED,
    batch_id,
    batch_stream,
    email_stream,
    message_id,
    notification_id,
    stream_id,
)
from laurel.notification.domain.kinds import Intent, Unaddressed
from laurel.notification.domain.privacy import mask_email
from laurel.notification.domain.templates import Catalog

Payload = dict[str, Any]


@dataclass(frozen=True)
class Policy:
    """What the settings decide: which kinds wait for approval, whether e-mail
    goes out, and the domain of every Message-ID."""

    approval_kinds: frozenset[str] = frozenset({"results"})
    email_enabled: bool = False
    message_id_domain: str = "laurel.invalid"


@dataclass(frozen=True)
class Append:
    """Events for one stream; `published` False keeps them off Kafka (the
    key of those published comes from notification's contract)."""

    stream_id: str
    events: list[NewEvent]
    published: bool


def id_of(intent: Intent) -> str:
    return notification_id(intent.dedupe_key, intent.recipient_id, intent.kind)


def decide(
    event: RecordedEvent,
    items: Sequence[Intent | Unaddressed],
    catalog: Catalog,
    policy: Policy,
    already: Collection[str] = (),
) -> list[Append]:
    """The appends `items` call for; ids in `already` were recorded before."""
    appends: list[Append] = []
    held: dict[str, list[Payload]] = {}
    for item in items:
        if isinstance(item, Unaddressed):
            appends.append(_unaddressed(event, item))
            continue
        payload = _notification(event, item, catalog)
        if payload["notification_id"] in already:
            continue
        if item.kind in policy.approval_kinds:
            held.setdefault(item.kind, []).append(
                {**payload, "email_to": item.email, "stream_key": item.stream_key}
            )
        else:
            appends += issue(payload, item.email, item.stream_key, policy)
    for kind, entries in held.items():
        appends.append(_open_batch(event, kind, entries))
    return appends


def issue(
    payload: Payload,
    email: str,
    stream_key: str,
    policy: Policy,
    batch: str = "",
) -> list[Append]:
    """The inbox entry, and the e-mail when there is an address and a relay."""
    sends = bool(email) and policy.email_enabled
    event_type = RECEIPT_ISSUED if payload["kind"] == "receipt" else NOTIFICATION_ISSUED
    issued = NewEvent(
        event_type,
        {**payload, "batch_id": batch, "email": mask_email(email) if sends else ""},
    )
    appends = [Append(stream_id(stream_key), [issued], True)]
    if sends:
        appends.append(queue_email(payload, email, policy))
    return appends


def queue_email(payload: Mapping[str, Any], email: str, policy: Policy,
                late_address: bool = False) -> Append:
    """The e-mail of one notification; its Message-ID follows from its id."""
    nid = payload["notification_id"]
    queued: Payload = {
        "notification_id": nid,
        "message_id": message_id(nid, policy.message_id_domain),
        "to": email,
        "subject": payload["title"],
        "body": payload["body"],
        "kind": payload["kind"],
        "recipient_id": payload["recipient_id"],
        "nomination_id": payload["nomination_id"],
        "template": payload["template"],
    }
    if late_address:
        queued["late_address"] = True
    return Append(email_stream(nid), [NewEvent(EMAIL_QUEUED, queued)], True)


def late_emails(
    inbox: Sequence[Mapping[str, Any]], emailed: Collection[str], email: str,
    policy: Policy,
) -> list[Append]:
    """E-mails for notifications issued before the recipient's address was known.

    Review publishes a reviewer's registration and their assignments under
    different keys, so an assignment can arrive first; its inbox entry is
    issued at once and its e-mail follows when the address does.
    """
    if not (email and policy.email_enabled):
        return []
    return [
        queue_email({**row, "template": {"language": row["language"],
                                         "version": row["template_version"]}},
                    email, policy, late_address=True)
        for row in inbox
        if row["notification_id"] not in emailed and not row["batch_id"]
    ]


def _notification(event: RecordedEvent, intent: Intent, catalog: Catalog) -> Payload:
    rendered = catalog.render(intent.kind, intent.language, intent.values)
    return {
        "notification_id": id_of(intent),
        "recipient_id": intent.recipient_id,
        "kind": intent.kind,
        "nomination_id": intent.nomination_id,
        "campaign_id": intent.campaign_id,
        "title": rendered.subject,
        "body": rendered.body,
        "template": rendered.template_ref(),
        "source_event_id": event.event_id,
        "source_event_type": event.type,
    }


def _open_batch(event: RecordedEvent, kind: str, entries: list[Payload]) -> Append:
    bid = batch_id(event.event_id, kind)
    opened = NewEvent(
        BATCH_OPENED,
        {
            "batch_id": bid,
            "kind": kind,
            "campaign_id": entries[0]["campaign_id"],
            "source_event_id": event.event_id,
            "source_event_type": event.type,
            "size": len(entries),
            "notification_ids": [e["notification_id"] for e in entries],
        },
    )
    held = [NewEvent(NOTIFICATION_HELD, {**e, "batch_id": bid}) for e in entries]
    return Append(batch_stream(bid), [opened, *held], True)


def _unaddressed(event: RecordedEvent, item: Unaddressed) -> Append:
    """Recorded so that a result nobody could be told about is not silent."""
    return Append(
        stream_id(item.nomination_id or event.stream_id),
        [
            NewEvent(
                NOTIFICATION_UNADDRESSED,
                {
                    "kind": item.kind,
                    "nomination_id": item.nomination_id,
                    "reason": item.reason,
                    "source_event_id": event.event_id,
                    "source_event_type": event.type,
                },
            )
        ],
        False,
    )


def notifications_for(event: RecordedEvent, catalog: Catalog) -> list[NewEvent]:
    """The inbox entries `event` alone calls for: no directory, no e-mail.

    For callers that have only the event (the cross-service domain tests); the
    service itself reacts through `reactions`, which knows the directory.
    """
    contact = directory.nomination_contact_from(event, None)
    facts = kinds.Facts({contact.nomination_id: contact} if contact else {})
    items = [
        i for i in kinds.intents_for(event, facts, catalog) if isinstance(i, Intent)
    ]
    return [e for a in decide(event, items, catalog, Policy()) for e in a.events]
