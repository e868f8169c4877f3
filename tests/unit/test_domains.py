"""Notification's pure domain, deciding on intake's events as they are recorded."""

from __future__ import annotations

from laurel.envelope import NewEvent, RecordedEvent
from laurel.intake.domain import nomination as intake
from laurel.intake.domain.commands import NominationForm, Nominee
from laurel.intake.domain.organizations import Placement, Route
from laurel.notification.adapters.templates import load_catalog
from laurel.notification.domain import notifications as notification

FORM = NominationForm("7b0c2a1e-0000-4000-8000-000000000001", "henan-2021",
                      "warm_service_post", Nominee("department", "急诊科", "huaxian-peoples"),
                      {"hospital_name": "滑县人民医院"})
PLACEMENT = Placement("huaxian-peoples", "huaxian", Route("commission", "huaxian"))
TEMPLATES = load_catalog()


def recorded(decided: list[NewEvent]) -> RecordedEvent:
    """The one event decided, as the store records it for nominator-1."""
    [new] = decided
    return RecordedEvent(
        position=1, event_id=new.event_id, stream_id="s", version=1, type=new.type,
        schema_version=1, payload=new.payload,
        metadata={"actor": {"id": "nominator-1", "role": "nominator", "organization_id": "h"}},
        recorded_at="2021-11-10T08:00:00.000000Z", prev_hash="0" * 64, hash="f" * 64)


def test_receipt_goes_to_the_submitter_with_an_id_stable_across_redeliveries() -> None:
    source = recorded(intake.submit_nomination(None, FORM, PLACEMENT, []))

    [first] = notification.notifications_for(source, TEMPLATES)
    [again] = notification.notifications_for(source, TEMPLATES)

    assert first.type == "SubmissionReceiptIssued"
    assert first.payload["recipient_id"] == "nominator-1"
    assert first.payload["notification_id"] == again.payload["notification_id"]
    assert "急诊科" in first.payload["title"]


def test_events_nobody_must_hear_about_decide_nothing() -> None:
    drafted = recorded(intake.draft_nomination(None, FORM, PLACEMENT, []))
    assert notification.notifications_for(drafted, TEMPLATES) == []
