"""Refused calls, recorded as events: who tried what, and why it was refused.

The log is an EventStore of its own (hash-chained, verifiable by `laurel
audit verify`), not the service's store, so a refusal never changes the
service's events -- the guarantee the refusal tests check. Events carry the
actor's id, role and organization, the gRPC method, the status and the reason;
never the request, the token or the peer address (no personal data).

Refusals are throttled per (who, method, reason): a flood of identical bad
calls records one event per window with the number of repeats it stood for,
so an unauthenticated caller cannot grow the log without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from laurel.envelope import SYSTEM_ACTOR, Actor, EventMetadata, NewEvent
from laurel.eventstore import EventStore

log = logging.getLogger("laurel.security")

ACCESS_DENIED = "AccessDenied"
AUTHENTICATION_REFUSED = "AuthenticationRefused"
_MAX_REASON_CHARS = 500


@dataclass
class SecurityLog:
    store: EventStore
    service: str
    window_s: float = 60.0
    _seen: dict[tuple[str, str, str], tuple[float, int]] = field(default_factory=dict)

    @property
    def stream_id(self) -> str:
        return f"security-{self.service}"

    @classmethod
    def open(cls, url: str, service: str) -> SecurityLog:
        parsed = make_url(url)
        if parsed.drivername.startswith("sqlite") and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        store = EventStore(url)
        store.create_schema()
        return cls(store, service)

    async def refused(self, method: str, code: str, reason: str,
                      actor: Actor | None, correlation_id: str = "") -> None:
        """Record one refusal (throttled); never fails the call it describes."""
        who = actor.id if actor else ""
        repeats = self._admit((who, method, reason))
        if repeats is None:
            return
        payload = {
            "service": self.service, "method": method, "status": code,
            "reason": reason[:_MAX_REASON_CHARS], "repeats": repeats,
            "actor": actor.to_dict() if actor else None,
        }
        kind = AUTHENTICATION_REFUSED if code == "UNAUTHENTICATED" else ACCESS_DENIED
        log.warning("refused %s: %s for %s (%s)", method, code,
                    f"{actor.role}:{actor.id}" if actor else "an unauthenticated caller",
                    payload["reason"])
        metadata = EventMetadata(SYSTEM_ACTOR, correlation_id=correlation_id or "security")
        try:
            await asyncio.to_thread(self.store.append, self.stream_id, None,
                                    [NewEvent(kind, payload)], metadata)
        except Exception:
            log.exception("could not record a refusal of %s", method)

    def _admit(self, key: tuple[str, str, str]) -> int | None:
        """1 + suppressed repeats when an event is due for `key`, else None."""
        now = time.monotonic()
        first, count = self._seen.get(key, (0.0, 0))
        if first and now - first < self.window_s:
            self._seen[key] = (first, count + 1)
            return None
        self._seen[key] = (now, 0)
        if len(self._seen) > 10_000:  # forget stale keys; bounded memory
            self._seen = {k: v for k, v in self._seen.items()
                          if now - v[0] < self.window_s}
        return 1 + count

    def close(self) -> None:
        self.store.close()
