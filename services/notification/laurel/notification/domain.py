"""Notification's domain: from intents to the events that record them.

Pure. An `Intent` (who must hear what, see `kinds`) is rendered from the
template catalog and becomes either
- issued now: `NotificationIssued` (`SubmissionReceiptIssued` for receipts,
  the name stored before templates existed) in the notification stream of its
  nomination, which the inbox shows, plus `EmailQueued` in the e-mail's own
  stream when the person has an address and e-mail is on; or
- held, when its kind needs approval (`results` by default): one batch per
  source event and kind, `NotificationBatchOpened` then one `NotificationHeld`
  each, released by `approval.approve`.
Ids are derived, never random: the same source, recipient and kind give the
same notification id, e-mail stream and Message-ID, however often a message
is redelivered.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from laurel.envelope import NewEvent, RecordedEvent
from laurel.notification import directory, kinds
from laurel.notification.kinds import Intent, Unaddressed
from laurel.notification.privacy import mask_email
from laurel.notification.templates import Catalog, default_catalog

RECEIPT_ISSUED = "SubmissionReceiptIssued"
NOTIFICATION_ISSUED = "NotificationIssued"
ISSUED_TYPES = frozenset({RECEIPT_ISSUED, NOTIFICATION_ISSUED})
NOTIFICATION_UNADDRESSED = "NotificationUnaddressed"
BATCH_OPENED = "NotificationBatchOpened"
NOTIFICATION_HELD = "NotificationHeld"
BATCH_APPROVED = "NotificationBatchApproved"
EMAIL_QUEUED = "EmailQueued"
NOTIFICATION_NAMESPACE = uuid.UUID("6f1c1f8e-59b6-4a43-9d4e-3e4f6a1d2b70")


@dataclass(frozen=True)
class Policy:
    approval_kinds: frozenset[str] = frozenset({"results"})
    email_enabled: bool = False
    message_id_domain: str = "laurel.invalid"


@dataclass(frozen=True)
class Append:
    """Events for one stream; `publish_key` None keeps them off Kafka."""

    stream_id: str
    events: list[NewEvent]
    publish_key: str | None


def stream_id(key: str) -> str:
    return f"notifications-{key}"


def email_stream(notification_id: str) -> str:
    return f"email-{notification_id}"


def batch_stream(batch_id: str) -> str:
    return f"notification-batch-{batch_id}"


def notification_id(source_key: str, recipient_id: str, kind: str) -> str:
    """Same source, recipient and kind: same id, whatever the redeliveries."""
    return str(
        uuid.uuid5(NOTIFICATION_NAMESPACE, f"{source_key}/{recipient_id}/{kind}")
    )


def batch_id(source_event_id: str, kind: str) -> str:
    return str(uuid.uuid5(NOTIFICATION_NAMESPACE, f"batch/{source_event_id}/{kind}"))


def message_id(notification_id: str, domain: str) -> str:
    """One Message-ID per notification, so a copy is recognisable as one."""
    return f"<{notification_id}@{domain}>"


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
    held: dict[str, list[dict[str, Any]]] = {}
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
    payload: dict[str, Any],
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
    key = payload["nomination_id"] or stream_key
    appends = [Append(stream_id(stream_key), [issued], key)]
    if sends:
        appends.append(queue_email(payload, email, policy))
    return appends


def queue_email(payload: Mapping[str, Any], email: str, policy: Policy,
                late_address: bool = False) -> Append:
    """The e-mail of one notification; its Message-ID follows from its id."""
    nid = payload["notification_id"]
    queued = {
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
    return Append(email_stream(nid), [NewEvent(EMAIL_QUEUED, queued)],
                  payload["nomination_id"] or payload["recipient_id"])


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


def _notification(event: RecordedEvent, intent: Intent, catalog: Catalog) -> dict:
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


def _open_batch(event: RecordedEvent, kind: str, entries: list[dict]) -> Append:
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
    return Append(batch_stream(bid), [opened, *held], bid)


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
        None,
    )


def notifications_for(event: RecordedEvent) -> list[NewEvent]:
    """The inbox entries `event` alone calls for: no directory, no e-mail.

    The first slice's entry point, kept for callers that have only the event
    (tests, tools); the service itself goes through the application, which
    knows the directory.
    """
    contact = directory.nomination_contact_from(event, None)
    facts = kinds.Facts({contact.nomination_id: contact} if contact else {})
    catalog = default_catalog()
    items = [
        i for i in kinds.intents_for(event, facts, catalog) if isinstance(i, Intent)
    ]
    return [e for a in decide(event, items, catalog, Policy()) for e in a.events]
