"""Only a campaign's own organizers run it; every service asks this one rule."""

from __future__ import annotations

import pytest

from laurel.campaigns import SHIPPED_DIR, load_catalog
from laurel.campaigns.access import organizes, require_organizer_of
from laurel.envelope import Actor
from laurel.errors import PermissionDenied

CATALOG = load_catalog(SHIPPED_DIR)
CENTER = Actor("organizer-1", "organizer", "henan-center")
ELSEWHERE = Actor("organizer-2", "organizer", "hubei-center")


def test_henan_2021_is_organized_by_the_provincial_center_only() -> None:
    henan = CATALOG["henan-2021"]
    assert organizes(henan, CENTER)
    assert not organizes(henan, ELSEWHERE)
    with pytest.raises(PermissionDenied, match="henan-center"):
        require_organizer_of(henan, ELSEWHERE)
    with pytest.raises(PermissionDenied, match="not the endorser role"):
        require_organizer_of(henan, Actor("e", "endorser", "henan-center"))


def test_a_campaign_naming_no_organization_is_run_by_any_organizer() -> None:
    hospital_campaign = CATALOG["innovation-year"]
    assert hospital_campaign.organizer.organization_ids == ()
    assert organizes(hospital_campaign, ELSEWHERE)
    assert not organizes(hospital_campaign, Actor("r", "reviewer", "x"))
