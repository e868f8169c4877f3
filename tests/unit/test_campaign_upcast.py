"""Definitions recorded before issue 16 still parse (events are forever).

`campaign_payloads_v1/` holds the CampaignDefined payloads intake recorded
from the shipped YAML as it was before issue 16 (schema without a version):
`campaign_id`, `digest` and `definition` exactly as `CampaignRules.as_data`
wrote them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from laurel.campaigns import (
    SHIPPED_DIR,
    CampaignDefinitionError,
    campaign_from_data,
    definition_digest,
    load_catalog,
)
from laurel.campaigns.access import NominatingOrganization as Org
from laurel.campaigns.access import organizes, route_for
from laurel.campaigns.stages import require_stage
from laurel.campaigns.upcast import is_first_shape, upcast_definition
from laurel.envelope import Actor
from laurel.errors import FailedPrecondition

RECORDED = Path(__file__).parent / "campaign_payloads_v1"
CATALOG = load_catalog(SHIPPED_DIR)


def recorded(campaign_id: str) -> dict[str, Any]:
    return json.loads((RECORDED / f"{campaign_id}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("campaign_id", ["henan-2021", "innovation-year"])
def test_a_recorded_first_shape_definition_parses_and_reads_back(campaign_id: str) -> None:
    payload = recorded(campaign_id)
    assert is_first_shape(payload["definition"])
    old = campaign_from_data(payload["definition"])
    assert old.schema_version == 2 and old.version == 1
    # Read back from what a service would record now, it is the same definition.
    again = campaign_from_data(old.model_dump(mode="json", exclude_unset=True))
    assert again == old and definition_digest(again) == definition_digest(old)
    # The recorded digest names the first shape; the shipped file has moved on.
    assert definition_digest(old) != payload["digest"]
    assert definition_digest(old) != definition_digest(CATALOG[campaign_id])


def test_upcasting_leaves_its_input_alone_and_the_second_shape_as_it_is() -> None:
    data = recorded("henan-2021")["definition"]
    before = copy.deepcopy(data)
    upcast_definition(data)
    assert data == before
    current = CATALOG["henan-2021"].model_dump(mode="json", exclude_unset=True)
    assert upcast_definition(current) == current


def test_old_nominee_words_are_read_as_the_documents_words() -> None:
    old = campaign_from_data(recorded("henan-2021")["definition"])
    assert [c.nominee_kinds for c in old.categories] == [
        ("hospital",), ("hospital",), ("department",), ("person",)]
    # Services that still compare the old word see the word they recorded.
    assert [c.nominee_kind for c in old.categories] == [
        c["nominee_kind"] for c in recorded("henan-2021")["definition"]["categories"]]
    year = campaign_from_data(recorded("innovation-year")["definition"])
    assert {c.nominee_kinds for c in year.categories} == {("innovation_project",)}
    assert {c.nominee_kind for c in year.categories} == {"project"}


def test_the_old_routing_becomes_receivers_and_routes_as_intake_routed() -> None:
    old = campaign_from_data(recorded("henan-2021")["definition"])
    county = Org("zhengzhou-county", "hospital", "zhengzhou-county",
                 jurisdiction_id="zhengzhou")
    provincial = Org("henan-provincial", "hospital", "henan-provincial",
                     provincial_level=True)
    assert route_for(old, county).endorser_id == "zhengzhou"
    assert route_for(old, provincial).direct
    assert {route_for(old, o).receiver.organization_id for o in (county, provincial)} == {
        "henan-center"}
    assert old.routing.routes[0].endorser_kinds == (
        "prefecture_city", "demonstration_zone", "province_direct_county", "tcm_bureau")
    year = campaign_from_data(recorded("innovation-year")["definition"])
    assert route_for(year, Org("h", "hospital", "h")).receiver.organization_id == (
        "innovation-year-office")


def test_an_old_empty_organizer_list_becomes_the_old_receiver_not_anyone() -> None:
    year = campaign_from_data(recorded("innovation-year")["definition"])
    assert year.organizer.organization_ids == ("innovation-year-office",)
    assert organizes(year, Actor("o", "organizer", "innovation-year-office"))
    assert not organizes(year, Actor("o", "organizer", "henan-center"))


def test_old_stages_permit_by_their_names_and_the_reference_day_is_the_old_rule() -> None:
    old = campaign_from_data(recorded("henan-2021")["definition"])
    assert {s.key: s.permits for s in old.stages}["nomination"] == (
        "submit", "amend", "withdraw", "endorse", "receive")
    assert old.stage("interviews").permits == ()  # no reporting before issue 16
    with pytest.raises(FailedPrecondition, match="no stage of this campaign permits"):
        require_stage(old, "attach_report", old.stage_window("interviews")[0])
    assert old.lookback_reference_date() == old.stage("evaluation").end
    year = campaign_from_data(recorded("innovation-year")["definition"])
    assert year.lookback_reference_date() == year.stage("evaluation").end


def test_old_panels_are_the_groups_default_mix_or_set_per_round() -> None:
    old = campaign_from_data(recorded("henan-2021")["definition"])
    assert old.panel_for("warm_service_post").reviewers_by_group() == {
        "hospital_manager": 2, "industry_expert": 2, "media": 1}
    year = campaign_from_data(recorded("innovation-year")["definition"])
    assert all(year.panel_for(c.key).set_per_round for c in year.categories)


def test_a_malformed_old_definition_is_still_reported_with_paths() -> None:
    data = recorded("henan-2021")["definition"]
    data["categories"][0]["nominee_kind"] = "alien"
    data["routing"]["receiver_id"] = "Not An Id"
    with pytest.raises(CampaignDefinitionError) as caught:
        campaign_from_data(data)
    assert {p for p, _ in caught.value.errors} >= {
        "categories[0].nominee_kinds[0]", "routing.receivers[0].organization_id"}
