"""Exponential backoff with jitter, and a log that speaks once per change.

Every loop that retries something outside the process (the outbox relay on
its broker, a consumer on its database, a replica on its leader lock) waits
longer after each failure, with jitter so replicas that failed together do
not retry together, and says so once when it starts failing and once when it
recovers, never once per attempt.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable


class Backoff:
    """Delays for consecutive failures: `base * 2**n`, capped, with "equal
    jitter" (each delay is uniform between half and all of the step), so the
    wait grows without synchronizing the retriers.

    `failures` counts consecutive failures; `reset()` after a success."""

    def __init__(self, base: float = 0.2, cap: float = 15.0,
                 rng: Callable[[], float] = random.random) -> None:
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng

    def next_delay(self) -> float:
        """Record one more failure; the seconds to wait before the next try."""
        step = min(self.cap, self.base * 2 ** min(self.failures, 32))
        self.failures += 1
        return step / 2 + step / 2 * self._rng()

    def reset(self) -> None:
        self.failures = 0


class StateLog:
    """One log line per change of state (`ok` ↔ failing), not per attempt.

    `failed(reason)` logs a warning the first time only; while failing, the
    same failure is repeated at most every `every_s` seconds (with how many
    attempts failed meanwhile) so a long outage stays visible without a line
    per retry. `recovered()` logs once, with how long it took."""

    def __init__(self, logger: logging.Logger, what: str, *, every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log = logger
        self.what = what
        self.every_s = every_s
        self.clock = clock
        self.failing_since: float | None = None
        self._last_said = 0.0
        self._attempts = 0

    @property
    def failing(self) -> bool:
        return self.failing_since is not None

    def failed(self, reason: str, retry_in: float) -> None:
        now = self.clock()
        self._attempts += 1
        if self.failing_since is None:
            self.failing_since = self._last_said = now
            self.log.warning("%s: %s; retrying with backoff (next in %.1fs)",
                             self.what, reason, retry_in)
        elif now - self._last_said >= self.every_s:
            self._last_said = now
            self.log.warning("%s: still failing after %.0fs and %d attempts: %s",
                             self.what, now - self.failing_since, self._attempts, reason)

    def recovered(self, detail: str = "") -> bool:
        """Log the recovery if there was a failure; True when there was."""
        if self.failing_since is None:
            return False
        took = self.clock() - self.failing_since
        self.log.info("%s: recovered after %.1fs and %d failed attempts%s", self.what,
                      took, self._attempts, f"; {detail}" if detail else "")
        self.failing_since, self._attempts = None, 0
        return True
