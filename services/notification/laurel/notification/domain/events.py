"""Notification's event types, stream names and derived ids.

Ids are derived, never random: the same source, recipient and kind give the
same notification id, e-mail stream and Message-ID, however often a message
is redelivered.
"""

from __future__ import annotations

import uuid

# -- an inbox entry and what can happen instead --------------------------------
RECEIPT_ISSUED = "SubmissionReceiptIssued"  # receipts: the name from before templates
NOTIFICATION_ISSUED = "NotificationIssued"
ISSUED_TYPES = frozenset({RECEIPT_ISSUED, NOTIFICATION_ISSUED})
NOTIFICATION_UNADDRESSED = "NotificationUnaddressed"

# -- batches held for approval --------------------------------------------------
BATCH_OPENED = "NotificationBatchOpened"
NOTIFICATION_HELD = "NotificationHeld"
BATCH_APPROVED = "NotificationBatchApproved"

# -- one e-mail's stream ----------------------------------------------------------
EMAIL_QUEUED = "EmailQueued"
SEND_STARTED = "EmailSendStarted"
DELIVERED = "EmailDelivered"
DELIVERY_FAILED = "EmailDeliveryFailed"
DEAD_LETTERED = "EmailDeadLettered"
DELIVERY_UNCERTAIN = "EmailDeliveryUncertain"
EMAIL_EVENTS = frozenset({EMAIL_QUEUED, SEND_STARTED, DELIVERED, DELIVERY_FAILED,
                          DEAD_LETTERED, DELIVERY_UNCERTAIN})

# -- the directory ------------------------------------------------------------------
NOMINATION_CONTACT_RECORDED = "NominationContactRecorded"
REVIEWER_CONTACT_RECORDED = "ReviewerContactRecorded"

NOTIFICATION_NAMESPACE = uuid.UUID("6f1c1f8e-59b6-4a43-9d4e-3e4f6a1d2b70")


def stream_id(key: str) -> str:
    """The notification stream of a nomination (or of a round, for reminders)."""
    return f"notifications-{key}"


def email_stream(notification_id: str) -> str:
    return f"email-{notification_id}"


def batch_stream(batch_id: str) -> str:
    return f"notification-batch-{batch_id}"


def contact_stream(nomination_id: str) -> str:
    return f"contact-nomination-{nomination_id}"


def reviewer_stream(reviewer_id: str) -> str:
    return f"contact-reviewer-{reviewer_id}"


def notification_id(source_key: str, recipient_id: str, kind: str) -> str:
    """Same source, recipient and kind: same id, whatever the redeliveries."""
    return str(uuid.uuid5(NOTIFICATION_NAMESPACE, f"{source_key}/{recipient_id}/{kind}"))


def batch_id(source_event_id: str, kind: str) -> str:
    return str(uuid.uuid5(NOTIFICATION_NAMESPACE, f"batch/{source_event_id}/{kind}"))


def message_id(notification_id: str, domain: str) -> str:
    """One Message-ID per notification, so a copy is recognisable as one."""
    return f"<{notification_id}@{domain}>"
