"""The campaign clock: every stage of both campaigns at both of its edges, by
its key and by each act it permits; refusals name the stage and its dates in
the campaign's zone; the look-back reference day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from laurel.campaigns import SHIPPED_DIR, CampaignDefinition, Stage, load_catalog
from laurel.campaigns.stages import (
    lookback_as_of,
    permitted_at,
    require_stage,
    stages_at,
)
from laurel.errors import FailedPrecondition

CATALOG = load_catalog(SHIPPED_DIR)
HENAN, YEAR = CATALOG["henan-2021"], CATALOG["innovation-year"]
CHINA = ZoneInfo("Asia/Shanghai")
TICK = timedelta(microseconds=1)
STAGES = [(d, s.key) for d in (HENAN, YEAR) for s in d.stages]


def first_moment(day: date) -> datetime:
    return datetime.combine(day, time.min, CHINA)


def edges(definition: CampaignDefinition, key: str
          ) -> tuple[Stage, tuple[datetime, datetime], tuple[datetime, datetime]]:
    """The stage; its first and last moments; the moments just outside."""
    stage = definition.stage(key)
    assert stage is not None
    opens, closes = first_moment(stage.start), first_moment(stage.end + timedelta(days=1))
    return stage, (opens, closes - TICK), (opens - TICK, closes)


def refused(definition: CampaignDefinition, name: str, now: datetime) -> str:
    with pytest.raises(FailedPrecondition) as raised:
        require_stage(definition, name, now, subject="n-1")
    assert (raised.value.rule, raised.value.subject) == ("stage_window", "n-1")
    return raised.value.message


def test_the_stages_permit_what_the_documents_put_in_them() -> None:
    assert {s.key: s.permits for s in HENAN.stages} == {
        "nomination": ("submit", "amend", "withdraw", "endorse", "receive"),
        "interviews": ("attach_report",),
        "evaluation": ("form_panels", "run_rounds", "score", "decide"),
        "forums": ("publish_results", "invite_to_forums"),
    }
    assert {s.key: s.permits for s in YEAR.stages} == {
        "mobilization": (), "implementation": (),
        "nomination": ("submit", "amend", "withdraw", "receive"),
        "evaluation": ("receive", "form_panels", "run_rounds", "score", "decide"),
        "commendation": ("publish_results",),
    }


@pytest.mark.parametrize("definition,key", STAGES, ids=[f"{d.id}:{k}" for d, k in STAGES])
def test_each_stage_opens_on_its_first_day_and_closes_after_its_last(
        definition: CampaignDefinition, key: str) -> None:
    stage, inside, outside = edges(definition, key)
    assert [require_stage(definition, key, moment) for moment in inside] == [stage] * 2
    for moment in outside:
        message = refused(definition, key, moment)
        assert f"{stage.name_zh} ({stage.name_en})" in message
        assert f"{stage.start} to {stage.end} (Asia/Shanghai)" in message
        assert f"the campaign clock says {moment:%Y-%m-%d %H:%M} (Asia/Shanghai)" in (
            message)


ACTS = [(d, s.key, a) for d in (HENAN, YEAR) for s in d.stages for a in s.permits
        if len(d.stages_permitting(a)) == 1]


@pytest.mark.parametrize("definition,key,action", ACTS,
                         ids=[f"{d.id}:{k}:{a}" for d, k, a in ACTS])
def test_each_act_is_allowed_exactly_while_its_stage_runs(
        definition: CampaignDefinition, key: str, action: str) -> None:
    stage, inside, outside = edges(definition, key)
    assert [require_stage(definition, action, moment) for moment in inside] == [stage] * 2
    for moment in outside:
        message = refused(definition, action, moment)
        assert f"is open in {stage.name_zh}" in message
        assert f"{stage.start} to {stage.end}" in message


def test_an_act_of_two_stages_is_allowed_in_either_and_refused_naming_both() -> None:
    # The office registers applications until the deadline and through the review.
    assert require_stage(YEAR, "receive", first_moment(date(2012, 11, 30))).key == (
        "nomination")
    assert require_stage(YEAR, "receive", first_moment(date(2012, 12, 31))).key == (
        "evaluation")
    message = refused(YEAR, "receive", first_moment(date(2013, 1, 1)))
    assert ("receiving nominations in innovation-year is open in 项目申报 (Project "
            "applications), 2012-02-01 to 2012-11-30 or 项目评审 (Project review), "
            "2012-12-01 to 2012-12-31 (Asia/Shanghai)") in message


def test_the_campaign_clock_is_read_in_the_campaigns_zone() -> None:
    # 16:00 UTC on 31 December is midnight in Zhengzhou: the forums have begun.
    midnight = datetime(2021, 12, 31, 16, tzinfo=UTC)
    assert require_stage(HENAN, "publish_results", midnight).key == "forums"
    message = refused(HENAN, "submit", midnight)
    assert "the campaign clock says 2022-01-01 00:00 (Asia/Shanghai)" in message
    assert require_stage(HENAN, "submit", midnight - TICK).key == "nomination"


def test_interviews_and_scoring_are_refused_while_the_clock_says_november() -> None:
    november = datetime(2021, 11, 25, 9, tzinfo=CHINA)
    assert require_stage(HENAN, "attach_report", november).key == "interviews"
    for action in ("form_panels", "run_rounds", "score", "decide", "publish_results",
                   "invite_to_forums"):
        refused(HENAN, action, november)
    assert permitted_at(HENAN, november) == {"submit", "amend", "withdraw", "endorse",
                                             "receive", "attach_report"}
    assert [s.key for s in stages_at(HENAN, november)] == ["nomination", "interviews"]


def test_an_act_no_stage_permits_is_always_refused() -> None:
    message = refused(YEAR, "attach_report", first_moment(date(2012, 6, 1)))
    assert "no stage of this campaign permits it" in message
    assert "mobilization, implementation, nomination, evaluation, commendation" in message


def test_a_name_that_is_neither_a_stage_nor_an_act_is_a_callers_mistake() -> None:
    with pytest.raises(ValueError, match="neither a stage"):
        require_stage(HENAN, "gossip", first_moment(date(2021, 11, 5)))
    with pytest.raises(ValueError, match="timezone-aware"):
        require_stage(HENAN, "submit", datetime(2021, 11, 5))


def test_the_look_back_windows_end_on_the_evaluations_last_day_or_the_clocks() -> None:
    assert HENAN.lookback_reference_date() == date(2021, 12, 31)
    assert lookback_as_of(HENAN, datetime(2022, 1, 10, tzinfo=CHINA)) == date(2021, 12, 31)
    # Before the evaluation ends, a complaint dated after the clock's day
    # cannot count yet.
    assert lookback_as_of(HENAN, datetime(2021, 11, 25, 9, tzinfo=CHINA)) == (
        date(2021, 11, 25))
    assert lookback_as_of(HENAN, datetime(2021, 12, 31, 16, 30, tzinfo=UTC)) == (
        date(2021, 12, 31))
    assert YEAR.lookback_reference_date() is None
    with pytest.raises(ValueError, match="no lookback_reference"):
        lookback_as_of(YEAR, datetime(2012, 12, 1, tzinfo=CHINA))
