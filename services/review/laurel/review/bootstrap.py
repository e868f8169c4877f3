"""Wiring for the review service: every adapter an argument a test may replace.

Besides the parts every service has, review runs its deadline reminders as one
more task of the runtime: every `LAUREL_REVIEW_REMINDER_POLL_S` seconds (60)
it records a ReviewDeadlineReminderDue for each reviewer with forms pending
once a reminder lead before the deadline is crossed; notification sends them.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from faststream.kafka import KafkaBroker

from laurel.campaigns import CampaignDefinition, load_catalog
from laurel.campaigns.clock import CampaignClocks
from laurel.campaigns.in_force import DefinitionsInForce
from laurel.catchup import open_inbox
from laurel.envelope import Actor, Caller, utcnow
from laurel.eventstore import EventStore
from laurel.messaging import kafka_broker
from laurel.review import read_models
from laurel.review.adapters.grpc_servicer import ReviewServicer, add_to_server
from laurel.review.adapters.kafka import register_subscribers, upstreams
from laurel.review.domain import commands, events
from laurel.review.handlers import HANDLERS
from laurel.review.reactions import CONSUMER, Reactions
from laurel.review.read_models import ReviewProjection
from laurel.review.settings import ReviewSettings
from laurel.review.v1 import review_pb2
from laurel.runtime import ServiceRuntime, assemble, every, open_store

SERVICE_NAME = review_pb2.DESCRIPTOR.services_by_name["ReviewService"].full_name
REMINDER_ACTOR = Actor("review-reminders", "service")


def projections() -> list[ReviewProjection]:
    """Every projection review keeps: the audit replay rebuilds exactly these."""
    return [ReviewProjection()]


@dataclass(frozen=True)
class ReviewApp:
    """What the servicer, the reminder loop and tests call: each command or
    query in one unit of work, decided again if a stream it read moved on."""

    store: EventStore
    handlers: Mapping[type[Any], Callable[[Any, Any], Any]]
    reactions: Reactions
    clock: Callable[[], datetime]

    def handle(self, message: Any) -> Any:
        handler = self.handlers[type(message)]
        return self.store.run(lambda uow: handler(message, uow))

    def send_due_reminders(self, now: datetime | None = None) -> int:
        """One pass: the reminders due in every open round, a unit per round."""
        at = now or self.clock()
        open_ids = self.store.run(lambda uow: read_models.open_rounds(uow.conn))
        return sum(self.handle(commands.RemindReviewers(
            Caller(REMINDER_ACTOR, f"reminders-{uuid.uuid4()}"), round_id, at))
            for round_id in open_ids)


@dataclass
class ReviewRuntime(ServiceRuntime):
    """A ServiceRuntime that also records due deadline reminders."""

    reminder_poll_s: float = 60.0

    async def start(self) -> None:
        await super().start()
        if self.reminder_poll_s > 0:
            self._tasks.append(asyncio.create_task(every(
                self.reminder_poll_s, self._stop, self.app.send_due_reminders,
                "review's reminder pass", leader=self.leadership)))


def _inject(handler: Callable[..., Any], dependencies: Mapping[str, Any]
            ) -> Callable[[Any, Any], Any]:
    """The handler with the dependencies it names (by keyword) bound."""
    wanted = inspect.signature(handler).parameters
    return functools.partial(handler, **{name: value for name, value in dependencies.items()
                                         if name in wanted})


async def build(
    settings: ReviewSettings, *,
    store: EventStore | None = None,
    broker: KafkaBroker | None = None,
    clock: Callable[[], datetime] = utcnow,
    catalog: Mapping[str, CampaignDefinition] | None = None,
    with_kafka: bool = True,
    with_relay: bool = True,
) -> ReviewRuntime:
    """The review runtime. A `store` given must keep `projections()`; without
    Kafka (tests feeding the reactions directly) no consumer joins a group and
    nothing is published."""
    store = store or open_store(settings, projections())
    definitions = DefinitionsInForce(
        load_catalog(settings.campaigns_dir) if catalog is None else catalog,
        events.campaign_stream)
    dependencies = {"definitions": definitions, "topics": settings.topics, "now": clock,
                    "clocks": CampaignClocks(clock)}
    reactions = Reactions(store)
    app = ReviewApp(store, {kind: _inject(handler, dependencies)
                            for kind, handler in HANDLERS.items()}, reactions, clock)
    inbox = None
    if with_kafka:
        inbox = open_inbox(settings, store, CONSUMER, upstreams(settings.topics, reactions))
        broker = broker or kafka_broker(settings.kafka, "review")
        register_subscribers(broker, settings, inbox)
    else:
        broker = None
    servicer = ReviewServicer(app.handle)
    base = assemble(
        settings, store,
        lambda server: add_to_server(servicer, server),
        [SERVICE_NAME],
        broker=broker,
        with_relay=with_relay and with_kafka,
        app=app,
        inbox=inbox,
    )
    return ReviewRuntime(
        **{f.name: getattr(base, f.name) for f in fields(ServiceRuntime) if f.init},
        reminder_poll_s=settings.reminder_poll_s,
    )
