"""Pure domain functions: commands decide events, events fold into state."""

from __future__ import annotations

import pytest

from laurel.envelope import RecordedEvent
from laurel.errors import AlreadyExists, FieldViolation, InvalidArgument
from laurel.intake import domain as intake
from laurel.notification import domain as notification


def recorded(new, version: int = 1, actor: str = "nominator-1") -> RecordedEvent:
    return RecordedEvent(
        position=version, event_id=new.event_id, stream_id="s", version=version,
        type=new.type, schema_version=1, payload=new.payload,
        metadata={"actor": {"id": actor, "role": "nominator", "organization_id": "h-1"}},
        recorded_at="2021-11-20T08:00:00.000000Z", prev_hash="0" * 64, hash="f" * 64,
    )


COMMAND = intake.SubmitNomination(
    nomination_id="7b0c2a1e-0000-4000-8000-000000000001",
    campaign_id="henan-2021",
    category="ten_measures_benchmark",
    nominee=intake.Nominee("hospital", "河南省人民医院", "hospital-henan-provincial"),
    fields={"hospital_name": "河南省人民医院"},
)


def test_submission_decides_one_event_and_folds_to_submitted_state() -> None:
    [event] = intake.submit_nomination(None, COMMAND, [], "hospital")
    state = intake.fold([recorded(event)])

    assert event.type == "NominationSubmitted"
    assert state.status == "submitted" and state.version == 1
    assert state.nominee.name == "河南省人民医院"
    assert state.submitted_by == "nominator-1"


def test_every_problem_is_reported_at_once() -> None:
    bad = intake.SubmitNomination(
        COMMAND.nomination_id, "henan-2021", "ten_measures_benchmark",
        intake.Nominee("department", " ", ""), {},
    )
    with pytest.raises(InvalidArgument) as raised:
        intake.submit_nomination(
            None, bad, [FieldViolation("fields[hospital_name]", "required")], "hospital"
        )
    assert [v.field for v in raised.value.violations] == [
        "nominee.name", "nominee.organization_id", "nominee.kind", "fields[hospital_name]"
    ]


def test_a_nomination_cannot_be_submitted_twice() -> None:
    [event] = intake.submit_nomination(None, COMMAND, [], "hospital")
    with pytest.raises(AlreadyExists):
        intake.submit_nomination(intake.fold([recorded(event)]), COMMAND, [], "hospital")


def test_receipt_goes_to_the_submitter_with_an_id_stable_across_redeliveries() -> None:
    [submitted] = intake.submit_nomination(None, COMMAND, [], "hospital")
    source = recorded(submitted)

    [first] = notification.notifications_for(source)
    [again] = notification.notifications_for(source)

    assert first.type == "SubmissionReceiptIssued"
    assert first.payload["recipient_id"] == "nominator-1"
    assert first.payload["notification_id"] == again.payload["notification_id"]
    assert "河南省人民医院" in first.payload["title"]


def test_events_nobody_must_hear_about_decide_nothing() -> None:
    [submitted] = intake.submit_nomination(None, COMMAND, [], "hospital")
    other = recorded(submitted).__class__(**{**recorded(submitted).__dict__,
                                             "type": "NominationDraftSaved"})
    assert notification.notifications_for(other) == []
