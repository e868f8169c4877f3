"""Results per category: tiers, shortlists, and versions that stay readable."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from laurel.envelope import NewEvent, RecordedEvent, canonical_json
from laurel.errors import InvalidArgument, NotFound
from laurel.scoring.domain.aggregation import (
    AggregationPolicy,
    Criterion,
    RankedEntry,
    RankingFacts,
    Review,
    Rubric,
    aggregate,
    rank,
)
from laurel.scoring.domain.ranking import (
    RESULT_COMPUTED,
    CategoryResults,
    PrizeTier,
    ResultInputs,
    ResultPolicy,
    ShortlistRule,
    assign_tiers,
    compute_results,
    fold,
    result_payload,
    shortlist,
)

RUBRIC = Rubric((Criterion("overall", Fraction(100)),))
POLICY = AggregationPolicy(RUBRIC)


def recorded(new: NewEvent, version: int) -> RecordedEvent:
    return RecordedEvent(
        position=version, event_id=new.event_id, stream_id="results", version=version,
        type=new.type, schema_version=new.schema_version, payload=new.payload,
        metadata={"actor": {"id": "system", "role": "system", "organization_id": ""}},
        recorded_at=f"2021-12-2{version}T08:00:00.000000Z", prev_hash="0" * 64,
        hash="f" * 64)


def reviews_for(totals: dict[str, int], reviewer: str = "r-1") -> tuple[Review, ...]:
    return tuple(Review(n, reviewer, "hospital_manager", {"overall": t})
                 for n, t in totals.items())


NO_TIERS = ResultPolicy()


def inputs(reviews: tuple[Review, ...], policy: ResultPolicy = NO_TIERS,
           cause: str = "round closed", nominations: tuple[str, ...] = ()
           ) -> ResultInputs:
    return ResultInputs("henan-2021", "warm_service_post", "round-1", reviews, POLICY,
                        policy, nominations=nominations, cause=cause)


def ranked(totals: dict[str, int]) -> tuple[RankedEntry, ...]:
    return rank(aggregate(reviews_for(totals), POLICY).values())


def test_tiers_by_threshold_take_whoever_reaches_each_bar():
    tiers = (PrizeTier("gold", min_score=Fraction(90)),
             PrizeTier("silver", min_score=Fraction(80)))
    won = assign_tiers(ranked({"a": 95, "b": 91, "c": 85, "d": 79}), tiers)
    assert won == {"a": "gold", "b": "gold", "c": "silver"}


def test_a_tier_may_combine_count_and_threshold():
    tiers = (PrizeTier("first", count=1, min_score=Fraction(90)),
             PrizeTier("second", count=2))
    won = assign_tiers(ranked({"a": 85, "b": 84, "c": 83}), tiers)
    assert won == {"a": "second", "b": "second"}  # nobody reached the first bar


def test_shortlists_by_top_n_by_threshold_or_both():
    order = ranked({"a": 95, "b": 91, "c": 85, "d": 79})
    assert shortlist(order, ShortlistRule("round-2", top_n=2)) == ("a", "b")
    assert shortlist(order, ShortlistRule("round-2", min_score=Fraction(85))) == (
        "a", "b", "c")
    assert shortlist(order, ShortlistRule("round-2", top_n=2,
                                          min_score=Fraction(92))) == ("a",)


def test_the_result_names_the_shortlist_and_the_unscored():
    payload = result_payload(inputs(
        reviews_for({"a": 95, "b": 70}),
        ResultPolicy(shortlist=ShortlistRule("round-2", top_n=1)),
        nominations=("a", "b", "c")))
    assert payload["shortlist"] == {"to_round": "round-2", "nomination_ids": ["a"]}
    assert [e["shortlisted"] for e in payload["entries"]] == [True, False]
    assert payload["unscored"] == ["c"]
    assert payload["breakdowns"]["a"]["score"] == "95"


def test_a_late_amendment_records_a_new_version_and_keeps_the_old_one():
    stream: list[RecordedEvent] = []
    first = compute_results(None, inputs(reviews_for({"a": 90, "b": 80})))
    stream.append(recorded(first[0], 1))

    again = compute_results(fold(stream), inputs(reviews_for({"a": 90, "b": 80}),
                                                 cause="redelivered"))
    assert again == []  # same inputs, same outcome: no new version

    amended = compute_results(fold(stream), inputs(
        reviews_for({"a": 70, "b": 80}), cause="review r-1/a amended"))
    assert amended[0].type == RESULT_COMPUTED
    assert amended[0].payload["version"] == 2 and amended[0].payload["supersedes"] == 1
    stream.append(recorded(amended[0], 2))

    state = fold(stream)
    assert isinstance(state, CategoryResults)
    assert [e.nomination_id for e in state.version(1).entries] == ["a", "b"]
    assert [e.nomination_id for e in state.latest.entries] == ["b", "a"]
    assert state.latest.cause == "review r-1/a amended"
    assert state.version(1).breakdown("a")["score"] == "90"
    with pytest.raises(NotFound):
        state.version(3)


def test_a_bad_result_policy_is_refused():
    with pytest.raises(InvalidArgument) as raised:
        compute_results(None, inputs(reviews_for({"a": 1}), ResultPolicy(
            tiers=(PrizeTier("x", count=0), PrizeTier("x")),
            shortlist=ShortlistRule(""))))
    assert [v.field for v in raised.value.violations] == [
        "tiers[0].key", "tiers[0].count", "tiers[1].key", "shortlist.to_round",
        "shortlist"]


def test_a_stored_result_compares_equal_after_its_json_round_trip():
    """The store keeps canonical JSON: tuples or Fractions would mint new versions."""
    reviews = tuple(Review(n, r, g, {"overall": t}) for n, r, g, t in (
        ("a", "r-1", "hospital_manager", "90.5"), ("a", "r-2", "media", 70),
        ("b", "r-1", "hospital_manager", 80), ("b", "r-2", "media", "85.25")))
    policy = ResultPolicy(tiers=(PrizeTier("first", 1, Fraction(80)),),
                          shortlist=ShortlistRule("round-2", top_n=1))
    [event] = compute_results(None, inputs(reviews, policy))
    stored = json.loads(canonical_json(event.payload))
    assert stored == event.payload
    state = fold([recorded(NewEvent(event.type, stored), 1)])
    assert compute_results(state, inputs(reviews, policy)) == []


def test_an_explanation_names_both_values_when_a_key_before_score_decides():
    reviews = reviews_for({"a": 90, "b": 80}, "r-1") + reviews_for({"b": 70}, "r-2")
    breakdowns = aggregate(reviews, POLICY).values()
    facts = RankingFacts(first_place_votes={"b": 2})
    second = rank(breakdowns, ("first_place_votes", "score"), facts)[1]
    assert second.nomination_id == "a"
    assert second.explanation == ("score 90 vs 75 of b; placed below it by "
                                  "first_place_votes (0 vs 2)")
