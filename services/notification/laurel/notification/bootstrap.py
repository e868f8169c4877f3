"""Wiring for the notification service."""

from __future__ import annotations

from laurel.config import Settings
from laurel.messaging import kafka_broker
from laurel.notification.adapters.grpc_servicer import NotificationServicer
from laurel.notification.adapters.kafka_subscribers import register_subscribers
from laurel.notification.application import NotificationApplication
from laurel.notification.projection import InboxProjection
from laurel.notification.v1 import notification_pb2, notification_pb2_grpc
from laurel.runtime import ServiceRuntime, assemble, open_store

SERVICE_NAME = notification_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name


async def build_notification(settings: Settings) -> ServiceRuntime:
    inbox = InboxProjection()
    store = open_store(settings, [inbox])
    app = NotificationApplication(store, inbox, settings.topics)
    servicer = NotificationServicer(app)
    broker = kafka_broker(settings.kafka, "notification")
    register_subscribers(broker, settings, app)
    return assemble(
        settings, store,
        lambda server: notification_pb2_grpc.add_NotificationServiceServicer_to_server(
            servicer, server
        ),
        [SERVICE_NAME],
        broker=broker,
    )
