"""Who does what in a campaign, from its definition: organize, co-organize,
receive, nominate (and along which route), report in stage 2. Each refusal
names who may."""

from __future__ import annotations

import pytest

from laurel.campaigns import SHIPPED_DIR, load_catalog
from laurel.campaigns.access import (
    JOURNALIST,
    NominatingOrganization,
    co_organizes,
    may_nominate,
    may_organize,
    organizes,
    receives,
    reports,
    require_co_organizer_of,
    require_nominator,
    require_organizer_of,
    require_organizing,
    require_receiver,
    require_reporter,
    route_for,
)
from laurel.campaigns.vocabulary import ACTIONS
from laurel.envelope import Actor
from laurel.errors import FailedPrecondition, PermissionDenied

CATALOG = load_catalog(SHIPPED_DIR)
HENAN, YEAR = CATALOG["henan-2021"], CATALOG["innovation-year"]
CENTER = Actor("organizer-1", "organizer", "henan-center")
ELSEWHERE = Actor("organizer-2", "organizer", "hubei-center")
NEWSPAPER = Actor("editor-1", "organizer", "medicine-health-news")
REPORTER = Actor("reporter-1", JOURNALIST, "medicine-health-news")
OTHER_REPORTER = Actor("reporter-2", JOURNALIST, "dahe-daily")
LEADING_GROUP = Actor("president-1", "organizer", "xingan-peoples")
OFFICE = Actor("clerk-1", "organizer", "xingan-peoples-innovation-office")

COUNTY = NominatingOrganization("zhengzhou-county", "hospital", "zhengzhou-county",
                                jurisdiction_id="zhengzhou")
PROVINCIAL = NominatingOrganization("henan-provincial", "hospital", "henan-provincial",
                                    provincial_level=True)
SURGERY = NominatingOrganization("xingan-surgery", "department", "xingan-peoples")
WARD_3 = NominatingOrganization("xingan-ward-3", "ward", "xingan-peoples")
FOREIGN_WARD = NominatingOrganization("kaifeng-ward-1", "ward", "kaifeng-peoples")


def nominator(organization: NominatingOrganization) -> Actor:
    return Actor(f"n-{organization.organization_id}", "nominator",
                 organization.organization_id)


# -- organizing -------------------------------------------------------------------


def test_henan_2021_is_organized_by_the_provincial_center_only() -> None:
    assert organizes(HENAN, CENTER)
    assert not organizes(HENAN, ELSEWHERE)
    assert not organizes(HENAN, NEWSPAPER)  # a co-organizer, see below
    with pytest.raises(PermissionDenied, match="henan-center"):
        require_organizer_of(HENAN, ELSEWHERE)
    with pytest.raises(PermissionDenied, match="not the endorser role"):
        require_organizer_of(HENAN, Actor("e", "endorser", "henan-center"))


def test_the_newspaper_co_organizes_interviews_and_the_expert_evaluation() -> None:
    assert co_organizes(HENAN, NEWSPAPER)
    assert co_organizes(HENAN, NEWSPAPER, "interviews")
    assert co_organizes(HENAN, NEWSPAPER, "evaluation")
    assert not co_organizes(HENAN, NEWSPAPER, "forums")
    assert not co_organizes(HENAN, CENTER)
    assert not co_organizes(HENAN, REPORTER)  # a journalist is no organizer
    with pytest.raises(PermissionDenied, match="does not co-organize forums"):
        require_co_organizer_of(HENAN, NEWSPAPER, "forums")
    require_co_organizer_of(HENAN, NEWSPAPER, "interviews")


@pytest.mark.parametrize("action", ACTIONS)
def test_organizers_do_every_act_co_organizers_those_of_their_stages(action: str) -> None:
    assert may_organize(HENAN, CENTER, action)
    expected = action in ("attach_report", "form_panels", "run_rounds", "score",
                          "decide")
    assert may_organize(HENAN, NEWSPAPER, action) is expected
    assert not may_organize(HENAN, ELSEWHERE, action)
    assert not may_organize(YEAR, CENTER, action)


def test_a_refusal_names_the_organizers_and_co_organizers() -> None:
    with pytest.raises(PermissionDenied) as raised:
        require_organizing(HENAN, NEWSPAPER, "publish_results")
    assert "publishing results" in raised.value.message
    assert "henan-center" in raised.value.message
    assert "medicine-health-news co-organizes interviews, evaluation" in (
        raised.value.message)
    require_organizing(HENAN, NEWSPAPER, "run_rounds")


def test_only_its_own_hospitals_organizers_run_the_innovation_year() -> None:
    assert organizes(YEAR, LEADING_GROUP) and organizes(YEAR, OFFICE)
    for stranger in (CENTER, ELSEWHERE, Actor("o", "organizer", ""),
                     Actor("o", "organizer", "kaifeng-peoples")):
        assert not organizes(YEAR, stranger)
        with pytest.raises(PermissionDenied, match="xingan-peoples"):
            require_organizer_of(YEAR, stranger)
    assert not co_organizes(YEAR, NEWSPAPER)


# -- receiving --------------------------------------------------------------------


def test_the_center_receives_henan_nominations_and_no_one_else() -> None:
    assert require_receiver(HENAN, CENTER).kind == "center"
    assert receives(HENAN, CENTER, "henan-center")
    for other in (NEWSPAPER, ELSEWHERE, Actor("e", "endorser", "zhengzhou"),
                  Actor("n", "nominator", "henan-center")):
        assert not receives(HENAN, other)
        with pytest.raises(PermissionDenied, match=r"henan-center \(河南省医疗服务指导中心\)"):
            require_receiver(HENAN, other)


def test_the_hospitals_office_receives_its_departments_applications() -> None:
    receiver = require_receiver(YEAR, OFFICE, "xingan-peoples-innovation-office")
    assert (receiver.kind, receiver.within) == ("hospital_office", "xingan-peoples")
    assert not receives(YEAR, LEADING_GROUP)  # organizes, but the office receives
    assert not receives(YEAR, CENTER)
    with pytest.raises(PermissionDenied, match="xingan-peoples-innovation-office"):
        require_receiver(YEAR, CENTER)
    with pytest.raises(PermissionDenied, match="does not receive this nomination"):
        require_receiver(HENAN, CENTER, "some-other-office")


# -- nominating and routing ----------------------------------------------------------


def test_henan_routes_county_and_city_hospitals_through_their_commission() -> None:
    route = require_nominator(HENAN, nominator(COUNTY), COUNTY)
    assert (route.route.key, route.endorser_id, route.receiver.organization_id) == (
        "via_commission", "zhengzhou", "henan-center")
    assert not route.direct


def test_henan_routes_provincial_level_hospitals_straight_to_the_center() -> None:
    route = require_nominator(HENAN, nominator(PROVINCIAL), PROVINCIAL)
    assert (route.route.key, route.endorser_id, route.receiver.organization_id) == (
        "direct", "", "henan-center")
    assert route.direct


def test_henan_is_for_hospitals_each_nominating_for_itself() -> None:
    with pytest.raises(PermissionDenied, match="in henan-2021 hospitals nominate; "
                                               "xingan-surgery is a department"):
        require_nominator(HENAN, nominator(SURGERY), SURGERY)
    with pytest.raises(PermissionDenied, match="nominates for zhengzhou-county, not "
                                               "for henan-provincial"):
        require_nominator(HENAN, nominator(COUNTY), PROVINCIAL)
    with pytest.raises(PermissionDenied, match="not the endorser role"):
        require_nominator(HENAN, Actor("e", "endorser", "zhengzhou"), COUNTY)
    assert may_nominate(HENAN, nominator(COUNTY), COUNTY)
    assert not may_nominate(HENAN, nominator(SURGERY), SURGERY)


def test_a_hospital_without_its_commission_cannot_be_routed() -> None:
    orphan = NominatingOrganization("orphan", "hospital", "orphan")
    with pytest.raises(FailedPrecondition) as raised:
        route_for(HENAN, orphan)
    assert raised.value.rule == "routing"
    assert "local health commission" in raised.value.message
    assert not may_nominate(HENAN, nominator(orphan), orphan)


@pytest.mark.parametrize("unit", [SURGERY, WARD_3])
def test_innovation_year_takes_its_departments_and_wards_to_the_office(
        unit: NominatingOrganization) -> None:
    route = require_nominator(YEAR, nominator(unit), unit)
    assert (route.route.key, route.endorser_id, route.receiver.organization_id) == (
        "to_office", "", "xingan-peoples-innovation-office")


def test_innovation_year_refuses_other_hospitals_and_the_hospital_itself() -> None:
    with pytest.raises(PermissionDenied) as raised:
        require_nominator(YEAR, nominator(FOREIGN_WARD), FOREIGN_WARD)
    assert "the departments and wards of xingan-peoples nominate" in raised.value.message
    assert "belongs to kaifeng-peoples" in raised.value.message
    hospital = NominatingOrganization("xingan-peoples", "hospital", "xingan-peoples")
    with pytest.raises(PermissionDenied, match="xingan-peoples is a hospital"):
        route_for(YEAR, hospital)


# -- stage-2 reporting --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["article", "report"])
def test_journalists_and_the_newspaper_attach_articles_and_reports(kind: str) -> None:
    for actor in (REPORTER, NEWSPAPER):
        assert reports(HENAN, actor, kind)
        require_reporter(HENAN, actor, kind)


def test_no_one_else_reports_and_only_articles_and_reports_are_theirs() -> None:
    for actor in (OTHER_REPORTER, CENTER, nominator(COUNTY),
                  Actor("r", "reviewer", "medicine-health-news")):
        assert not reports(HENAN, actor, "article")
        with pytest.raises(PermissionDenied) as raised:
            require_reporter(HENAN, actor, "article")
        assert "journalists of medicine-health-news" in raised.value.message
    with pytest.raises(PermissionDenied, match="not 'case'"):
        require_reporter(HENAN, REPORTER, "case")


def test_innovation_year_has_no_stage_2_reporting() -> None:
    assert not reports(YEAR, REPORTER)
    with pytest.raises(PermissionDenied, match="innovation-year has no stage-2 reporting"):
        require_reporter(YEAR, REPORTER, "article")
