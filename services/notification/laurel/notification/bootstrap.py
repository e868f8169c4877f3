"""Wiring for the notification service.

Besides the parts every service has, notification runs its e-mail delivery
worker as one more task of the runtime (`NotificationRuntime`), started after
the gRPC server and stopped with the relay, so a graceful stop lets an
in-flight send finish and record its outcome.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from sqlalchemy import inspect

from laurel.campaigns import load_catalog as load_campaigns
from laurel.config import ConfigError, Settings
from laurel.eventstore import EventStore
from laurel.messaging import kafka_broker
from laurel.notification.adapters.grpc_servicer import NotificationServicer
from laurel.notification.adapters.kafka_subscribers import register_subscribers
from laurel.notification.application import NotificationApplication, Projections
from laurel.notification.config import NotificationSettings, load_notification_settings
from laurel.notification.delivery import RetryPolicy
from laurel.notification.directory import DirectoryProjection
from laurel.notification.domain import Policy
from laurel.notification.projection import (
    BatchProjection,
    DeliveryProjection,
    InboxProjection,
)
from laurel.notification.smtp import SmtpTransport
from laurel.notification.templates import TemplateError, load_catalog
from laurel.notification.v1 import notification_pb2, notification_pb2_grpc
from laurel.notification.watch import ChangeSignal
from laurel.notification.worker import DeliveryWorker
from laurel.runtime import ServiceRuntime, assemble

SERVICE_NAME = notification_pb2.DESCRIPTOR.services_by_name[
    "NotificationService"
].full_name
log = logging.getLogger("laurel.notification")


@dataclass
class NotificationRuntime(ServiceRuntime):
    """A ServiceRuntime that also runs the delivery worker."""

    worker: DeliveryWorker | None = None

    async def start(self) -> None:
        await super().start()
        if self.worker is not None:
            self._tasks.append(asyncio.create_task(self.worker.run(self._stop)))



def notification_projections() -> Projections:
    return Projections(InboxProjection(), DirectoryProjection(), BatchProjection(),
                       DeliveryProjection())


def projections() -> list[Any]:
    """Every projection notification keeps: the audit replay rebuilds exactly these."""
    return notification_projections().all()


async def build_notification(
    settings: Settings, env: Mapping[str, str] | None = None
) -> NotificationRuntime:
    """`env` holds the notification settings (LAUREL_SMTP_* …); default: os.environ."""
    own = load_notification_settings(env)
    try:
        catalog = load_catalog()
    except TemplateError as error:
        raise ConfigError(f"notification templates: {error}") from None
    unknown = own.approval_required_kinds - set(catalog.kinds)
    if unknown:
        raise ConfigError(
            f"LAUREL_APPROVAL_REQUIRED_KINDS names unknown kinds "
            f"{sorted(unknown)}; known: {catalog.kinds}"
        )
    projections = notification_projections()
    store = _open_store(settings, projections.all())
    signal = ChangeSignal()
    app = NotificationApplication(
        store,
        projections,
        settings.topics,
        catalog,
        _policy(own),
        own.default_language,
        on_change=signal.notify,
        campaigns=load_campaigns(settings.campaigns_dir),
    )
    servicer = NotificationServicer(app, signal)
    broker = kafka_broker(settings.kafka, "notification")
    register_subscribers(broker, settings, app)
    base = assemble(
        settings,
        store,
        lambda server: notification_pb2_grpc.add_NotificationServiceServicer_to_server(
            servicer, server
        ),
        [SERVICE_NAME],
        broker=broker,
        app=app,
    )
    worker = _worker(store, projections.deliveries, own, settings)
    return NotificationRuntime(
        **{f.name: getattr(base, f.name) for f in fields(ServiceRuntime) if f.init},
        worker=worker,
    )


def _policy(own: NotificationSettings) -> Policy:
    return Policy(
        own.approval_required_kinds, own.smtp.enabled, own.smtp.message_id_domain
    )


def _worker(
    store: EventStore,
    deliveries: DeliveryProjection,
    own: NotificationSettings,
    settings: Settings,
) -> DeliveryWorker | None:
    if not own.smtp.enabled:
        log.info("e-mail disabled (LAUREL_SMTP_PORT unset): in-app inbox only")
        return None
    return DeliveryWorker(
        store,
        deliveries,
        SmtpTransport(own.smtp),
        RetryPolicy(own.max_attempts, own.backoff_ms, own.backoff_cap_ms),
        settings.topics.notification,
        poll_interval=own.poll_ms / 1000,
        name=own.worker_name,
        stale_after=timedelta(seconds=own.send_stale_after_s),
    )


def _open_store(settings: Settings, projections: list[Any]) -> EventStore:
    """The store; a projection whose tables are new is refilled from the log."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = EventStore(settings.database_url, projections=projections)
    existing = set(inspect(store.engine).get_table_names())
    store.create_schema()
    if "events" in existing:
        for projection in projections:
            if not set(projection.metadata.tables) <= existing:
                count = store.rebuild_projection(projection)
                log.info("rebuilt projection %s from %d events", projection.name, count)
    return store
