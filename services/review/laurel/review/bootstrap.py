"""Wiring for the review service.

Besides the parts every service has, review runs its deadline reminders as one
more task of the runtime: every `LAUREL_REVIEW_REMINDER_POLL_S` seconds (60)
it records a ReviewDeadlineReminderDue for each reviewer with forms pending
once a reminder lead before the deadline is crossed; notification sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from laurel.campaigns import load_catalog
from laurel.config import ConfigError, Settings
from laurel.messaging import kafka_broker
from laurel.review.adapters.grpc_servicer import ReviewServicer
from laurel.review.adapters.kafka_subscribers import register_subscribers
from laurel.review.application import ReviewApplication
from laurel.review.definitions import Definitions
from laurel.review.inbox import ReviewInbox
from laurel.review.projection import ReviewProjection
from laurel.review.v1 import review_pb2, review_pb2_grpc
from laurel.runtime import ServiceRuntime, assemble, open_store

SERVICE_NAME = review_pb2.DESCRIPTOR.services_by_name["ReviewService"].full_name
log = logging.getLogger("laurel.review")


@dataclass
class ReviewRuntime(ServiceRuntime):
    """A ServiceRuntime that also records due deadline reminders."""

    reminder_poll_s: float = 60.0

    async def start(self) -> None:
        await super().start()
        if self.reminder_poll_s > 0:
            self._tasks.append(asyncio.create_task(self._remind()))

    async def _remind(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.app.send_due_reminders)
            except Exception:
                log.exception("reminder pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.reminder_poll_s)


def reminder_poll(env: Mapping[str, str] | None = None) -> float:
    env = os.environ if env is None else env
    raw = env.get("LAUREL_REVIEW_REMINDER_POLL_S", "60")
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"LAUREL_REVIEW_REMINDER_POLL_S={raw!r} is not a number "
                          "of seconds (0 turns reminders off)") from None


def projections() -> list[ReviewProjection]:
    """Every projection review keeps: the audit replay rebuilds exactly these."""
    return [ReviewProjection()]


async def build_review(
    settings: Settings, env: Mapping[str, str] | None = None, *,
    with_relay: bool = True, with_kafka: bool = True,
) -> ReviewRuntime:
    """The review runtime; without Kafka (tests feeding the inbox directly)
    no consumer joins a group and nothing is published."""
    [projection] = projections()
    store = open_store(settings, [projection])
    app = ReviewApplication(
        store, projection, Definitions(store, load_catalog(settings.campaigns_dir)),
        settings.topics)
    broker = None
    if with_kafka:
        broker = kafka_broker(settings.kafka, "review")
        register_subscribers(broker, settings, ReviewInbox(store, projection))
    servicer = ReviewServicer(app)
    base = assemble(
        settings, store,
        lambda server: review_pb2_grpc.add_ReviewServiceServicer_to_server(
            servicer, server),
        [SERVICE_NAME],
        broker=broker,
        with_relay=with_relay and with_kafka,
        app=app,
    )
    return ReviewRuntime(
        **{f.name: getattr(base, f.name) for f in fields(ServiceRuntime) if f.init},
        reminder_poll_s=reminder_poll(env),
    )
