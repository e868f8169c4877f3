"""NotificationService over gRPC: inboxes (listed, watched), approvals, deliveries.

Protobuf in, a command or query out, and back: the verified caller is read
once per call (`current_request()`) and travels on the command; each handler
runs in a worker thread in its own unit of work (`store.run`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.auth import current_request
from laurel.envelope import parse_time
from laurel.eventstore import EventStore
from laurel.notification import handlers
from laurel.notification.adapters.watch import ChangeSignal
from laurel.notification.domain.commands import (
    ApproveNotificationBatch,
    ListEmailDeliveries,
    ListNotifications,
    ListPendingBatches,
    WatchNotifications,
)
from laurel.notification.read_models import Row
from laurel.notification.v1 import notification_pb2 as pb
from laurel.notification.v1 import notification_pb2_grpc
from laurel.unit_of_work import UnitOfWork

WATCH_POLL_SECONDS = 1.0
N = TypeVar("N", pb.Notification, pb.WatchNotificationsResponse)
T = TypeVar("T")
M = TypeVar("M")
NOTIFICATION_FIELDS = ("notification_id", "recipient_id", "kind", "nomination_id", "title",
                       "body", "source_event_id", "language", "template_version",
                       "batch_id")
BATCH_FIELDS = ("batch_id", "kind", "campaign_id", "source_event_id", "size", "status",
                "approved_by", "recipient_ids")
DELIVERY_FIELDS = ("notification_id", "recipient_id", "nomination_id", "kind",
                   "to_masked", "message_id", "status", "attempts", "next_attempt_at",
                   "last_error")


class NotificationServicer(notification_pb2_grpc.NotificationServiceServicer):
    def __init__(self, store: EventStore, ctx: handlers.Context,
                 signal: ChangeSignal | None = None) -> None:
        self.store = store
        self.ctx = ctx
        self.signal = signal or ChangeSignal()

    async def _run(self, handler: Callable[[M, UnitOfWork, handlers.Context], T],
                   message: M) -> T:
        """`handler(message)` in its own unit of work, in a worker thread."""
        return await asyncio.to_thread(
            self.store.run, lambda uow: handler(message, uow, self.ctx))

    async def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.ListNotificationsResponse:
        query = ListNotifications(current_request(), request.recipient_id,
                                  request.nomination_id, request.page_size,
                                  request.page_token)
        rows, next_token = await self._run(handlers.list_notifications, query)
        return pb.ListNotificationsResponse(
            notifications=[_notification(row, pb.Notification) for row in rows],
            next_page_token=next_token)

    async def WatchNotifications(
        self, request: pb.WatchNotificationsRequest, context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.WatchNotificationsResponse]:
        query = WatchNotifications(current_request(), request.recipient_id,
                                   request.nomination_id, request.after_cursor)
        watch = await self._run(handlers.watch_notifications, query)
        while not context.done():
            ticket = self.signal.ticket()
            rows = await self._run(handlers.next_notifications, watch)
            for row in rows:
                yield _notification(row, pb.WatchNotificationsResponse)
            if rows:
                watch = handlers.Watch(watch.recipient_id, watch.nomination_id,
                                       rows[-1]["position"])
            else:
                await self.signal.wait(ticket, WATCH_POLL_SECONDS)

    async def ListPendingBatches(
        self, request: pb.ListPendingBatchesRequest, context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.ListPendingBatchesResponse:
        query = ListPendingBatches(current_request(), request.campaign_id)
        rows = await self._run(handlers.list_pending_batches, query)
        return pb.ListPendingBatchesResponse(batches=[_batch(row) for row in rows])

    async def ApproveNotificationBatch(
        self, request: pb.ApproveNotificationBatchRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.ApproveNotificationBatchResponse:
        cmd = ApproveNotificationBatch(
            current_request(), request.batch_id,
            expected_version=(request.expected_version
                              if request.HasField("expected_version") else None))
        done = await self._run(handlers.approve_notification_batch, cmd)
        return pb.ApproveNotificationBatchResponse(
            batch=_batch(done.batch), released=done.released,
            already_approved=done.already_approved)

    async def ListEmailDeliveries(
        self, request: pb.ListEmailDeliveriesRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.ListEmailDeliveriesResponse:
        query = ListEmailDeliveries(current_request(), request.status,
                                    request.nomination_id, request.page_size)
        rows = await self._run(handlers.list_email_deliveries, query)
        return pb.ListEmailDeliveriesResponse(
            deliveries=[pb.EmailDelivery(**_fields(row, DELIVERY_FIELDS)) for row in rows])


def _fields(row: Row, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: row[name] for name in names}


def _timestamp(text: str) -> Timestamp | None:
    if not text:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(parse_time(text))
    return stamp


def _notification(row: Row, message: type[N]) -> N:
    return message(**_fields(row, NOTIFICATION_FIELDS), cursor=row["position"],
                   created_at=_timestamp(row["created_at"]))


def _batch(row: Row) -> pb.NotificationBatch:
    return pb.NotificationBatch(**_fields(row, BATCH_FIELDS),
                                opened_at=_timestamp(row["opened_at"]))
