"""Intake records each campaign definition in its CampaignDefined event; every
service that reads that event must get the same definition back."""

from __future__ import annotations

import pytest

from laurel.campaigns import SHIPPED_DIR, campaign_from_data, definition_digest, load_catalog
from laurel.intake.domain.campaigns import CampaignCatalog

CATALOG = CampaignCatalog(load_catalog(SHIPPED_DIR))


@pytest.mark.parametrize("campaign_id", CATALOG.ids())
def test_the_recorded_definition_reads_back_to_the_same_rules(campaign_id: str) -> None:
    rules = CATALOG.get(campaign_id)
    assert rules is not None
    again = campaign_from_data(rules.as_data())
    assert again == rules.definition
    assert definition_digest(again) == rules.digest


def test_policy_answers_come_from_the_definition() -> None:
    henan = CATALOG.get("henan-2021")
    assert henan is not None
    assert henan.category("ten_measures_benchmark").self_assessment_threshold() == 900
    assert henan.category("warm_service_post").live_quota() == 2
    leader = henan.category("quality_service_leader")
    assert set(leader.required_live_categories()) == {"ten_measures_benchmark",
                                                      "single_measure_benchmark"}
    assert henan.category("single_measure_benchmark").self_assessment_total({}) is None
    assert henan.category("no_such_category") is None
