"""Reading definitions recorded before issue 16: the first shape, upcast.

Events are forever: the CampaignDefined and CampaignAmended events intake
wrote before issue 16 hold definitions without a `schema_version`, and every
service that folds them must still read them. `upcast_definition` turns that
first shape into the second (`schema_version: 2`), saying for each change what
the first shape meant:

- `schema_version` is set to 2.
- `categories[].nominee_kind` (one old word) becomes `nominee_kinds`, in the
  documents' words (`vocabulary.canonical_nominee_kind`: measure -> hospital,
  manager -> person, project -> innovation_project).
- `organizer.organization_ids` left empty meant "any organizer"; that is no
  longer expressible, so it becomes the one organization the old routing
  named as receiver, the organizer's own office (innovation-year:
  `innovation-year-office`).
- `routing` {mode, receiver_id, receiver_zh, receiver_en, endorser_kinds,
  direct_submitters} becomes {receivers, routes}, and `nominators` becomes
  hospitals, which is all intake let nominate. The receiver is of kind
  `center`: intake knew no other. `via_local_commission` becomes two routes,
  as intake routed them whatever `direct_submitters` said: hospitals that are
  not provincial-level through their local commission (`endorser_kinds`),
  provincial-level ones straight to the receiver. `direct_to_organizer`
  becomes one route, every hospital straight to the receiver.
- `stages[].permits` is filled from the stage's key (`LEGACY_PERMITS`): the
  acts the stage of that name governs. The interviews stage permits nothing:
  no one attached stage-2 evidence before there was a `reporting` section.
- `lookback_reference` becomes the last day of the evaluation stage, else of
  the nomination stage: the rule scoring applied in code before.
- A category gets `panel: {set_per_round: true}` where the campaign set no
  default mix (panel groups without `reviewers_per_nomination`): the organizer
  named the mix for each round.

What is not of the first shape is left alone, to be reported by validation.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from laurel.campaigns.vocabulary import canonical_nominee_kind

FIRST_SHAPE_STAGE_ORDER = ("evaluation", "nomination")
LEGACY_PERMITS: dict[str, tuple[str, ...]] = {
    "nomination": ("submit", "amend", "withdraw", "endorse", "receive"),
    "evaluation": ("form_panels", "run_rounds", "score", "decide"),
    "forums": ("publish_results", "invite_to_forums"),
    "commendation": ("publish_results",),
}
VIA_COMMISSION, DIRECT = "via_local_commission", "direct_to_organizer"


def is_first_shape(data: Mapping[str, Any]) -> bool:
    return "schema_version" not in data


def upcast_definition(data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` in the second shape: unchanged if it has a schema_version, else
    upcast from the first (module docstring). Never modifies `data`."""
    out = copy.deepcopy(dict(data))
    if not is_first_shape(data):
        return out
    out["schema_version"] = 2
    _categories(out)
    _routing(out)
    _organizer(out, data.get("routing"))
    _stages(out)
    return out


def _categories(out: dict[str, Any]) -> None:
    groups = out.get("panel_groups")
    default_mix = isinstance(groups, list) and any(
        isinstance(g, Mapping) and g.get("reviewers_per_nomination") for g in groups)
    for category in _mappings(out.get("categories")):
        if "nominee_kind" in category:
            old = category.pop("nominee_kind")
            category["nominee_kinds"] = [canonical_nominee_kind(str(old)) or old]
        if not default_mix and "panel" not in category:
            category["panel"] = {"set_per_round": True}


def _routing(out: dict[str, Any]) -> None:
    routing = out.get("routing")
    if not isinstance(routing, Mapping) or "mode" not in routing:
        return
    receiver_id = routing.get("receiver_id")
    receivers = [{"organization_id": receiver_id, "kind": "center",
                  "name_zh": routing.get("receiver_zh"),
                  "name_en": routing.get("receiver_en")}]
    direct = {"key": "direct", "nominator_kinds": ["hospital"], "receiver": receiver_id}
    if routing.get("mode") == VIA_COMMISSION:
        routes = [{"key": "via_commission", "nominator_kinds": ["hospital"],
                   "provincial_level": False, "endorsed_by": "local_commission",
                   "endorser_kinds": list(routing.get("endorser_kinds") or ()),
                   "receiver": receiver_id},
                  direct | {"provincial_level": True}]
    else:
        routes = [direct]
    out["routing"] = {"receivers": receivers, "routes": routes}
    out.setdefault("nominators", {"kinds": ["hospital"]})


def _organizer(out: dict[str, Any], old_routing: Any) -> None:
    organizer = out.get("organizer")
    if not isinstance(organizer, dict) or organizer.get("organization_ids"):
        return
    if isinstance(old_routing, Mapping) and old_routing.get("receiver_id"):
        organizer["organization_ids"] = [old_routing["receiver_id"]]


def _stages(out: dict[str, Any]) -> None:
    stages = list(_mappings(out.get("stages")))
    for stage in stages:
        stage.setdefault("permits", list(LEGACY_PERMITS.get(str(stage.get("key")), ())))
    keys = {stage.get("key") for stage in stages}
    reference = next((key for key in FIRST_SHAPE_STAGE_ORDER if key in keys), None)
    if reference is not None:
        out.setdefault("lookback_reference", {"stage": reference, "day": "last"})


def _mappings(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if isinstance(item, dict)]
