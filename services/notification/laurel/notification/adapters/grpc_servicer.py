"""NotificationService over gRPC: the caller's inbox."""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.envelope import parse_time
from laurel.notification.application import NotificationApplication
from laurel.notification.v1 import notification_pb2, notification_pb2_grpc


class NotificationServicer(notification_pb2_grpc.NotificationServiceServicer):
    def __init__(self, app: NotificationApplication) -> None:
        self.app = app

    async def ListNotifications(
        self,
        request: notification_pb2.ListNotificationsRequest,
        context: grpc.aio.ServicerContext,
    ) -> notification_pb2.ListNotificationsResponse:
        rows, next_token = await asyncio.to_thread(
            self.app.list_notifications,
            request.recipient_id, request.nomination_id,
            request.page_size, request.page_token,
        )
        return notification_pb2.ListNotificationsResponse(
            notifications=[_message(row) for row in rows], next_page_token=next_token
        )


def _message(row: dict) -> notification_pb2.Notification:
    created = Timestamp()
    created.FromDatetime(parse_time(row["created_at"]))
    return notification_pb2.Notification(
        notification_id=row["notification_id"],
        recipient_id=row["recipient_id"],
        kind=row["kind"],
        nomination_id=row["nomination_id"],
        title=row["title"],
        body=row["body"],
        source_event_id=row["source_event_id"],
        created_at=created,
    )
