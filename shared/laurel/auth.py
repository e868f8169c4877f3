"""Who is calling: the actor of the current request, from its bearer token.

The actor travels in a context variable from the gRPC edge to the place where
events are built, so every stored event names who caused it without handlers
passing it along by hand.

Only the development token exists so far, and only a service started with
LAUREL_ENV=development accepts it.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from laurel.envelope import Actor, EventMetadata
from laurel.errors import Unauthenticated
from laurel.telemetry import current_trace_carrier

DEV_PREFIX = "dev."
ROLES = ("nominator", "endorser", "organizer", "reviewer", "auditor", "service")


@dataclass(frozen=True)
class RequestContext:
    actor: Actor
    correlation_id: str
    causation_id: str = ""


_current: ContextVar[RequestContext | None] = ContextVar("laurel_request", default=None)


def current_request() -> RequestContext:
    request = _current.get()
    if request is None:
        raise Unauthenticated("no authenticated actor for this call")
    return request


def bind_request(request: RequestContext) -> object:
    return _current.set(request)


def unbind_request(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def event_metadata(causation_id: str = "") -> EventMetadata:
    """Metadata for events decided in the current request."""
    request = current_request()
    return EventMetadata(
        actor=request.actor,
        correlation_id=request.correlation_id,
        causation_id=causation_id or request.causation_id,
        trace=current_trace_carrier(),
    )


def dev_token(actor: Actor) -> str:
    body = json.dumps(actor.to_dict(), separators=(",", ":")).encode()
    return DEV_PREFIX + base64.urlsafe_b64encode(body).decode().rstrip("=")


def call_metadata(actor: Actor, correlation_id: str = "") -> tuple[tuple[str, str], ...]:
    """gRPC metadata a client sends (development token)."""
    return (
        ("authorization", f"Bearer {dev_token(actor)}"),
        ("x-correlation-id", correlation_id or str(uuid.uuid4())),
    )


class DevTokenAuthenticator:
    """Accepts `Bearer dev.<base64url JSON actor>`; refuses outside development."""

    def __init__(self, development: bool) -> None:
        self.development = development

    def authenticate(self, metadata: Mapping[str, str]) -> RequestContext:
        header = metadata.get("authorization", "")
        if not header.startswith("Bearer "):
            raise Unauthenticated("send 'authorization: Bearer <token>' metadata")
        token = header.removeprefix("Bearer ").strip()
        if not token.startswith(DEV_PREFIX):
            raise Unauthenticated("unsupported token type")
        if not self.development:
            raise Unauthenticated(
                "development tokens are refused: this service does not run "
                "with LAUREL_ENV=development"
            )
        actor = _decode_dev_actor(token.removeprefix(DEV_PREFIX))
        return RequestContext(
            actor=actor,
            correlation_id=metadata.get("x-correlation-id") or str(uuid.uuid4()),
        )


def _decode_dev_actor(encoded: str) -> Actor:
    try:
        padded = encoded + "=" * (-len(encoded) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
        actor = Actor.from_dict(data)
    except (ValueError, KeyError, TypeError):
        raise Unauthenticated("malformed development token") from None
    if not actor.id or actor.role not in ROLES:
        raise Unauthenticated(f"token must name an actor id and a role in {ROLES}")
    return actor
