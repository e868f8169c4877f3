"""Who is calling: the actor of the current request, from its bearer token.

The interceptor binds the verified caller to the call (a context variable,
`current_request`); the gRPC servicer reads it once and puts it on the
command it builds (`laurel.envelope.Caller`), so handlers never reach for
ambient state: the actor travels on the command.

Production callers present a signed JWT (EdDSA or RS256; issuer, audience and
expiry checked against keys from config). The development token is accepted
only by a service started with LAUREL_ENV=development, never by default.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from laurel.config import ConfigError
from laurel.envelope import Actor, Caller, EventMetadata
from laurel.errors import Unauthenticated
from laurel.telemetry import current_trace_carrier

DEV_PREFIX = "dev."
# journalist: a reporter of a newspaper that reports on a campaign in its
# stage 2 (interviews and reporting), attaching articles and reports.
ROLES = ("nominator", "endorser", "organizer", "reviewer", "auditor", "service",
         "journalist")


# The verified caller of a gRPC call is the Caller its command carries.
RequestContext = Caller


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


def event_metadata(causation_id: str = "", *, caller: Caller | None = None,
                   campaign_time: datetime | None = None) -> EventMetadata:
    """Metadata for events decided for `caller` (default: the current call's),
    with the current trace context, and the campaign time they count at
    (aware; kept with its offset) for events in a campaign."""
    return (caller or current_request()).metadata(
        current_trace_carrier(), causation_id,
        campaign_time.isoformat() if campaign_time is not None else "")


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
        token = _bearer(metadata)
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
            correlation_id=correlation_of(metadata),
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


# -- signed bearer tokens (JWT) ------------------------------------------------

SERVICE_PREFIX = "service:"
_MAX_TOKEN_CHARS = 8192
_MAX_CORRELATION_CHARS = 128


def correlation_of(metadata: Mapping[str, str]) -> str:
    """The caller's correlation id if it is a sane one, else a fresh one."""
    given = metadata.get("x-correlation-id", "")
    if 0 < len(given) <= _MAX_CORRELATION_CHARS and given.isprintable():
        return given
    return str(uuid.uuid4())


def _bearer(metadata: Mapping[str, str]) -> str:
    header = metadata.get("authorization", "")
    if not header.startswith("Bearer "):
        raise Unauthenticated("send 'authorization: Bearer <token>' metadata")
    token = header.removeprefix("Bearer ").strip()
    if not token or len(token) > _MAX_TOKEN_CHARS:
        raise Unauthenticated("the bearer token is empty or too long")
    return token


def service_actor(name: str) -> Actor:
    """The identity a service uses when it calls another service."""
    return Actor(f"{SERVICE_PREFIX}{name}", "service")


def key_id(public_key: Any) -> str:
    """A stable short id of a public key (the JWT `kid`), for rotation."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


def _algorithm(key: Any) -> str:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "EdDSA"
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RS256"
    raise ValueError(f"unsupported JWT key type {type(key).__name__}; use Ed25519 or RSA")


def load_public_keys(paths: Sequence[Path]) -> dict[str, Any]:
    """Every public key in the files (PEM, or a JSON Web Key Set), by key id;
    several keys allow rotation."""
    keys: dict[str, Any] = {}
    for path in paths:
        text = Path(path).read_bytes()
        if text.lstrip().startswith(b"{"):
            keys.update(_jwks_keys(text))
            continue
        blocks = [b for b in text.split(b"-----END PUBLIC KEY-----")
                  if b"-----BEGIN PUBLIC KEY-----" in b]
        for block in blocks:
            key = serialization.load_pem_public_key(block + b"-----END PUBLIC KEY-----\n")
            _algorithm(key)
            keys[key_id(key)] = key
    if not keys:
        raise ValueError(f"no PEM public key in {', '.join(map(str, paths))}")
    return keys


def _jwks_keys(text: bytes) -> dict[str, Any]:
    try:
        found = jwt.PyJWKSet.from_json(text.decode()).keys
    except (jwt.PyJWKError, jwt.PyJWKSetError, ValueError) as error:
        raise ValueError(f"not a usable JSON Web Key Set: {error}") from None
    keys = {}
    for jwk in found:
        _algorithm(jwk.key)
        keys[jwk.key_id or key_id(jwk.key)] = jwk.key
    return keys


def mint_token(
    private_key: Any, actor: Actor, *, issuer: str, audience: str,
    ttl: timedelta = timedelta(minutes=15), now: datetime | None = None,
) -> str:
    """A signed token for `actor` (tests, the CLI, a token service)."""
    issued = now or datetime.now(UTC)
    claims = {
        "iss": issuer, "aud": audience, "sub": actor.id, "role": actor.role,
        "org": actor.organization_id, "iat": issued, "nbf": issued,
        "exp": issued + ttl, "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, private_key, algorithm=_algorithm(private_key),
                      headers={"kid": key_id(private_key.public_key())})


class JwtAuthenticator:
    """Verifies `Bearer <JWT>`: signature (EdDSA or RS256 by key type, never
    `none` or HMAC), issuer, audience, expiry and not-before; then the claims
    `sub`, `role` and `org` become the actor. A development token is accepted
    only when `development` is true."""

    def __init__(self, keys: Mapping[str, Any], issuer: str, audience: str, *,
                 leeway_s: int = 30, development: bool = False) -> None:
        if not keys or not issuer or not audience:
            raise ValueError("JWT verification needs public keys, an issuer and an audience")
        self.keys = dict(keys)
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self.dev = DevTokenAuthenticator(development)

    def authenticate(self, metadata: Mapping[str, str]) -> RequestContext:
        token = _bearer(metadata)
        if token.startswith(DEV_PREFIX):
            return self.dev.authenticate(metadata)
        claims = self._verified(token)
        actor = _actor_from_claims(claims)
        return RequestContext(actor=actor, correlation_id=correlation_of(metadata))

    def _verified(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a JWT") from None
        kid = header.get("kid")
        candidates = [self.keys[kid]] if kid in self.keys else list(self.keys.values())
        problem = "its signature does not match any trusted key"
        for key in candidates:
            try:
                return jwt.decode(
                    token, key, algorithms=[_algorithm(key)], audience=self.audience,
                    issuer=self.issuer, leeway=self.leeway_s,
                    options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise Unauthenticated("the token has expired; get a fresh one") from None
            except jwt.ImmatureSignatureError:
                raise Unauthenticated("the token is not valid yet") from None
            except jwt.InvalidAudienceError:
                raise Unauthenticated(
                    f"the token is not for this audience (expected {self.audience})"
                ) from None
            except jwt.InvalidIssuerError:
                raise Unauthenticated(
                    f"the token is not from the trusted issuer ({self.issuer})") from None
            except jwt.MissingRequiredClaimError as error:
                raise Unauthenticated(f"the token lacks the {error.claim!r} claim") from None
            except jwt.PyJWTError:
                problem = "it is malformed or uses an unaccepted algorithm"
        raise Unauthenticated(f"the token is refused: {problem}")


def _actor_from_claims(claims: Mapping[str, Any]) -> Actor:
    subject, role = claims.get("sub"), claims.get("role")
    organization = claims.get("org", "") or ""
    if not isinstance(subject, str) or not subject or not isinstance(organization, str):
        raise Unauthenticated("the token's sub and org claims must be strings")
    if role not in ROLES:
        raise Unauthenticated(f"the token's role claim must be one of {ROLES}")
    if (role == "service") != subject.startswith(SERVICE_PREFIX):
        raise Unauthenticated(
            f"service identities are '{SERVICE_PREFIX}<name>' with role service")
    return Actor(subject, role, organization)


def authenticator_for(
    development: bool, key_files: Sequence[Path] = (), issuer: str = "",
    audience: str = "", leeway_s: int = 30,
) -> DevTokenAuthenticator | JwtAuthenticator:
    """The authenticator a service runs with; outside development it must
    verify JWTs, so missing JWT settings stop start-up."""
    if not key_files:
        if development:
            return DevTokenAuthenticator(True)
        raise ConfigError(
            "outside development, set LAUREL_JWT_PUBLIC_KEY_FILE (or LAUREL_AUTH_JWKS_FILE), "
            "LAUREL_JWT_ISSUER and LAUREL_JWT_AUDIENCE (or LAUREL_ENV=development "
            "for development tokens)")
    if not issuer or not audience:
        raise ConfigError("LAUREL_JWT_PUBLIC_KEY_FILE needs LAUREL_JWT_ISSUER and "
                          "LAUREL_JWT_AUDIENCE")
    try:
        keys = load_public_keys(key_files)
    except (OSError, ValueError) as error:
        raise ConfigError(f"LAUREL_JWT_PUBLIC_KEY_FILE/LAUREL_AUTH_JWKS_FILE: {error}") from None
    return JwtAuthenticator(keys, issuer, audience, leeway_s=leeway_s,
                            development=development)
