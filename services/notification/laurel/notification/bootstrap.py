"""Wiring for the notification service: settings in, a runtime out.

Every adapter is an argument a test may override (`store`, `broker`, `clock`,
`catalog`, `campaigns`, `transport`); the rest follows from the settings. Besides the
parts every service has, notification runs its e-mail delivery worker as one
more task of the runtime (`NotificationRuntime`), started after the gRPC
server and stopped with the relay, so a graceful stop lets an in-flight send
finish and record its outcome.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from faststream.kafka import KafkaBroker

from laurel.campaigns import CampaignDefinition
from laurel.campaigns import load_catalog as load_campaigns
from laurel.campaigns.clock import CampaignClocks
from laurel.catchup import open_inbox
from laurel.config import ConfigError
from laurel.envelope import utcnow
from laurel.eventstore import EventStore, Projection
from laurel.messaging import kafka_broker
from laurel.notification.adapters.delivery_worker import DeliveryWorker, Transport
from laurel.notification.adapters.grpc_servicer import NotificationServicer
from laurel.notification.adapters.kafka import subscribe_reactions, upstreams
from laurel.notification.adapters.smtp import SmtpRelay, SmtpTransport
from laurel.notification.adapters.templates import load_catalog
from laurel.notification.adapters.watch import ChangeSignal
from laurel.notification.domain.delivery import RetryPolicy
from laurel.notification.domain.notifications import Policy
from laurel.notification.domain.templates import Catalog, TemplateError
from laurel.notification.handlers import Context
from laurel.notification.reactions import CONSUMER, Reactions
from laurel.notification.read_models import ReadModels
from laurel.notification.settings import NotificationSettings
from laurel.notification.v1 import notification_pb2, notification_pb2_grpc
from laurel.runtime import ServiceRuntime, assemble, open_store

SERVICE_NAME = notification_pb2.DESCRIPTOR.services_by_name[
    "NotificationService"
].full_name
log = logging.getLogger("laurel.notification")


@dataclass(frozen=True)
class NotificationApp:
    """The service's parts, as tests and tools reach them (`runtime.app`)."""

    context: Context
    reactions: Reactions
    worker: DeliveryWorker | None


@dataclass
class NotificationRuntime(ServiceRuntime):
    """A ServiceRuntime that also runs the delivery worker."""

    worker: DeliveryWorker | None = None

    async def start(self) -> None:
        await super().start()
        if self.worker is not None:
            self._tasks.append(asyncio.create_task(self.worker.run(self._stop)))


def projections() -> list[Projection]:
    """Every projection notification keeps: the audit replay rebuilds exactly these."""
    return ReadModels().all()


async def build(
    settings: NotificationSettings,
    *,
    store: EventStore | None = None,
    broker: KafkaBroker | None = None,
    clock: Callable[[], datetime] | None = None,
    catalog: Catalog | None = None,
    campaigns: Mapping[str, CampaignDefinition] | None = None,
    transport: Transport | None = None,
) -> NotificationRuntime:
    """The service as `settings` describe it, with any adapter replaced
    (`catalog`: the templates; `campaigns`: the definitions whose organizers
    approve batches)."""
    catalog = catalog or _templates()
    unknown = settings.approval_required_kinds - set(catalog.kinds)
    if unknown:
        raise ConfigError(
            f"LAUREL_APPROVAL_REQUIRED_KINDS names unknown kinds "
            f"{sorted(unknown)}; known: {catalog.kinds}")
    relay = _relay(settings)  # before opening anything: a bad secret stops start-up
    read = ReadModels()
    store = store or open_store(settings, read.all(), clock=clock or utcnow)
    ctx = Context(
        read,
        Policy(settings.approval_required_kinds, settings.email_enabled,
               settings.message_id_domain),
        settings.topics.notification,
        load_campaigns(settings.campaigns_dir) if campaigns is None else campaigns,
        RetryPolicy(settings.email_max_attempts, settings.email_backoff_ms,
                    settings.email_backoff_cap_ms),
        timedelta(seconds=settings.send_stale_after_s),
        CampaignClocks(clock or utcnow),
    )
    signal = ChangeSignal()
    store.on_published.append(signal.notify)  # what a watcher shows is published
    reactions = Reactions(store, ctx, catalog, settings.notification_language)
    inbox = open_inbox(settings, store, CONSUMER, upstreams(settings.topics, reactions))
    broker = broker or kafka_broker(settings.kafka, "notification")
    subscribe_reactions(broker, settings.kafka, inbox)
    servicer = NotificationServicer(store, ctx, signal)
    worker = None if relay is None else DeliveryWorker(
        store, ctx, transport or SmtpTransport(relay),
        poll_interval=settings.email_poll_ms / 1000, clock=clock or utcnow,
        name=settings.worker_name)
    base = assemble(
        settings, store,
        lambda server: notification_pb2_grpc.add_NotificationServiceServicer_to_server(
            servicer, server),
        [SERVICE_NAME], broker=broker, app=NotificationApp(ctx, reactions, worker),
        inbox=inbox)
    if base.metrics is not None:
        sent = base.metrics.counter("laurel_emails_sent", "e-mails the SMTP relay accepted")
        failed = base.metrics.counter("laurel_emails_failed",
                                      "e-mail attempts that failed (refused, or no answer)")
        if worker is not None:
            worker.on_outcome = lambda outcome: (sent if outcome.delivered else failed).inc()
    return NotificationRuntime(
        **{f.name: getattr(base, f.name) for f in fields(ServiceRuntime) if f.init},
        worker=worker)


def _templates() -> Catalog:
    try:
        return load_catalog()
    except TemplateError as error:
        raise ConfigError(f"notification templates: {error}") from None


def _relay(settings: NotificationSettings) -> SmtpRelay | None:
    if not settings.email_enabled:
        log.info("e-mail disabled (LAUREL_SMTP_PORT unset): in-app inbox only")
        return None
    return SmtpRelay(
        settings.smtp_port, settings.smtp_host, settings.smtp_from,
        settings.smtp_timeout_ms / 1000, settings.smtp_starttls, settings.smtp_username,
        settings.relay_password())
