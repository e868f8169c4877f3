"""Review applies the golden fixture of every type its upstreams append, or
ignores it, exactly as its DECLARATIONS say."""

from __future__ import annotations

import pytest

from laurel.contracts import Handled
from laurel.contracts.fixtures import all_fixtures
from laurel.review.reactions import CONSUMER, DECLARATIONS

FIXTURES = [(s, e) for s in DECLARATIONS for s, e in all_fixtures(s)]


@pytest.mark.parametrize(("producer", "event"), FIXTURES,
                         ids=[f"{s}.{e.type}.v{e.schema_version}" for s, e in FIXTURES])
async def test_each_upstream_fixture_is_applied_or_ignored_as_declared(
        review, producer: str, event) -> None:  # noqa: ANN001
    react = {"intake": review.reactions.on_intake_event,
             "scoring": review.reactions.on_scoring_event}[producer]
    before = review.store.last_position()
    react(event)
    if isinstance(DECLARATIONS[producer][event.type], Handled):
        assert review.store.has_processed(CONSUMER, event.event_id)
    else:
        assert not review.store.has_processed(CONSUMER, event.event_id)
        assert review.store.last_position() == before
