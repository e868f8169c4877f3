"""Backoff grows, is capped and jittered; the state log speaks once per change."""

from __future__ import annotations

import logging

import pytest

from laurel.backoff import Backoff, StateLog


def test_delays_double_up_to_the_cap_with_jitter_between_half_and_all() -> None:
    low = Backoff(base=0.5, cap=4.0, rng=lambda: 0.0)
    high = Backoff(base=0.5, cap=4.0, rng=lambda: 0.999999)
    assert [round(low.next_delay(), 2) for _ in range(6)] == [0.25, 0.5, 1, 2, 2, 2]
    assert [round(high.next_delay(), 2) for _ in range(6)] == [0.5, 1, 2, 4, 4, 4]
    low.reset()
    assert low.next_delay() == 0.25


def test_one_line_when_failing_starts_and_one_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    state = StateLog(logging.getLogger("t"), "relay", every_s=60, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="t"):
        for _ in range(50):
            now[0] += 1
            state.failed("broker gone", 1.0)
        now[0] += 20  # past a minute: one reminder
        state.failed("broker gone", 1.0)
        assert state.recovered()
        assert not state.recovered()
    assert [r.getMessage().split(":")[1].split()[0] for r in caplog.records] == [
        "broker", "still", "recovered"]
