"""Notification's events: the contract its consumers read them by (pure).

Keys: an inbox entry (a receipt or another notification) is keyed by the
nomination it is about, so a nomination's notifications arrive in the order
they were issued, else (a reviewer's deadline reminder, about no single
nomination) by its recipient; a batch held for approval, with its entries
and its approval, is keyed by the batch id (one batch's events in order;
batches are independent); one e-mail's delivery history is keyed by its
notification id (each e-mail's attempts in order; e-mails are independent).
The directory of contacts and the notes of who could not be told stay in
notification's store.
"""

from __future__ import annotations

from laurel.contracts.base import EventPayload, by, clock_noted, contracts_of, event, parking

SERVICE = "notification"

RECEIPT_ISSUED = "SubmissionReceiptIssued"
NOTIFICATION_ISSUED = "NotificationIssued"
NOTIFICATION_UNADDRESSED = "NotificationUnaddressed"
BATCH_OPENED = "NotificationBatchOpened"
NOTIFICATION_HELD = "NotificationHeld"
BATCH_APPROVED = "NotificationBatchApproved"
EMAIL_QUEUED = "EmailQueued"
SEND_STARTED = "EmailSendStarted"
DELIVERED = "EmailDelivered"
DELIVERY_FAILED = "EmailDeliveryFailed"
DEAD_LETTERED = "EmailDeadLettered"
DELIVERY_UNCERTAIN = "EmailDeliveryUncertain"
NOMINATION_CONTACT_RECORDED = "NominationContactRecorded"
REVIEWER_CONTACT_RECORDED = "ReviewerContactRecorded"


class TemplateRef(EventPayload):
    """Which template rendered it (an e-mail to a late address names only
    the language and version)."""

    language: str
    version: int
    kind: str = ""
    digest: str = ""


class NotificationIssued(EventPayload):
    """An inbox entry: who was told what, rendered from which template."""

    notification_id: str
    recipient_id: str
    kind: str
    nomination_id: str
    campaign_id: str
    title: str
    body: str
    template: TemplateRef
    source_event_id: str
    source_event_type: str
    batch_id: str  # "" unless released from a held batch
    email: str  # masked address the e-mail went to; "" when none was sent


class SubmissionReceiptIssued(NotificationIssued):
    pass


class NotificationUnaddressed(EventPayload):
    kind: str
    nomination_id: str
    reason: str
    source_event_id: str
    source_event_type: str


class NotificationBatchOpened(EventPayload):
    batch_id: str
    kind: str
    campaign_id: str
    source_event_id: str
    source_event_type: str
    size: int
    notification_ids: list[str]


class NotificationHeld(EventPayload):
    batch_id: str
    notification_id: str
    recipient_id: str
    kind: str
    nomination_id: str
    campaign_id: str
    title: str
    body: str
    template: TemplateRef
    source_event_id: str
    source_event_type: str
    email_to: str
    stream_key: str


class NotificationBatchApproved(EventPayload):
    batch_id: str
    kind: str
    approved_by: str
    released: int


class EmailQueued(EventPayload):
    notification_id: str
    message_id: str
    to: str
    subject: str
    body: str
    kind: str
    recipient_id: str
    nomination_id: str
    template: TemplateRef
    late_address: bool = False


class EmailSendStarted(EventPayload):
    notification_id: str
    attempt: int
    worker: str
    message_id: str


class EmailDelivered(EventPayload):
    notification_id: str
    attempt: int
    smtp_reply: str


class EmailDeliveryFailed(EventPayload):
    notification_id: str
    attempt: int
    error: str
    smtp_code: int | None
    permanent: bool
    next_attempt_at: str  # "" when no further attempt follows


class EmailDeadLettered(EventPayload):
    notification_id: str
    attempt: int
    attempts: int
    error: str
    reason: str


class EmailDeliveryUncertain(EventPayload):
    notification_id: str
    attempt: int
    error: str
    reason: str


class NominationContactRecorded(EventPayload):
    nomination_id: str
    nominator_id: str
    email: str
    language: str
    campaign_id: str
    category: str
    commission_id: str
    nominee_name: str


class ReviewerContactRecorded(EventPayload):
    reviewer_id: str
    email: str
    language: str
    name: str


_INBOX = by("nomination_id", "recipient_id", why="a nomination's notifications arrive "
            "in the order issued; a reminder, about no one nomination, by its recipient")
_BATCH = by("batch_id", why="a held batch, its entries and its approval stay in order")
_EMAIL = by("notification_id", why="one e-mail's queueing and attempts stay in order; "
            "e-mails are independent of each other")


CONTRACTS = contracts_of(
    SERVICE,
    *parking(),
    clock_noted(),
    event(RECEIPT_ISSUED, SubmissionReceiptIssued, _INBOX,
          "A nominator was told their submission was received."),
    event(NOTIFICATION_ISSUED, NotificationIssued, _INBOX,
          "Someone was told something (an inbox entry)."),
    event(NOTIFICATION_UNADDRESSED, NotificationUnaddressed, None,
          "Someone should have been told, but nobody is known to tell."),
    event(BATCH_OPENED, NotificationBatchOpened, _BATCH,
          "Notifications were held for an organizer's approval."),
    event(NOTIFICATION_HELD, NotificationHeld, _BATCH, "One notification in a held batch."),
    event(BATCH_APPROVED, NotificationBatchApproved, _BATCH,
          "A held batch was approved and released."),
    event(EMAIL_QUEUED, EmailQueued, _EMAIL, "An e-mail was queued for delivery."),
    event(SEND_STARTED, EmailSendStarted, _EMAIL, "A worker started sending an e-mail."),
    event(DELIVERED, EmailDelivered, _EMAIL, "The relay accepted an e-mail."),
    event(DELIVERY_FAILED, EmailDeliveryFailed, _EMAIL, "An attempt to send failed."),
    event(DEAD_LETTERED, EmailDeadLettered, _EMAIL, "An e-mail will not be tried again."),
    event(DELIVERY_UNCERTAIN, EmailDeliveryUncertain, _EMAIL,
          "No reliable answer after the message data was sent."),
    event(NOMINATION_CONTACT_RECORDED, NominationContactRecorded, None,
          "Who to tell about a nomination."),
    event(REVIEWER_CONTACT_RECORDED, ReviewerContactRecorded, None,
          "How to reach a reviewer."),
)
