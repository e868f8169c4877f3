"""Assigning reviewers: conflicts, mix, load, determinism, recusal; blind review."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laurel.envelope import NewEvent, RecordedEvent, canonical_json
from laurel.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from laurel.review.domain import assignment as asg
from laurel.review.domain import rounds
from laurel.review.domain.events import REVIEWER_ASSIGNED, REVIEWER_RECUSED

DEADLINE = datetime(2021, 12, 31, 16, 0, tzinfo=UTC)
BEFORE = DEADLINE - timedelta(days=10)


def stored(new: NewEvent) -> dict:
    """The payload as the store gives it back: canonical JSON, read again."""
    payload = json.loads(canonical_json(new.payload))
    assert payload == new.payload
    return payload


class Stream:
    """Decided events appended as a store would record them."""

    def __init__(self) -> None:
        self.events: list[RecordedEvent] = []

    def add(self, decided: list[NewEvent], at: str = "2021-12-10T08:00:00.000000Z"
            ) -> list[NewEvent]:
        for new in decided:
            n = len(self.events) + 1
            self.events.append(RecordedEvent(
                position=n, event_id=new.event_id, stream_id="s", version=n,
                type=new.type, schema_version=1, payload=stored(new),
                metadata={"actor": {"id": "organizer", "role": "organizer",
                                    "organization_id": "center"}},
                recorded_at=at, prev_hash="0" * 64, hash="f" * 64))
        return decided

    def assignments(self) -> asg.AssignmentState:
        return asg.fold(self.events)

    def round(self) -> rounds.ReviewRound | None:
        return rounds.fold(self.events)


REVIEWERS = [
    asg.Reviewer("hm-1", "Li", "h-1", "zz", "hospital_manager"),
    asg.Reviewer("hm-2", "Wang", "h-5", "ly", "hospital_manager"),
    asg.Reviewer("hm-3", "Zhang", "h-6", "ny", "hospital_manager"),
    asg.Reviewer("ie-1", "Liu", "univ-1", "", "industry_expert"),
    asg.Reviewer("ie-2", "Chen", "univ-2", "xx", "industry_expert"),
    asg.Reviewer("ie-3", "Yang", "univ-3", "zz", "industry_expert"),
    asg.Reviewer("md-1", "Zhao", "paper-1", "", "media", frozenset({"h-1"})),
    asg.Reviewer("md-2", "Huang", "paper-2", "", "media"),
]
NOMINEE = asg.Nominee("n-1", "h-1", "zz")


def board(reviewers=REVIEWERS, members=None, mix=None) -> Stream:
    stream = Stream()
    state = asg.AssignmentState()
    for reviewer in reviewers:
        stream.add(asg.register_reviewer(state, reviewer))
    stream.add(asg.form_panel(stream.assignments(), asg.PanelSpec(
        "panel-1", "henan-2021", "warm_service_post", "round-1",
        mix or asg.HENAN_MIX,
        tuple(members or [r.reviewer_id for r in reviewers]), seed="henan-2021")))
    return stream


def chosen(events: list[NewEvent], nomination_id: str) -> set[str]:
    return {e.payload["reviewer_id"] for e in events
            if e.type == REVIEWER_ASSIGNED
            and e.payload["nomination_id"] == nomination_id}


# -- conflicts and mix ----------------------------------------------------------


def test_conflicting_reviewers_are_excluded_and_the_mix_is_filled():
    stream = board()
    events = asg.assign_reviewers(stream.assignments(), "panel-1", [NOMINEE])
    assert chosen(events, "n-1") == {"hm-2", "hm-3", "ie-1", "ie-2", "md-2"}
    groups = Counter(e.payload["group"] for e in events)
    assert groups == Counter(asg.HENAN_MIX)


def test_each_kind_of_conflict_is_named():
    assert asg.conflict(REVIEWERS[0], NOMINEE) == "same hospital as the nominee (h-1)"
    assert "jurisdiction" in asg.conflict(REVIEWERS[5], NOMINEE)
    assert asg.conflict(REVIEWERS[6], NOMINEE) == "declared a conflict with h-1"
    leader = asg.Nominee("n-4", "h-9", "kf", related_ids=("manager-3",))
    declared = asg.Reviewer("x", "X", "o", "", "media", frozenset({"manager-3"}))
    assert asg.conflict(declared, leader) == "declared a conflict with manager-3"


def test_a_conflict_declared_later_is_respected():
    stream = board()
    stream.add(asg.declare_conflict(stream.assignments(), "md-2", "n-1",
                                    "former employee of the nominee"))
    with pytest.raises(FailedPrecondition) as raised:
        asg.assign_reviewers(stream.assignments(), "panel-1", [NOMINEE])
    assert raised.value.rule == asg.RULE_PANEL_MIX
    assert "n-1 needs 1 media, 0 may score it" in raised.value.message


def test_an_unmeetable_mix_assigns_nobody_and_names_every_shortfall():
    stream = board()
    with pytest.raises(FailedPrecondition) as raised:
        asg.assign_reviewers(stream.assignments(), "panel-1", [
            NOMINEE, asg.Nominee("n-2", "h-5", "zz"), asg.Nominee("n-3", "h-6", "ly")])
    assert raised.value.rule == asg.RULE_PANEL_MIX
    message = raised.value.message
    assert "n-2 needs 2 hospital_manager, 1 may score it" in message
    assert "n-3 needs 2 hospital_manager, 1 may score it" in message


def test_a_panel_smaller_than_its_mix_is_refused():
    with pytest.raises(FailedPrecondition) as raised:
        board(members=["hm-1", "hm-2", "ie-1", "ie-2"])
    assert raised.value.rule == asg.RULE_PANEL_MIX
    assert "media: 0 of 1" in raised.value.message


def test_a_panel_of_unknown_or_misfit_members_is_refused():
    stream = board()
    with pytest.raises(InvalidArgument) as raised:
        asg.form_panel(stream.assignments(), asg.PanelSpec(
            "panel-2", "innovation-year", "management", "r-1", {"management": 1},
            ("hm-1", "ghost")))
    assert [v.field for v in raised.value.violations] == [
        "members[ghost]", "members[hm-1]"]


def test_the_explanation_covers_every_panel_member():
    stream = board()
    stream.add(asg.assign_reviewers(stream.assignments(), "panel-1", [NOMINEE]))
    lines = {e.reviewer_id: e for e in asg.explain_assignment(
        stream.assignments(), "panel-1", NOMINEE)}
    assert lines["hm-1"].status == "conflict"
    assert lines["ie-3"].status == "conflict"
    assert lines["md-1"].reason == "declared a conflict with h-1"
    assert lines["hm-2"].status == "assigned"
    assert "hospital_manager needs 2" in lines["hm-2"].reason


# -- load and determinism ------------------------------------------------------------

BIG = [asg.Reviewer(f"{g[:2]}-{i}", f"{g} {i}", f"org-{g}-{i}", f"j-{g}-{i}", g)
       for g, n in (("hospital_manager", 5), ("industry_expert", 4), ("media", 3))
       for i in range(n)]


def group_loads(state: asg.AssignmentState) -> dict[str, list[int]]:
    loads = state.panel("panel-1").loads()
    by_group: dict[str, list[int]] = {}
    for rid, load in loads.items():
        by_group.setdefault(state.reviewers[rid].group, []).append(load)
    return by_group


def test_loads_stay_within_one_per_group():
    stream = board(BIG)
    nominees = [asg.Nominee(f"n-{i:02d}", f"h-{i}", f"j-{i}") for i in range(11)]
    stream.add(asg.assign_reviewers(stream.assignments(), "panel-1", nominees))
    for loads in group_loads(stream.assignments()).values():
        assert max(loads) - min(loads) <= 1


def test_assigning_again_changes_nothing():
    stream = board(BIG)
    nominees = [asg.Nominee(f"n-{i}", f"h-{i}", f"j-{i}") for i in range(3)]
    stream.add(asg.assign_reviewers(stream.assignments(), "panel-1", nominees))
    assert asg.assign_reviewers(stream.assignments(), "panel-1", nominees) == []


nominee_sets = st.lists(
    st.builds(asg.Nominee, st.sampled_from([f"n-{i}" for i in range(12)]),
              st.sampled_from(["h-1", "h-2", "org-hospital_manager-0"]),
              st.sampled_from(["zz", "j-media-1", "j-industry_expert-2"])),
    min_size=1, max_size=12, unique_by=lambda n: n.nomination_id)


def facts(events: list[NewEvent]) -> list[tuple[str, dict]]:
    return [(e.type, e.payload) for e in events]


@settings(max_examples=100, deadline=None)
@given(nominee_sets, st.randoms(use_true_random=False))
def test_same_inputs_give_the_same_assignment_in_any_order(nominees, rnd):
    state = board(BIG).assignments()
    shuffled = list(nominees)
    rnd.shuffle(shuffled)
    try:
        first = asg.assign_reviewers(state, "panel-1", nominees)
    except FailedPrecondition as refused:
        with pytest.raises(FailedPrecondition) as again:
            asg.assign_reviewers(state, "panel-1", shuffled)
        assert again.value.message == refused.value.message
        return
    assert facts(asg.assign_reviewers(state, "panel-1", shuffled)) == facts(first)
    by_id = {n.nomination_id: n for n in nominees}
    for event in first:
        reviewer = state.reviewers[event.payload["reviewer_id"]]
        assert asg.conflict(reviewer, by_id[event.payload["nomination_id"]]) == ""
    for nominee in nominees:
        assert len(chosen(first, nominee.nomination_id)) == 5


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 20))
def test_loads_are_balanced_whenever_nobody_conflicts(count):
    stream = board(BIG)
    nominees = [asg.Nominee(f"n-{i:02d}", f"h-{i}", f"j-{i}") for i in range(count)]
    stream.add(asg.assign_reviewers(stream.assignments(), "panel-1", nominees))
    for loads in group_loads(stream.assignments()).values():
        assert max(loads) - min(loads) <= 1


def test_a_different_seed_may_choose_differently_but_deterministically():
    seeds = set()
    for seed in ("a", "b", "c", "d"):
        stream = Stream()
        for reviewer in BIG:
            stream.add(asg.register_reviewer(stream.assignments(), reviewer))
        stream.add(asg.form_panel(stream.assignments(), asg.PanelSpec(
            "panel-1", "c", "k", "r", {"media": 1}, ("me-0", "me-1", "me-2"), seed)))
        nominee = [asg.Nominee("n-1", "h-1", "zz")]
        once = asg.assign_reviewers(stream.assignments(), "panel-1", nominee)
        twice = asg.assign_reviewers(stream.assignments(), "panel-1", nominee)
        assert facts(once) == facts(twice)
        seeds.add(once[0].payload["reviewer_id"])
    assert len(seeds) > 1


# -- recusal -------------------------------------------------------------------------


def test_recusal_brings_in_a_replacement_from_the_same_group():
    extra = asg.Reviewer("hm-4", "Sun", "h-8", "pds", "hospital_manager")
    stream = board([*REVIEWERS, extra])
    stream.add(asg.assign_reviewers(stream.assignments(), "panel-1", [NOMINEE]))
    taken = chosen([e for e in map(_as_new, stream.events)], "n-1")
    hm_taken = sorted(r for r in taken if r.startswith("hm"))
    leaving = hm_taken[0]

    recused, replacement = stream.add(asg.recuse(
        stream.assignments(), "panel-1", NOMINEE, leaving, "consulted for the nominee"))
    assert recused.type == REVIEWER_RECUSED
    assert replacement.payload["group"] == "hospital_manager"
    assert replacement.payload["replaces"] == leaving
    assert replacement.payload["reviewer_id"] not in {leaving, "hm-1"}

    panel = stream.assignments().panel("panel-1")
    assert leaving not in {a.reviewer_id for a in panel.assigned("n-1")}
    assert Counter(a.group for a in panel.assigned("n-1")) == Counter(asg.HENAN_MIX)
    explained = {e.reviewer_id: e for e in asg.explain_assignment(
        stream.assignments(), "panel-1", NOMINEE)}
    assert explained[leaving].reason == "recused: consulted for the nominee"


def test_recusal_without_a_free_replacement_asks_for_a_wider_panel():
    stream = board()
    stream.add(asg.assign_reviewers(stream.assignments(), "panel-1", [NOMINEE]))
    with pytest.raises(FailedPrecondition) as raised:
        asg.recuse(stream.assignments(), "panel-1", NOMINEE, "md-2", "relative")
    assert raised.value.rule == asg.RULE_PANEL_MIX
    stream.add(asg.register_reviewer(stream.assignments(), asg.Reviewer(
        "md-3", "Zhou", "paper-3", "", "media")))
    stream.add(asg.add_panel_members(stream.assignments(), "panel-1", ["md-3"]))
    _, replacement = asg.recuse(stream.assignments(), "panel-1", NOMINEE, "md-2",
                                "relative")
    assert replacement.payload["reviewer_id"] == "md-3"


def test_recusal_needs_a_reason_and_an_assignment():
    stream = board()
    stream.add(asg.assign_reviewers(stream.assignments(), "panel-1", [NOMINEE]))
    with pytest.raises(InvalidArgument):
        asg.recuse(stream.assignments(), "panel-1", NOMINEE, "md-2", " ")
    with pytest.raises(FailedPrecondition) as raised:
        asg.recuse(stream.assignments(), "panel-1", NOMINEE, "hm-1", "why not")
    assert raised.value.rule == asg.RULE_NOT_ASSIGNED


def _as_new(event: RecordedEvent) -> NewEvent:
    return NewEvent(event.type, event.payload, event.schema_version, event.event_id)


# -- blind review and refusals (the round that uses the panel) ------------------------

CRITERIA = {"effect": 60, "innovation": 40}


def open_round_with_panel() -> Stream:
    stream = board()
    stream.add(rounds.open_round(None, rounds.RoundSpec(
        "round-1", "henan-2021", "warm_service_post", 1, DEADLINE, CRITERIA,
        ("n-1", "n-2"))))
    stream.add(asg.assign_reviewers(stream.assignments(), "panel-1", [
        NOMINEE, asg.Nominee("n-2", "h-9", "kf")]))
    return stream


def score(stream: Stream, reviewer: str, nomination: str = "n-1",
          scores: dict | None = None, now: datetime = BEFORE) -> list[NewEvent]:
    return stream.add(rounds.record_score(
        stream.round(), nomination, reviewer, scores or {"effect": 50,
                                                          "innovation": "30.5"},
        "", now))


def others(stream: Stream, reviewer: str) -> set[str]:
    state = stream.round()
    return {f.reviewer_id for f in rounds.visible_reviews(state, reviewer)
            if f.reviewer_id != reviewer}


def test_blind_review_hides_others_until_own_form_and_closure():
    stream = open_round_with_panel()
    score(stream, "hm-2")
    score(stream, "ie-1")
    assert others(stream, "hm-2") == set()        # submitted, round still open
    assert others(stream, "hm-3") == set()        # nothing of their own yet
    own = rounds.visible_reviews(stream.round(), "hm-2")
    assert [(f.reviewer_id, f.nomination_id) for f in own] == [("hm-2", "n-1")]

    stream.add(rounds.close_round(stream.round(), DEADLINE))
    assert others(stream, "hm-2") == {"ie-1"}     # submitted AND closed
    assert others(stream, "hm-3") == set()        # closed, but never submitted
    assert not rounds.may_see_others(stream.round(), "hm-3", "n-1")
    assert rounds.may_see_others(stream.round(), "ie-1", "n-1")


def test_scoring_an_unassigned_nomination_is_denied():
    stream = open_round_with_panel()
    with pytest.raises(PermissionDenied):
        score(stream, "hm-1")  # same hospital: never assigned to n-1


def test_scoring_after_the_round_closed_is_refused():
    stream = open_round_with_panel()
    stream.add(rounds.close_round(stream.round(), BEFORE))
    with pytest.raises(FailedPrecondition) as raised:
        score(stream, "hm-2")
    assert raised.value.rule == rounds.RULE_ROUND_CLOSED


def test_scoring_after_the_deadline_is_refused_even_before_closing():
    stream = open_round_with_panel()
    with pytest.raises(FailedPrecondition) as raised:
        score(stream, "hm-2", now=DEADLINE)
    assert raised.value.rule == rounds.RULE_ROUND_CLOSED


def test_out_of_range_and_unknown_scores_are_invalid_arguments():
    stream = open_round_with_panel()
    with pytest.raises(InvalidArgument) as raised:
        score(stream, "hm-2", scores={"effect": 61, "innovation": -1, "charm": 5})
    assert [(v.field, v.description) for v in raised.value.violations] == [
        ("scores[charm]", "not a criterion of this round"),
        ("scores[effect]", "must be within 0..60, not 61"),
        ("scores[innovation]", "must be within 0..40, not -1"),
    ]
    with pytest.raises(InvalidArgument) as raised:
        score(stream, "hm-2", scores={"effect": "lots"})
    assert [v.field for v in raised.value.violations] == [
        "scores[innovation]", "scores[effect]"]


def test_a_recused_reviewer_can_no_longer_score_and_their_form_stops_counting():
    extra = asg.Reviewer("hm-4", "Sun", "h-8", "pds", "hospital_manager")
    stream = board([*REVIEWERS, extra])
    stream.add(rounds.open_round(None, rounds.RoundSpec(
        "round-1", "henan-2021", "warm_service_post", 1, DEADLINE, CRITERIA,
        ("n-1",))))
    stream.add(asg.assign_reviewers(stream.assignments(), "panel-1", [NOMINEE]))
    hm = sorted(r for r in stream.round().assigned["n-1"] if r.startswith("hm"))[0]
    score(stream, hm)
    stream.add(asg.recuse(stream.assignments(), "panel-1", NOMINEE, hm, "conflict"))
    assert hm not in {f.reviewer_id for f in stream.round().current_forms()}
    with pytest.raises(PermissionDenied):
        score(stream, hm)


@pytest.mark.parametrize("conflicted", ["n-1", "n-2", "n-3"])
@pytest.mark.parametrize("seed", ["henan-2021", "a", "b", "seed-1"])
def test_a_conflicted_nominee_takes_its_scarce_reviewers_first(conflicted, seed):
    """Slack is judged per group: the one media place every nominee needs must
    not hide that the nominee conflicting with ie-1 needs ie-2 and ie-3."""
    stream = Stream()
    for reviewer in REVIEWERS:
        if reviewer.reviewer_id != "md-2":
            stream.add(asg.register_reviewer(stream.assignments(), reviewer))
    stream.add(asg.form_panel(stream.assignments(), asg.PanelSpec(
        "panel-1", "henan-2021", "warm_service_post", "round-1", asg.HENAN_MIX,
        tuple(stream.assignments().reviewers), seed=seed)))
    nominees = [asg.Nominee(nid, "univ-1" if nid == conflicted else f"h-{nid}",
                            f"j-{nid}") for nid in ("n-1", "n-2", "n-3")]
    stream.add(asg.assign_reviewers(stream.assignments(), "panel-1", nominees))
    assert chosen(stream.events, conflicted) >= {"ie-2", "ie-3"}  # ie-1: univ-1
    assert sorted(group_loads(stream.assignments())["industry_expert"]) == [2, 2, 2]


def test_only_plain_decimal_scores_are_numbers():
    # Decimal() takes all of these; '1e999999999' has a billion digits written
    # out, and formatting it for the refusal used to pin a thread.
    stream = open_round_with_panel()
    for text in ("1e999999999", "1E+1", "1_0", "٨٥", "NaN", "0x10", "5\x00"):
        with pytest.raises(InvalidArgument) as raised:
            score(stream, "hm-2", scores={"effect": text, "innovation": "10"})
        assert [(v.field, v.description) for v in raised.value.violations] == [
            ("scores[effect]", "not a number")], text
