"""Notification applies the golden fixture of every type its upstreams
append, or ignores it, exactly as its DECLARATIONS say."""

from __future__ import annotations

import pytest

from laurel.contracts import Handled
from laurel.contracts.fixtures import all_fixtures
from laurel.notification.reactions import CONSUMER, DECLARATIONS

FIXTURES = [(s, e) for s in DECLARATIONS for s, e in all_fixtures(s)]


@pytest.mark.parametrize(("producer", "event"), FIXTURES,
                         ids=[f"{s}.{e.type}.v{e.schema_version}" for s, e in FIXTURES])
async def test_each_upstream_fixture_is_applied_or_ignored_as_declared(
        notification, producer: str, event) -> None:  # noqa: ANN001
    store = notification.store
    before = store.last_position()
    notification.react(event)
    if isinstance(DECLARATIONS[producer][event.type], Handled):
        assert store.has_processed(CONSUMER, event.event_id)
    else:
        assert not store.has_processed(CONSUMER, event.event_id)
        assert store.last_position() == before
