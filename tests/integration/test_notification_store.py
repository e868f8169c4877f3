"""Notification's use cases on SQLite and PostgreSQL: a reaction and a command
each take one connection, an event is applied once, a batch released once.
(services/notification/tests runs every use case, on SQLite.)"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event

from laurel.envelope import Actor, Caller, RecordedEvent
from laurel.notification.bootstrap import NotificationRuntime, build
from laurel.notification.domain.commands import ApproveNotificationBatch
from laurel.notification.handlers import approve_notification_batch
from laurel.notification.settings import NotificationSettings

NOMINATOR = Actor("nominator-lankao-1", "nominator", "lankao-peoples")
ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")


def arriving(type_: str, payload: dict[str, Any], actor: Actor) -> RecordedEvent:
    return RecordedEvent(
        position=1, event_id=str(uuid.uuid4()), stream_id="s", version=1, type=type_,
        schema_version=1, payload=payload,
        metadata={"actor": actor.to_dict(), "correlation_id": "c"},
        recorded_at="2021-11-25T02:30:00.000000Z", prev_hash="0" * 64, hash="a" * 64)


SUBMITTED = ("NominationSubmitted", {
    "nomination_id": "n-1", "campaign_id": "henan-2021",
    "category": "ten_measures_benchmark",
    "nominee": {"kind": "hospital", "name": "兰考县人民医院",
                "organization_id": "lankao-peoples"},
    "route": {"to": "commission", "organization_id": "lankao"},
    "fields": {"contact.email": "office@lankao.example.cn"}}, NOMINATOR)
RESULTS = ("ResultsPublished", {
    "round_id": "r1", "campaign_id": "henan-2021", "category": "c", "result_version": 1,
    "decisions": [{"nomination_id": "n-1", "outcome": "award", "tier": ""}]}, ORGANIZER)


@pytest.fixture
async def runtime(database_url: str, tmp_path: Path) -> AsyncIterator[NotificationRuntime]:
    built = await build(NotificationSettings.load({
        "LAUREL_ENV": "development", "LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9",
        "LAUREL_GRPC_PORT": "0",  # a free port: the usual one may be taken
        "LAUREL_DATA_DIR": str(tmp_path), "LAUREL_DATABASE_URL": database_url,
        "LAUREL_SMTP_PORT": "2525", "LAUREL_SMTP_FROM": "laurel@laurel.test"}))
    # henan-2021's forums and awards: results go out (intake's clock, noted)
    built.app.reactions.on_event(arriving("CampaignClockSet", {
        "campaign_id": "henan-2021", "now": "2022-01-10T09:00:00+08:00"}, ORGANIZER))
    yield built
    built.store.close()


async def test_one_reaction_and_one_command_take_one_connection_each(
        runtime: NotificationRuntime) -> None:
    store, app = runtime.store, runtime.app
    checkouts: list[int] = []
    sa_event.listen(store.engine, "checkout", lambda *_: checkouts.append(1))

    assert app.reactions.on_event(arriving(*SUBMITTED)) == 3
    # A reaction writes first (its inbox mark): the writer's held
    # connection, checked out by the store's first write (the fixture's) and kept.
    assert len(checkouts) == 0
    assert app.reactions.on_event(arriving(*RESULTS)) == 2  # batch opened, one held
    [batch] = store.run(lambda uow: app.context.read.batches.find(uow.conn, "pending"))
    checkouts.clear()

    cmd = ApproveNotificationBatch(Caller(ORGANIZER, "c"), batch["batch_id"])
    done = store.run(lambda uow: approve_notification_batch(cmd, uow, app.context))

    assert (done.released, len(checkouts)) == (1, 1)


async def test_an_event_and_an_approval_count_once(runtime: NotificationRuntime) -> None:
    store, app = runtime.store, runtime.app
    submitted, results = arriving(*SUBMITTED), arriving(*RESULTS)
    for source in (submitted, results):
        app.reactions.on_event(source)
        assert app.reactions.on_event(source) == 0
    [batch] = store.run(lambda uow: app.context.read.batches.find(uow.conn, "pending"))
    cmd = ApproveNotificationBatch(Caller(ORGANIZER, "c"), batch["batch_id"])

    first = store.run(lambda uow: approve_notification_batch(cmd, uow, app.context))
    again = store.run(lambda uow: approve_notification_batch(cmd, uow, app.context))

    assert (first.released, again.released, again.already_approved) == (1, 0, True)
    counts = store.run(lambda uow: app.context.read.deliveries.counts(uow.conn))
    assert counts == {"queued": 2}  # the receipt and the released result
