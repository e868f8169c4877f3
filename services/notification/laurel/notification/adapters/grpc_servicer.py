"""NotificationService over gRPC: inboxes (listed, watched), approvals, deliveries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.envelope import parse_time
from laurel.notification.application import NotificationApplication, checked_cursor
from laurel.notification.v1 import notification_pb2 as pb
from laurel.notification.v1 import notification_pb2_grpc
from laurel.notification.watch import ChangeSignal

WATCH_POLL_SECONDS = 1.0
N = TypeVar("N", pb.Notification, pb.WatchNotificationsResponse)


class NotificationServicer(notification_pb2_grpc.NotificationServiceServicer):
    def __init__(
        self, app: NotificationApplication, signal: ChangeSignal | None = None
    ) -> None:
        self.app = app
        self.signal = signal or ChangeSignal()

    async def ListNotifications(
        self,
        request: pb.ListNotificationsRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.ListNotificationsResponse:
        rows, next_token = await asyncio.to_thread(
            self.app.list_notifications,
            request.recipient_id,
            request.nomination_id,
            request.page_size,
            request.page_token,
        )
        return pb.ListNotificationsResponse(
            notifications=[_notification(row, pb.Notification) for row in rows],
            next_page_token=next_token,
        )

    async def WatchNotifications(
        self,
        request: pb.WatchNotificationsRequest,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.WatchNotificationsResponse]:
        recipient = self.app.inbox_owner(request.recipient_id)
        after = checked_cursor("after_cursor", request.after_cursor)
        if not after:
            after = await asyncio.to_thread(self.app.current_cursor)
        while not context.done():
            ticket = self.signal.ticket()
            rows = await asyncio.to_thread(
                self.app.notifications_since, recipient, request.nomination_id, after
            )
            for row in rows:
                yield _notification(row, pb.WatchNotificationsResponse)
                after = row["position"]
            if not rows:
                await self.signal.wait(ticket, WATCH_POLL_SECONDS)

    async def ListPendingBatches(
        self,
        request: pb.ListPendingBatchesRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.ListPendingBatchesResponse:
        rows = await asyncio.to_thread(
            self.app.list_batches, "pending", request.campaign_id
        )
        return pb.ListPendingBatchesResponse(batches=[_batch(row) for row in rows])

    async def ApproveNotificationBatch(
        self,
        request: pb.ApproveNotificationBatchRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.ApproveNotificationBatchResponse:
        row, released, before = await asyncio.to_thread(
            self.app.approve_batch, request.batch_id
        )
        return pb.ApproveNotificationBatchResponse(
            batch=_batch(row), released=released, already_approved=before
        )

    async def ListEmailDeliveries(
        self,
        request: pb.ListEmailDeliveriesRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.ListEmailDeliveriesResponse:
        rows = await asyncio.to_thread(
            self.app.list_deliveries,
            request.status,
            request.nomination_id,
            request.page_size,
        )
        return pb.ListEmailDeliveriesResponse(
            deliveries=[
                pb.EmailDelivery(
                    **{
                        k: row[k]
                        for k in (
                            "notification_id",
                            "recipient_id",
                            "nomination_id",
                            "kind",
                            "to_masked",
                            "message_id",
                            "status",
                            "attempts",
                            "next_attempt_at",
                            "last_error",
                        )
                    }
                )
                for row in rows
            ]
        )


def _timestamp(text: str) -> Timestamp | None:
    if not text:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(parse_time(text))
    return stamp


def _notification(row: dict, message: type[N]) -> N:
    return message(
        notification_id=row["notification_id"],
        recipient_id=row["recipient_id"],
        kind=row["kind"],
        nomination_id=row["nomination_id"],
        title=row["title"],
        body=row["body"],
        source_event_id=row["source_event_id"],
        created_at=_timestamp(row["created_at"]),
        language=row["language"],
        template_version=row["template_version"],
        cursor=row["position"],
        batch_id=row["batch_id"],
    )


def _batch(row: dict) -> pb.NotificationBatch:
    return pb.NotificationBatch(
        batch_id=row["batch_id"],
        kind=row["kind"],
        campaign_id=row["campaign_id"],
        source_event_id=row["source_event_id"],
        size=row["size"],
        status=row["status"],
        opened_at=_timestamp(row["opened_at"]),
        approved_by=row["approved_by"],
        recipient_ids=row["recipient_ids"],
    )
