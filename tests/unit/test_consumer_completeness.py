"""Every consumer says, for every type of every upstream it subscribes to,
whether it handles it or ignores it and why; the declarations name only
types the upstreams append, and cover every topic the consumer reads."""

from __future__ import annotations

import copy
import importlib
from types import SimpleNamespace
from typing import Any

import pytest

from laurel.config import load_settings
from laurel.contracts import (
    CONSUMERS,
    Handled,
    Ignored,
    completeness_problems,
    consumer_declarations,
)

DECLARED = consumer_declarations()


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_a_consumer_handles_or_ignores_every_type_of_its_upstreams(consumer: str) -> None:
    assert completeness_problems(consumer, DECLARED[consumer]) == []
    for declared in DECLARED[consumer].values():
        for decision in declared.values():
            assert isinstance(decision, Handled | Ignored)


def test_a_type_removed_from_a_declaration_or_one_invented_is_reported() -> None:
    scoring = copy.deepcopy({u: dict(d) for u, d in DECLARED["scoring"].items()})
    del scoring["intake"]["NominationRejected"]
    scoring["review"]["ReviewTeleported"] = Ignored("no such thing")
    assert completeness_problems("scoring", scoring) == [
        "scoring neither handles nor ignores intake's NominationRejected",
        "scoring declares ReviewTeleported, which review does not append",
    ]


def test_an_ignored_type_says_why() -> None:
    with pytest.raises(ValueError, match="says why"):
        Ignored("  ")


def _upstreams_read(consumer: str) -> set[str]:
    """The upstreams the consumer's real subscription code reads (Kafka and catch-up)."""
    settings = load_settings(consumer, {"LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9",
                                        "LAUREL_ENV": "development"})
    adapters = importlib.import_module(f"laurel.{consumer}.adapters.kafka")
    found = adapters.upstreams(settings.topics, _Anything())
    assert all(u.topic == getattr(settings.topics, u.name) for u in found)
    return {u.name for u in found}


class _Anything(SimpleNamespace):
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_a_consumer_declares_exactly_the_upstreams_whose_topics_it_reads(
        consumer: str) -> None:
    assert _upstreams_read(consumer) == set(DECLARED[consumer])


def test_what_a_consumer_handles_is_what_its_reactions_react_to() -> None:
    from laurel.campaigns import clock
    from laurel.notification import reactions as notification
    from laurel.review import reactions as review
    from laurel.scoring import reactions as scoring
    from laurel.scoring.domain import events, facts, round_inputs

    def handled(consumer: str, upstream: str) -> set[str]:
        return {t for t, d in DECLARED[consumer][upstream].items() if isinstance(d, Handled)}

    assert handled("scoring", "intake") == {*events.CAMPAIGN_TYPES, *facts.TRACKED_TYPES,
                                            clock.CLOCK_SET}
    assert handled("scoring", "review") == set(round_inputs.USED_TYPES)
    assert handled("review", "intake") == set(review.FROM_INTAKE)
    assert handled("review", "scoring") == set(review.FROM_SCORING)
    assert set().union(*(handled("notification", u) for u in DECLARED["notification"])) \
        == set(notification.TYPES)
    assert scoring.DECLARATIONS is DECLARED["scoring"]
