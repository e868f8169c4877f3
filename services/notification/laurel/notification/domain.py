"""Notification's domain: which events someone must hear about, and what to say.

Pure: given another service's event, decide the notification events. Texts
are zh-CN first, because the people who read them work in Chinese.
"""

from __future__ import annotations

import uuid

from laurel.envelope import NewEvent, RecordedEvent

RECEIPT_ISSUED = "SubmissionReceiptIssued"
NOTIFICATION_NAMESPACE = uuid.UUID("6f1c1f8e-59b6-4a43-9d4e-3e4f6a1d2b70")


def stream_id(nomination_id: str) -> str:
    return f"notifications-{nomination_id}"


def notification_id(source_event_id: str, recipient_id: str, kind: str) -> str:
    """Same source, recipient and kind: same id, whatever the redeliveries."""
    return str(uuid.uuid5(NOTIFICATION_NAMESPACE, f"{source_event_id}/{recipient_id}/{kind}"))


def notifications_for(event: RecordedEvent) -> list[NewEvent]:
    if event.type == "NominationSubmitted":
        return [_submission_receipt(event)]
    return []


def _submission_receipt(event: RecordedEvent) -> NewEvent:
    payload = event.payload
    recipient = event.actor.id
    return NewEvent(
        RECEIPT_ISSUED,
        {
            "notification_id": notification_id(event.event_id, recipient, "receipt"),
            "recipient_id": recipient,
            "kind": "receipt",
            "nomination_id": payload["nomination_id"],
            "campaign_id": payload["campaign_id"],
            "title": f"推荐材料已收到：{payload['nominee']['name']}",
            "body": (
                f"您提交的“{payload['nominee']['name']}”推荐材料"
                f"（{payload['category']}）已于 {event.recorded_at} 收到，编号 "
                f"{payload['nomination_id']}。"
            ),
            "source_event_id": event.event_id,
        },
    )
