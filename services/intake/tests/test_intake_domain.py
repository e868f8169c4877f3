"""Intake's pure domain: commands decide events, events fold into state."""

from __future__ import annotations

import itertools

import pytest

from laurel.envelope import NewEvent, RecordedEvent
from laurel.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
)
from laurel.intake.domain import nomination as intake
from laurel.intake.domain.commands import NominationForm, Nominee
from laurel.intake.domain.organizations import Placement, Route

_positions = itertools.count(1)


class Stream:
    """Record decided events as the store would, and fold them."""

    def __init__(self) -> None:
        self.events: list[RecordedEvent] = []

    def record(self, decided: list[NewEvent], actor: str = "nominator-1",
               role: str = "nominator") -> list[RecordedEvent]:
        for new in decided:
            self.events.append(RecordedEvent(
                position=next(_positions), event_id=new.event_id, stream_id="s",
                version=len(self.events) + 1, type=new.type, schema_version=1,
                payload=new.payload,
                metadata={"actor": {"id": actor, "role": role, "organization_id": "h"}},
                recorded_at=f"2021-11-{10 + len(self.events):02d}T08:00:00.000000Z",
                prev_hash="0" * 64, hash="f" * 64,
            ))
        return self.events[-len(decided):] if decided else []

    @property
    def state(self) -> intake.Nomination | None:
        return intake.fold(self.events)


DRAFT = NominationForm(
    nomination_id="7b0c2a1e-0000-4000-8000-000000000001",
    campaign_id="henan-2021",
    category="warm_service_post",
    nominee=Nominee("department", "急诊科", "huaxian-peoples"),
    fields={"hospital_name": "滑县人民医院"},
)
VIA_COMMISSION = Placement("huaxian-peoples", "huaxian",
                           Route("commission", "huaxian", "henan-center"))
DIRECT = Placement("henan-provincial-peoples", "",
                   Route("center", "henan-center", "henan-center"))


def test_a_county_nomination_goes_through_its_commission_to_the_center() -> None:
    s = Stream()
    s.record(intake.submit_nomination(None, DRAFT, VIA_COMMISSION, []))
    s.record(intake.return_nomination(s.state, "huaxian", ["缺少案例材料"]), "c", "endorser")
    assert (s.state.status, s.state.return_reasons) == ("returned", ("缺少案例材料",))
    s.record(intake.resubmit_nomination(s.state, {"cases": "案例一"}, []))
    s.record(intake.endorse_nomination(s.state, "huaxian", "同意推荐"), "c", "endorser")
    s.record(intake.forward_nomination(s.state, "huaxian"), "c", "endorser")
    s.record(intake.receive_nomination(s.state, "henan-center"), "o", "organizer")

    assert s.state.status == "received" and s.state.fields["cases"] == "案例一"
    assert [e.type for e in s.events] == [
        "NominationSubmitted", "NominationReturned", "NominationResubmitted",
        "NominationEndorsed", "NominationForwarded", "NominationReceived"]


def test_a_provincial_hospital_goes_straight_to_the_center() -> None:
    s = Stream()
    s.record(intake.submit_nomination(None, DRAFT, DIRECT, []))
    with pytest.raises(FailedPrecondition, match="straight to henan-center"):
        intake.endorse_nomination(s.state, "huaxian", "同意")
    s.record(intake.receive_nomination(s.state, "henan-center"))
    assert s.state.status == "received"


def test_only_the_routed_commission_may_act() -> None:
    s = Stream()
    s.record(intake.submit_nomination(None, DRAFT, VIA_COMMISSION, []))
    with pytest.raises(PermissionDenied):
        intake.endorse_nomination(s.state, "zhengzhou", "同意")


def test_draft_save_submit_keeps_field_level_changes() -> None:
    s = Stream()
    s.record(intake.draft_nomination(None, DRAFT, VIA_COMMISSION, []))
    [saved] = s.record(intake.save_draft(s.state, {"hospital_name": "滑县人民医院（新院区）",
                                                   "fax": "0372-1234567"}, []))
    s.record(intake.submit_nomination(s.state, None, VIA_COMMISSION, []))

    assert saved.payload["changes"] == {
        "fax": {"before": None, "after": "0372-1234567"},
        "hospital_name": {"before": "滑县人民医院", "after": "滑县人民医院（新院区）"},
    }
    assert s.state.status == "submitted"
    assert s.state.fields["hospital_name"] == "滑县人民医院（新院区）"


def test_amend_records_before_and_after() -> None:
    s = Stream()
    s.record(intake.submit_nomination(None, DRAFT, VIA_COMMISSION, []))
    [amended] = s.record(intake.amend_nomination(
        s.state, {"hospital_name": ""}, "移除", []))
    assert amended.payload["changes"] == {
        "hospital_name": {"before": "滑县人民医院", "after": None}}
    assert "hospital_name" not in s.state.fields


def test_withdrawn_nominations_accept_nothing_more() -> None:
    s = Stream()
    s.record(intake.submit_nomination(None, DRAFT, VIA_COMMISSION, []))
    s.record(intake.withdraw_nomination(s.state, "改报其他科室"))
    for decide in (lambda n: intake.withdraw_nomination(n, "again"),
                   lambda n: intake.endorse_nomination(n, "huaxian", "同意"),
                   lambda n: intake.amend_nomination(n, {"a": "b"}, "", [])):
        with pytest.raises(FailedPrecondition) as raised:
            decide(s.state)
        assert raised.value.rule == "nomination_status"


def test_marking_ineligible_happens_once_and_only_while_live() -> None:
    s = Stream()
    s.record(intake.submit_nomination(None, DRAFT, VIA_COMMISSION, []))
    s.record(intake.mark_ineligible(s.state, "requires_live_nomination", "gone", "e-1"))
    assert not s.state.eligible and s.state.ineligible_reason == "gone"
    assert intake.mark_ineligible(s.state, "requires_live_nomination", "gone", "e-2") == []


def test_every_problem_is_reported_at_once_and_nothing_decided() -> None:
    problems = [FieldViolation("fields[hospital_name]", "required"),
                FieldViolation("nominee.kind", "wrong kind")]
    with pytest.raises(InvalidArgument) as raised:
        intake.submit_nomination(None, DRAFT, VIA_COMMISSION, problems)
    assert [v.field for v in raised.value.violations] == [
        "fields[hospital_name]", "nominee.kind"]


def test_a_nomination_cannot_be_submitted_twice() -> None:
    s = Stream()
    s.record(intake.submit_nomination(None, DRAFT, VIA_COMMISSION, []))
    with pytest.raises(AlreadyExists):
        intake.submit_nomination(s.state, DRAFT, VIA_COMMISSION, [])
