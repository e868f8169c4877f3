"""Aggregation of expert scores: exact, explained, order-independent."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laurel.errors import InvalidArgument
from laurel.scoring.domain.aggregation import (
    HENAN_GROUPS,
    NORMALIZE_ZSCORE,
    WEIGHT_PER_REVIEWER,
    AggregationPolicy,
    Criterion,
    RankingFacts,
    Review,
    Rubric,
    aggregate,
    display,
    first_place_votes,
    rank,
)
from laurel.scoring.domain.ranking import (
    FIRST_PRIZE,
    SECOND_PRIZE,
    THIRD_PRIZE,
    ResultInputs,
    ResultPolicy,
    prizes_by_count,
    result_payload,
)

HENAN_RUBRIC = Rubric((Criterion("effect", Fraction(60)),
                       Criterion("innovation", Fraction(40))))
HENAN_WEIGHTS = {"hospital_manager": Fraction(2, 5), "industry_expert": Fraction(2, 5),
                 "media": Fraction(1, 5)}
HENAN = AggregationPolicy(HENAN_RUBRIC, HENAN_WEIGHTS)

# innovation-year: novelty, difficulty, benefit (新颖性、难易程度、效益)
INNOVATION_RUBRIC = Rubric((Criterion("novelty", Fraction(100), Fraction(2, 5)),
                            Criterion("difficulty", Fraction(100), Fraction(3, 10)),
                            Criterion("benefit", Fraction(100), Fraction(3, 10))))
INNOVATION = AggregationPolicy(INNOVATION_RUBRIC)


def henan(nomination: str, reviewer: str, group: str, effect: int, innovation: int,
          submitted_at: str = "") -> Review:
    return Review(nomination, reviewer, group,
                  {"effect": effect, "innovation": innovation}, submitted_at)


def innovation(nomination: str, reviewer: str, n: int, d: int, b: int) -> Review:
    return Review(nomination, reviewer, "management",
                  {"novelty": n, "difficulty": d, "benefit": b})


FIVE = [
    henan("n-1", "hm-1", "hospital_manager", 50, 30),  # 80
    henan("n-1", "hm-2", "hospital_manager", 55, 35),  # 90, highest
    henan("n-1", "ie-1", "industry_expert", 45, 25),   # 70
    henan("n-1", "ie-2", "industry_expert", 52, 33),   # 85
    henan("n-1", "md-1", "media", 40, 20),             # 60, lowest
]


# -- hand-computed examples -----------------------------------------------------


def test_five_reviews_drop_one_highest_and_one_lowest_then_weigh_group_shares():
    b = aggregate(FIVE, HENAN)["n-1"]

    assert [(d.reviewer_id, d.value) for d in b.dropped] == [("hm-2", 90), ("md-1", 60)]
    # hospital managers: 80 (weight 2/5); industry experts: (70 + 85) / 2 = 77.5
    # (weight 2/5); media was emptied by trimming, so the shares renormalize:
    # (2/5 x 80 + 2/5 x 77.5) / (4/5) = 78.75
    assert b.score == Fraction("78.75")
    assert display(b.score) == "78.75"
    assert {line.reviewer_id: line.weight for line in b.inputs} == {
        "hm-1": Fraction(2, 5), "hm-2": 0, "ie-1": Fraction(1, 5),
        "ie-2": Fraction(1, 5), "md-1": 0}
    assert b.steps[-1] == "score = (0.4x80 + 0.2x70 + 0.2x85) / 0.8 = 78.75 " \
                          "(shown as 78.75)"


def test_per_reviewer_weighting_is_the_plain_weighted_mean_of_kept_reviews():
    policy = AggregationPolicy(HENAN_RUBRIC, HENAN_WEIGHTS,
                               group_weighting=WEIGHT_PER_REVIEWER)
    b = aggregate(FIVE, policy)["n-1"]
    assert b.score == Fraction(80 + 70 + 85, 3)
    assert display(b.score) == "78.33"


def test_four_reviews_are_not_trimmed_and_every_group_keeps_its_share():
    b = aggregate(FIVE[:3] + FIVE[4:], HENAN)["n-1"]
    assert b.dropped == ()
    # (2/5 x (80 + 90) / 2 + 2/5 x 70 + 1/5 x 60) / 1 = 34 + 28 + 12
    assert b.score == 74


def test_criterion_weights_make_the_weighted_total():
    b = aggregate([innovation("p-1", "r-1", 90, 80, 70)], INNOVATION)["p-1"]
    assert b.inputs[0].weighted_total == Fraction("0.4") * 90 + Fraction("0.3") * 150
    assert b.score == 81
    assert b.steps[0] == ("r-1 (management): weighted total = 0.4x90[novelty] + "
                          "0.3x80[difficulty] + 0.3x70[benefit] = 81")


def test_rubric_criteria_may_differ_per_group():
    nursing = (Criterion("care", Fraction(10)),)
    rubric = Rubric(INNOVATION_RUBRIC.criteria, by_group={"nursing": nursing})
    reviews = [Review("p-1", "r-1", "nursing", {"care": "7.5"}),
               innovation("p-1", "r-2", 90, 80, 70)]
    b = aggregate(reviews, AggregationPolicy(rubric))["p-1"]
    assert [line.weighted_total for line in b.inputs] == [Fraction(15, 2), 81]


def test_zscore_normalizes_each_reviewer_over_their_own_reviews():
    reviews = [henan(n, "hm-1", "hospital_manager", e, 20)
               for n, e in (("a", 50), ("b", 60), ("c", 40))]
    policy = AggregationPolicy(HENAN_RUBRIC, normalization=NORMALIZE_ZSCORE)
    out = aggregate(reviews, policy)
    # totals 70, 80, 60: mean 70, sigma = sqrt(200/3) = 8.164965...
    assert out["a"].score == 0
    assert display(out["b"].score, 4) == "1.2247"
    assert out["c"].score == -out["b"].score
    assert out["b"].steps[1] == "hm-1: z = (80 - 70) / ~8.164966 = ~1.224745"


def test_a_reviewer_without_variance_is_neutral_under_zscore():
    reviews = [henan("a", "hm-1", "hospital_manager", 50, 30),
               henan("b", "hm-1", "hospital_manager", 50, 30),
               henan("a", "hm-2", "hospital_manager", 50, 30)]
    policy = AggregationPolicy(HENAN_RUBRIC, normalization=NORMALIZE_ZSCORE)
    out = aggregate(reviews, policy)
    assert all(line.normalized == 0 for b in out.values() for line in b.inputs)
    assert "sigma = 0" in out["a"].steps[1] and "neutral" in out["a"].steps[1]


def test_bad_reviews_are_refused_with_every_problem_named():
    bad = [Review("n-1", "hm-1", "hospital_manager", {"effect": 61, "extra": 1}),
           Review("n-1", "hm-1", "hospital_manager", {"effect": 1, "innovation": 1}),
           Review("n-1", "x-1", "astrologer", {"effect": 1, "innovation": 1})]
    with pytest.raises(InvalidArgument) as raised:
        aggregate(bad, HENAN)
    assert [v.field for v in raised.value.violations] == [
        "reviews[n-1/hm-1].scores[extra]", "reviews[n-1/hm-1].scores[innovation]",
        "reviews[n-1/hm-1].scores[effect]", "reviews[n-1/hm-1]",
        "reviews[n-1/x-1].group"]


def test_display_rounds_half_away_from_zero_only_for_people():
    assert display(Fraction("2.345")) == "2.35"
    assert display(Fraction("-2.345")) == "-2.35"
    assert display(Fraction(1, 3)) == "0.33"
    assert display(Fraction("-0.001")) == "0.00"


# -- ranking and ties --------------------------------------------------------------


def test_a_tie_on_score_is_resolved_by_the_configured_chain():
    # a and b both score 80; c scores 70.
    reviews = [
        henan("a", "hm-1", "hospital_manager", 50, 30),
        henan("b", "hm-1", "hospital_manager", 50, 30),
        henan("c", "hm-1", "hospital_manager", 40, 30),
        henan("a", "hm-2", "hospital_manager", 40, 40),
        henan("b", "hm-2", "hospital_manager", 60, 20),
        henan("c", "hm-2", "hospital_manager", 40, 30),
    ]
    breakdowns = aggregate(reviews, AggregationPolicy(HENAN_RUBRIC)).values()
    votes = first_place_votes(reviews, HENAN_RUBRIC)
    assert votes == {"a": 2, "b": 2}  # both reviewers tie a and b at the top
    facts = RankingFacts(votes, {"a": "2021-12-02T00:00:00.000000Z",
                                 "b": "2021-12-01T00:00:00.000000Z"})

    by_time = rank(breakdowns, ("score", "first_place_votes", "submitted_at"), facts)
    assert [e.nomination_id for e in by_time] == ["b", "a", "c"]
    assert by_time[1].decided_by == "submitted_at"
    assert "2021-12-02" in by_time[1].explanation
    assert by_time[2].decided_by == "score"

    # mean effect: a 45, b 55 -- a campaign preferring the effect criterion:
    by_effect = rank(breakdowns, ("score", "criterion:effect"), facts)
    assert [e.nomination_id for e in by_effect] == ["b", "a", "c"]
    # maximum innovation: a 40, b 30 -- another chain puts a first:
    by_innovation = rank(breakdowns, ("score", "criterion_max:innovation"), facts)
    assert [e.nomination_id for e in by_innovation] == ["a", "b", "c"]
    assert by_innovation[1].explanation.endswith("(30 vs 40)")

    assert [e.nomination_id for e in rank(breakdowns, ("score",))] == ["a", "b", "c"]


def test_unknown_tie_break_keys_are_refused():
    with pytest.raises(InvalidArgument):
        rank([], ("score", "charm"))


def test_innovation_year_prizes_are_assigned_by_count_per_award():
    # One award (management innovation): 1 first, 2 second, 3 third prizes.
    totals = {"p-1": 95, "p-2": 90, "p-3": 88, "p-4": 80, "p-5": 75, "p-6": 70,
              "p-7": 60}
    reviews = tuple(innovation(p, "r-1", t, t, t) for p, t in totals.items())
    payload = result_payload(ResultInputs(
        "innovation-year", "management_innovation", "round-1", reviews, INNOVATION,
        ResultPolicy(tiers=prizes_by_count(1, 2, 3))))
    tiers = {e["nomination_id"]: e["tier"] for e in payload["entries"]}
    assert tiers == {"p-1": FIRST_PRIZE, "p-2": SECOND_PRIZE, "p-3": SECOND_PRIZE,
                     "p-4": THIRD_PRIZE, "p-5": THIRD_PRIZE, "p-6": THIRD_PRIZE,
                     "p-7": ""}


def test_each_award_ranks_and_prizes_on_its_own():
    awards = {"management": ("m-1", "m-2", "m-3"), "technical": ("t-1", "t-2")}
    for award, projects in awards.items():
        reviews = tuple(innovation(p, "r-1", 90 - i, 90 - i, 90 - i)
                        for i, p in enumerate(projects))
        payload = result_payload(ResultInputs(
            "innovation-year", award, "round-1", reviews, INNOVATION,
            ResultPolicy(tiers=prizes_by_count(1, 1, 1))))
        assert [e["tier"] for e in payload["entries"]] == [
            FIRST_PRIZE, SECOND_PRIZE, THIRD_PRIZE][:len(projects)]


# -- properties ---------------------------------------------------------------------

REVIEWERS = [f"r-{i}" for i in range(8)]
GROUP_OF = {rid: HENAN_GROUPS[i % 3] for i, rid in enumerate(REVIEWERS)}


@st.composite
def review_sets(draw, min_per_nomination: int = 1) -> list[Review]:
    nominations = draw(st.integers(1, 4))
    reviews = []
    for n in range(nominations):
        chosen = draw(st.lists(st.sampled_from(REVIEWERS), unique=True,
                               min_size=min_per_nomination, max_size=len(REVIEWERS)))
        for rid in chosen:
            effect = draw(st.integers(0, 60))
            extra = draw(st.sampled_from(["", ".5", ".25"])) if effect < 60 else ""
            reviews.append(Review(f"n-{n}", rid, GROUP_OF[rid], {
                "effect": f"{effect}{extra}", "innovation": draw(st.integers(0, 40))}))
    return reviews


policies = st.builds(
    AggregationPolicy, st.just(HENAN_RUBRIC),
    group_weights=st.sampled_from([{}, HENAN_WEIGHTS]),
    trim_at=st.sampled_from([0, 3, 5]),
    normalization=st.sampled_from(["none", NORMALIZE_ZSCORE]),
    group_weighting=st.sampled_from(["share", WEIGHT_PER_REVIEWER]))


@settings(max_examples=150, deadline=None)
@given(review_sets(), policies, st.randoms(use_true_random=False))
def test_permuting_reviews_changes_nothing(reviews, policy, rnd):
    shuffled = list(reviews)
    rnd.shuffle(shuffled)
    assert aggregate(shuffled, policy) == aggregate(reviews, policy)
    assert rank(aggregate(shuffled, policy).values()) == rank(
        aggregate(reviews, policy).values())


@settings(max_examples=150, deadline=None)
@given(review_sets(), policies)
def test_trimming_drops_exactly_one_highest_and_one_lowest(reviews, policy):
    for b in aggregate(reviews, policy).values():
        values = [line.value for line in b.inputs]
        if policy.trim_at and len(values) >= policy.trim_at:
            high, low = b.dropped
            assert high.value == max(values) and low.value == min(values)
            assert high.reviewer_id != low.reviewer_id
            assert sum(1 for line in b.inputs if not line.kept) == 2
        else:
            assert b.dropped == () and all(line.kept for line in b.inputs)


@settings(max_examples=150, deadline=None)
@given(review_sets(), policies)
def test_the_score_lies_between_the_kept_values(reviews, policy):
    for b in aggregate(reviews, policy).values():
        kept = [line.value for line in b.inputs if line.kept]
        assert min(kept) <= b.score <= max(kept)


@settings(max_examples=150, deadline=None)
@given(review_sets())
def test_normalized_scores_of_one_reviewer_have_mean_zero(reviews):
    policy = AggregationPolicy(HENAN_RUBRIC, normalization=NORMALIZE_ZSCORE)
    per_reviewer: dict[str, list[Fraction]] = {}
    for b in aggregate(reviews, policy).values():
        for line in b.inputs:
            per_reviewer.setdefault(line.reviewer_id, []).append(line.normalized)
    for values in per_reviewer.values():
        assert sum(values) / len(values) == 0  # exactly, not approximately
