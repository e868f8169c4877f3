"""The use cases on a real SQLite store (no broker): applied once, batches held
and approved once, the directory and inbox rebuilt from the log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from laurel.auth import RequestContext, bind_request, unbind_request
from laurel.campaigns import SHIPPED_DIR
from laurel.campaigns import load_catalog as load_campaigns
from laurel.config import Topics
from laurel.envelope import Actor, RecordedEvent
from laurel.errors import PermissionDenied
from laurel.eventstore import EventStore
from laurel.notification import domain
from laurel.notification.application import NotificationApplication, Projections
from laurel.notification.directory import DirectoryProjection
from laurel.notification.projection import (
    BatchProjection,
    DeliveryProjection,
    InboxProjection,
)
from laurel.notification.templates import load_catalog

MAILING = domain.Policy(frozenset({"results"}), True, "laurel.test")
NOMINATOR = Actor("nominator-lankao-1", "nominator", "lankao-peoples")
ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")


def event(type_: str, payload: dict, actor: Actor = NOMINATOR) -> RecordedEvent:
    return RecordedEvent(
        position=1,
        event_id=str(uuid.uuid4()),
        stream_id="s",
        version=1,
        type=type_,
        schema_version=1,
        payload=payload,
        metadata={"actor": actor.to_dict(), "correlation_id": "c"},
        recorded_at="2021-11-25T02:30:00.000000Z",
        prev_hash="0" * 64,
        hash="a" * 64,
    )


def submitted(
    nid: str = "n-1", email: str = "office@lankao.example.cn"
) -> RecordedEvent:
    return event(
        "NominationSubmitted",
        {
            "nomination_id": nid,
            "campaign_id": "henan-2021",
            "category": "ten_measures_benchmark",
            "nominee": {
                "kind": "hospital",
                "name": "兰考县人民医院",
                "organization_id": "lankao-peoples",
            },
            "route": {"to": "commission", "organization_id": "lankao"},
            "fields": {"contact.email": email},
        },
    )


def results_event(*nids: str) -> RecordedEvent:
    return event(
        "ResultsPublished",
        {
            "round_id": "r1",
            "campaign_id": "henan-2021",
            "category": "c",
            "result_version": 1,
            "decisions": [
                {"nomination_id": n, "outcome": "award", "tier": ""} for n in nids
            ],
        },
        actor=ORGANIZER,
    )


@pytest.fixture
def app(database_url: str) -> Iterator[NotificationApplication]:
    projections = Projections(
        InboxProjection(),
        DirectoryProjection(),
        BatchProjection(),
        DeliveryProjection(),
    )
    store = EventStore(database_url, projections=projections.all())
    store.create_schema()
    yield NotificationApplication(store, projections, Topics(), load_catalog(), MAILING)
    store.close()


def acting(actor: Actor):  # noqa: ANN201
    class _Bound:
        def __enter__(self) -> None:
            self.token = bind_request(RequestContext(actor, "corr"))

        def __exit__(self, *exc: object) -> None:
            unbind_request(self.token)

    return _Bound()


def inbox(app: NotificationApplication, actor: Actor = NOMINATOR) -> list[dict]:
    with acting(actor):
        return app.list_notifications("", "", 100, "")[0]


def test_an_event_is_applied_once_however_often_it_arrives(app) -> None:
    source = submitted()

    first = app.on_event(source)

    assert first == 3  # contact recorded, receipt issued, e-mail queued
    assert app.on_event(source) == 0
    [receipt] = inbox(app)
    assert receipt["kind"] == "receipt" and receipt["template_version"] == 3
    with app.store.engine.connect() as conn:
        assert app.projections.deliveries.counts(conn) == {"queued": 1}


def test_one_ineligibility_told_by_two_services_is_one_notification(app) -> None:
    app.on_event(submitted())
    facts = {
        "nomination_id": "n-1",
        "rule": "no_penalty_within_years",
        "reason": "处罚",
    }
    app.on_event(event("NominationMarkedIneligible", {**facts, "caused_by": "v"}))
    app.on_event(
        event("EligibilityVerdictRecorded", {**facts, "decision": "ineligible"})
    )

    assert [n["kind"] for n in inbox(app)] == ["eligibility", "receipt"]


def test_results_wait_in_a_batch_until_an_organizer_approves(app) -> None:
    app.on_event(submitted("n-1"))
    app.on_event(submitted("n-2", email="second@example.cn"))
    app.on_event(results_event("n-1", "n-2"))

    assert [n["kind"] for n in inbox(app)] == ["receipt", "receipt"]
    with acting(ORGANIZER):
        [batch] = app.list_batches("pending")
        assert (batch["size"], batch["recipient_ids"]) == (2, [NOMINATOR.id])
        row, released, before = app.approve_batch(batch["batch_id"])
        again = app.approve_batch(batch["batch_id"])
        assert app.list_batches("pending") == []

    assert (row["status"], row["approved_by"], released, before) == (
        "approved",
        ORGANIZER.id,
        2,
        False,
    )
    assert again[1:] == (0, True)
    kinds_now = [n["kind"] for n in inbox(app)]
    assert kinds_now.count("results") == 2
    with app.store.engine.connect() as conn:
        assert app.projections.deliveries.counts(conn) == {"queued": 4}


def test_only_organizers_approve_and_see_batches(app) -> None:
    with acting(NOMINATOR), pytest.raises(PermissionDenied):
        app.list_batches("pending")
    with acting(NOMINATOR), pytest.raises(PermissionDenied):
        app.approve_batch("whatever")


def test_a_nominator_reads_only_their_own_inbox(app) -> None:
    with acting(NOMINATOR), pytest.raises(PermissionDenied):
        app.list_notifications("someone-else", "", 10, "")


def test_results_for_an_unknown_nomination_are_recorded_as_unaddressed(app) -> None:
    app.on_event(results_event("n-404"))

    [unaddressed] = app.store.read_stream("notifications-n-404")
    assert unaddressed.type == domain.NOTIFICATION_UNADDRESSED


def test_the_read_models_rebuild_from_the_log_alone(app) -> None:
    app.on_event(submitted("n-1"))
    app.on_event(results_event("n-1"))
    before = inbox(app)

    for projection in app.projections.all():
        app.store.rebuild_projection(projection)

    assert inbox(app) == before
    with app.store.engine.connect() as conn:
        contact = app.projections.directory.nomination(conn, "n-1")
        assert contact is not None and contact.nominator_id == NOMINATOR.id
        assert len(app.projections.batches.list(conn, "pending")) == 1


def test_an_assignment_before_the_reviewers_address_is_emailed_when_it_arrives(
    app,
) -> None:
    reviewer = Actor("exp-1", "reviewer", "")
    assigned = event("ReviewerAssigned", {
        "round_id": "r1", "nomination_id": "n-1", "reviewer_id": "exp-1",
        "category": "warm_service_post", "group": "industry_expert",
        "reason": "balanced"}, actor=ORGANIZER)
    registered = event("ReviewerRegistered", {
        "reviewer_id": "exp-1", "name": "王教授", "email": "wang@example.edu.cn",
        "language": "zh-CN"}, actor=ORGANIZER)

    app.on_event(submitted())
    app.on_event(assigned)  # another partition: the registration is not here yet
    [entry] = inbox(app, reviewer)
    with app.store.engine.connect() as conn:
        assert app.projections.deliveries.known(conn, [entry["notification_id"]]) == set()

    app.on_event(registered)
    app.on_event(registered)  # redelivered: nothing more
    with app.store.engine.connect() as conn:
        assert app.projections.deliveries.known(conn, [entry["notification_id"]]) == {
            entry["notification_id"]}
    [queued] = app.store.read_stream(domain.email_stream(entry["notification_id"]))
    assert queued.payload["to"] == "wang@example.edu.cn"
    assert queued.payload["late_address"] is True
    assert queued.payload["subject"] == entry["title"]

    # A later change of address does not send the same notification again.
    app.on_event(event("ReviewerRegistered", {
        "reviewer_id": "exp-1", "name": "王教授", "email": "wang2@example.edu.cn",
        "language": "zh-CN"}, actor=ORGANIZER))
    assert len(app.store.read_stream(domain.email_stream(entry["notification_id"]))) == 1


def test_a_return_names_the_commission_as_intake_recorded_it(app) -> None:
    app.on_event(submitted())
    app.on_event(event("NominationReturned", {
        "nomination_id": "n-1", "commission_id": "lankao",
        "commission_name": "兰考县卫生健康委", "reasons": ["请补充佐证材料"]},
        actor=Actor("endorser-lankao", "endorser", "lankao")))
    [returned] = [n for n in inbox(app) if n["kind"] == "returned"]
    assert "兰考县卫生健康委" in returned["body"] and "lankao" not in returned["body"]


def test_a_receipt_says_where_the_nomination_goes_next(app) -> None:
    direct = submitted("n-2")
    direct.payload["route"] = {"to": "center", "organization_id": "henan-center"}
    app.on_event(submitted())
    app.on_event(direct)
    bodies = {n["nomination_id"]: n["body"] for n in inbox(app)}
    assert "所属卫生健康委审核" in bodies["n-1"]
    assert "直接报送河南省医疗服务指导中心" in bodies["n-2"]


def test_only_the_campaigns_organizers_approve_its_results(app) -> None:
    app.campaigns = load_campaigns(SHIPPED_DIR)
    app.on_event(submitted("n-1"))
    app.on_event(results_event("n-1"))
    with acting(ORGANIZER):
        [batch] = app.list_batches("pending")
    with acting(Actor("organizer-hubei", "organizer", "hubei-center")), pytest.raises(
            PermissionDenied, match="does not organize henan-2021"):
        app.approve_batch(batch["batch_id"])
    with acting(ORGANIZER):
        assert app.list_batches("pending") == [batch]
        assert app.approve_batch(batch["batch_id"])[1] == 1
