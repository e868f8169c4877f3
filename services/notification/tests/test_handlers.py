"""The use cases and reactions on a real SQLite store (no broker): applied
once, batches held and approved once, the directory and inbox rebuilt from the
log, one database connection per command and per reaction."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event as sa_event

from laurel.envelope import Actor
from laurel.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from laurel.notification import handlers
from laurel.notification.domain.commands import (
    ApproveNotificationBatch,
    ListNotifications,
    ListPendingBatches,
    WatchNotifications,
)
from laurel.notification.domain.events import (
    NOTIFICATION_UNADDRESSED,
    batch_stream,
    email_stream,
)
from laurel.notification.reactions import CONSUMER
from laurel.policy import DEFAULT_POLICY, PolicyDenied

NOMINATOR = Actor("nominator-lankao-1", "nominator", "lankao-peoples")
ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")
SERVICE = "/laurel.notification.v1.NotificationService"


def pending(notification) -> list[dict]:  # noqa: ANN001
    return notification.run(handlers.list_pending_batches,
                            ListPendingBatches(notification.caller(ORGANIZER)))


def approve(notification, batch_id: str, actor: Actor = ORGANIZER):  # noqa: ANN001, ANN201
    return notification.run(handlers.approve_notification_batch,
                            ApproveNotificationBatch(notification.caller(actor), batch_id))


def delivery_counts(notification) -> dict[str, int]:  # noqa: ANN001
    return notification.read(lambda uow: notification.ctx.read.deliveries.counts(uow.conn))


def test_an_event_is_applied_once_however_often_it_arrives(notification, upstream) -> None:
    source = upstream.submitted()

    first = notification.react(source)

    assert first == 3  # contact recorded, receipt issued, e-mail queued
    assert notification.react(source) == 0
    [receipt] = notification.inbox()
    assert receipt["kind"] == "receipt" and receipt["template_version"] == 3
    assert delivery_counts(notification) == {"queued": 1}


def test_one_ineligibility_told_by_two_services_is_one_notification(
        notification, upstream) -> None:
    notification.react(upstream.submitted())
    facts = {"nomination_id": "n-1", "rule": "no_penalty_within_years", "reason": "处罚"}
    notification.react(upstream.event("NominationMarkedIneligible",
                                      {**facts, "caused_by": "v"}))
    notification.react(upstream.event("EligibilityVerdictRecorded",
                                      {**facts, "decision": "ineligible"}))

    assert [n["kind"] for n in notification.inbox()] == ["eligibility", "receipt"]


def test_results_wait_in_a_batch_until_an_organizer_approves(notification, upstream) -> None:
    notification.react(upstream.submitted("n-1"))
    notification.react(upstream.submitted("n-2", email="second@example.cn"))
    notification.react(upstream.results("n-1", "n-2"))

    assert [n["kind"] for n in notification.inbox()] == ["receipt", "receipt"]
    [batch] = pending(notification)
    assert (batch["size"], batch["recipient_ids"]) == (2, [NOMINATOR.id])
    done = approve(notification, batch["batch_id"])
    again = approve(notification, batch["batch_id"])
    assert pending(notification) == []

    assert (done.batch["status"], done.batch["approved_by"], done.released,
            done.already_approved) == ("approved", ORGANIZER.id, 2, False)
    assert (again.released, again.already_approved) == (0, True)
    kinds_now = [n["kind"] for n in notification.inbox()]
    assert kinds_now.count("results") == 2
    assert delivery_counts(notification) == {"queued": 4}


def test_only_organizers_approve_and_see_batches() -> None:
    """The access policy (checked before any handler runs) is the one place."""
    for method in ("ListPendingBatches", "ApproveNotificationBatch"):
        with pytest.raises(PolicyDenied):
            DEFAULT_POLICY.check(f"{SERVICE}/{method}", NOMINATOR)
    DEFAULT_POLICY.check(f"{SERVICE}/ApproveNotificationBatch", ORGANIZER)


def test_approving_a_batch_that_does_not_exist_is_not_found(notification) -> None:
    with pytest.raises(NotFound):
        approve(notification, "no-such-batch")


def test_a_nominator_reads_only_their_own_inbox(notification) -> None:
    caller = notification.caller(NOMINATOR)
    with pytest.raises(PermissionDenied):
        notification.run(handlers.list_notifications,
                         ListNotifications(caller, "someone-else", "", 10, ""))
    with pytest.raises(PermissionDenied):
        notification.run(handlers.watch_notifications,
                         WatchNotifications(caller, "someone-else"))


def test_a_cursor_that_is_not_one_is_refused_by_field(notification) -> None:
    with pytest.raises(InvalidArgument) as refused:
        notification.run(handlers.list_notifications, ListNotifications(
            notification.caller(NOMINATOR), page_token="abc"))
    assert [v.field for v in refused.value.violations] == ["page_token"]


def test_results_for_an_unknown_nomination_are_recorded_as_unaddressed(
        notification, upstream) -> None:
    notification.react(upstream.results("n-404"))

    [unaddressed] = notification.store.read_stream("notifications-n-404")
    assert unaddressed.type == NOTIFICATION_UNADDRESSED


def test_the_read_models_rebuild_from_the_log_alone(notification, upstream) -> None:
    notification.react(upstream.submitted("n-1"))
    notification.react(upstream.results("n-1"))
    before = notification.inbox()

    for projection in notification.ctx.read.all():
        notification.store.rebuild_projection(projection)

    assert notification.inbox() == before
    contact = notification.read(
        lambda uow: notification.ctx.read.directory.nomination(uow.conn, "n-1"))
    assert contact is not None and contact.nominator_id == NOMINATOR.id
    assert len(pending(notification)) == 1


def test_an_assignment_before_the_reviewers_address_is_emailed_when_it_arrives(
        notification, upstream) -> None:
    reviewer = Actor("exp-1", "reviewer", "")
    assigned = upstream.event("ReviewerAssigned", {
        "round_id": "r1", "nomination_id": "n-1", "reviewer_id": "exp-1",
        "category": "warm_service_post", "group": "industry_expert",
        "reason": "balanced"}, actor=ORGANIZER)
    registered = upstream.event("ReviewerRegistered", {
        "reviewer_id": "exp-1", "name": "王教授", "email": "wang@example.edu.cn",
        "language": "zh-CN"}, actor=ORGANIZER)

    def emailed(nid: str) -> set[str]:
        return notification.read(
            lambda uow: notification.ctx.read.deliveries.known(uow.conn, [nid]))

    notification.react(upstream.submitted())
    notification.react(assigned)  # another partition: the registration is not here yet
    [entry] = notification.inbox(reviewer)
    assert emailed(entry["notification_id"]) == set()

    notification.react(registered)
    notification.react(registered)  # redelivered: nothing more
    assert emailed(entry["notification_id"]) == {entry["notification_id"]}
    [queued] = notification.store.read_stream(email_stream(entry["notification_id"]))
    assert queued.payload["to"] == "wang@example.edu.cn"
    assert queued.payload["late_address"] is True
    assert queued.payload["subject"] == entry["title"]

    # A later change of address does not send the same notification again.
    notification.react(upstream.event("ReviewerRegistered", {
        "reviewer_id": "exp-1", "name": "王教授", "email": "wang2@example.edu.cn",
        "language": "zh-CN"}, actor=ORGANIZER))
    assert len(notification.store.read_stream(email_stream(entry["notification_id"]))) == 1


def test_a_return_names_the_commission_as_intake_recorded_it(notification, upstream) -> None:
    notification.react(upstream.submitted())
    notification.react(upstream.event("NominationReturned", {
        "nomination_id": "n-1", "commission_id": "lankao",
        "commission_name": "兰考县卫生健康委", "reasons": ["请补充佐证材料"]},
        actor=Actor("endorser-lankao", "endorser", "lankao")))
    [returned] = [n for n in notification.inbox() if n["kind"] == "returned"]
    assert "兰考县卫生健康委" in returned["body"] and "lankao" not in returned["body"]


def test_a_receipt_says_where_the_nomination_goes_next(notification, upstream) -> None:
    direct = upstream.submitted("n-2")
    direct.payload["route"] = {"to": "center", "organization_id": "henan-center"}
    notification.react(upstream.submitted())
    notification.react(direct)
    bodies = {n["nomination_id"]: n["body"] for n in notification.inbox()}
    assert "所属卫生健康委审核" in bodies["n-1"]
    assert "直接报送河南省医疗服务指导中心" in bodies["n-2"]


def test_only_the_campaigns_organizers_approve_its_results(notification, upstream) -> None:
    notification.react(upstream.submitted("n-1"))
    notification.react(upstream.results("n-1"))
    [batch] = pending(notification)
    with pytest.raises(PermissionDenied, match="is not for organizer-hubei"):
        approve(notification, batch["batch_id"],
                Actor("organizer-hubei", "organizer", "hubei-center"))
    assert pending(notification) == [batch]
    assert approve(notification, batch["batch_id"]).released == 1


def test_results_go_out_only_in_the_stage_that_publishes_them(notification, upstream
                                                              ) -> None:
    """henan-2021 publishes results in its forums and awards stage
    (2022-01-01 to 2022-01-31, Asia/Shanghai), on the campaign clock intake
    announced; the newspaper co-organizes the evaluation, not the results."""
    beijing = timezone(timedelta(hours=8))
    notification.react(upstream.submitted("n-1"))
    notification.react(upstream.results("n-1"))
    [batch] = pending(notification)
    before = notification.store.last_position()
    for moment in (datetime(2021, 12, 31, 23, 59, 59, tzinfo=beijing),
                   datetime(2022, 2, 1, 0, 0, tzinfo=beijing)):
        notification.react(upstream.campaign_clock(moment))
        with pytest.raises(FailedPrecondition) as refused:
            approve(notification, batch["batch_id"])
        assert refused.value.rule == "stage_window"
        assert "2022-01-01 to 2022-01-31" in refused.value.message
    assert notification.store.last_position() == before + 2  # the clock's notes
    notification.react(upstream.campaign_clock(datetime(2022, 1, 1, tzinfo=beijing)))
    with pytest.raises(PermissionDenied, match="medicine-health-news co-organizes"):
        approve(notification, batch["batch_id"],
                Actor("editor-1", "organizer", "medicine-health-news"))
    assert approve(notification, batch["batch_id"]).released == 1
    [approved] = [e for e in notification.store.read_stream(batch_stream(batch["batch_id"]))
                  if e.type == "NotificationBatchApproved"]
    assert approved.metadata["campaign_time"] == "2022-01-01T00:00:00+08:00"
    notification.react(upstream.campaign_clock(datetime(2022, 1, 31, 23, 59,
                                                        tzinfo=beijing)))
    assert approve(notification, batch["batch_id"]).already_approved


async def test_forum_invitations_held_for_approval_go_out_only_in_the_forums(
        build_notification, upstream) -> None:  # noqa: ANN001
    """Held forum invitations (LAUREL_APPROVAL_REQUIRED_KINDS) are approved
    while henan-2021's forums and awards stage is open (invite_to_forums)."""
    beijing = timezone(timedelta(hours=8))
    notification = await build_notification(
        LAUREL_APPROVAL_REQUIRED_KINDS="results,forum_invitation_theme")
    notification.react(upstream.submitted("n-1"))
    notification.react(upstream.event("ForumInvitationsIssued", {
        "forum_id": "f1", "campaign_id": "henan-2021", "title": "改善医疗服务经验交流会",
        "grouping": "theme", "region": "", "theme": "智慧服务",
        "starts_at": "2022-01-20T01:00:00.000000Z", "venue": "郑州",
        "nomination_ids": ["n-1"]}, actor=ORGANIZER))
    [batch] = pending(notification)
    assert batch["kind"] == "forum_invitation_theme"
    notification.react(upstream.campaign_clock(datetime(2022, 2, 1, tzinfo=beijing)))
    with pytest.raises(FailedPrecondition) as refused:
        approve(notification, batch["batch_id"])
    assert "forum and award invitations in henan-2021" in refused.value.message
    assert "2022-01-01 to 2022-01-31" in refused.value.message
    notification.react(upstream.campaign_clock(datetime(2022, 1, 31, 23, 59, 59,
                                                        tzinfo=beijing)))
    assert approve(notification, batch["batch_id"]).released == 1


def test_an_event_missing_what_its_kind_needs_tells_nobody_and_says_why(
        notification, upstream, caplog: pytest.LogCaptureFixture) -> None:
    broken = upstream.event("ReviewerAssigned", {"reviewer_id": "x"})

    with caplog.at_level(logging.WARNING, "laurel.notification"):
        assert notification.react(broken) == 0

    assert notification.store.has_processed(CONSUMER, broken.event_id)
    assert notification.inbox(Actor("x", "reviewer")) == []
    assert f"ReviewerAssigned {broken.event_id} lacks" in caplog.text


def test_an_event_nobody_hears_about_is_not_even_marked(notification, upstream) -> None:
    unrelated = upstream.event("NominationWithdrawn", {"nomination_id": "n-1"})

    assert notification.react(unrelated) == 0
    assert not notification.store.has_processed(CONSUMER, unrelated.event_id)


def test_one_command_and_one_reaction_use_one_connection_each(
        notification, upstream) -> None:
    """Everything a use case reads and writes goes through its unit of work."""
    checkouts: list[str] = []
    sa_event.listen(notification.store.engine, "checkout",
                    lambda *_: checkouts.append("checkout"))
    notification.react(upstream.submitted("n-1"))
    reaction = len(checkouts)
    notification.react(upstream.results("n-1"))
    [batch] = notification.read(
        lambda uow: notification.ctx.read.batches.find(uow.conn, "pending"))
    checkouts.clear()

    done = approve(notification, batch["batch_id"])

    assert done.released == 1 and len(checkouts) == 1
    assert reaction == 0  # a reaction writes first: the writer's held connection
