"""Each consumer's upstreams, as it subscribes and catches up, are the ones
the audit's completeness check goes by (laurel.catchup.UPSTREAMS)."""

from __future__ import annotations

from importlib import import_module
from types import SimpleNamespace

import pytest

from laurel.catchup import UPSTREAMS
from laurel.config import Topics


@pytest.mark.parametrize("consumer", sorted(UPSTREAMS))
def test_a_consumers_upstreams_are_the_declared_ones(consumer: str) -> None:
    adapter = import_module(f"laurel.{consumer}.adapters.kafka")
    topics = Topics()
    reactions = SimpleNamespace(on_event=print, on_intake_event=print,
                                on_review_event=print, on_scoring_event=print)
    upstreams = adapter.upstreams(topics, reactions)
    assert tuple(u.name for u in upstreams) == UPSTREAMS[consumer]
    assert [u.topic for u in upstreams] == [getattr(topics, u.name) for u in upstreams]
