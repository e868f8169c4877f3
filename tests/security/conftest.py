"""Fixtures for the security tests: signing keys, tokens, every gRPC method, and
every service (and the audit server) served on real loopback sockets.

The services are built by their own bootstraps with JWT verification switched
on; only their gRPC servers are started (no Kafka: authorization happens
before any message would travel, and refusals must not reach a broker).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor

from laurel.auth import key_id, mint_token
from laurel.config import PROJECT_ROOT, SERVICES, load_settings
from laurel.envelope import Actor
from laurel.eventstore import EventStore
from laurel.grpcutil import GrpcServer

ISSUER = "https://auth.laurel.test"
AUDIENCE = "laurel"
ORGANIZATION = {"nominator": "zhengzhou-peoples", "endorser": "zhengzhou",
                "organizer": "henan-center", "journalist": "medicine-health-news"}


def actor_for(role: str) -> Actor:
    if role == "service":
        return Actor("service:matrix", "service")
    return Actor(f"{role}-matrix", role, ORGANIZATION.get(role, ""))


@dataclass(frozen=True)
class Keys:
    signing: Ed25519PrivateKey
    forger: Ed25519PrivateKey
    public_file: Path

    def token(self, actor: Actor, **options: Any) -> str:
        return mint_token(self.signing, actor, issuer=ISSUER, audience=AUDIENCE, **options)

    def expired(self, actor: Actor) -> str:
        return self.token(actor, now=datetime.now(UTC) - timedelta(hours=2))

    def metadata(self, caller: str) -> tuple[tuple[str, str], ...]:
        """Call metadata for a role, or for `nobody`, `expired`, `forged`."""
        if caller == "nobody":
            return ()
        if caller == "expired":
            return bearer(self.expired(actor_for("organizer")))
        if caller == "forged":
            return bearer(self.forged(actor_for("auditor")))
        return bearer(self.token(actor_for(caller)))

    def forged(self, actor: Actor) -> str:
        """Signed by another key, but claiming the trusted key's id."""
        now = datetime.now(UTC)
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": actor.id, "role": actor.role,
                  "org": actor.organization_id, "iat": now,
                  "exp": now + timedelta(minutes=5)}
        return jwt.encode(claims, self.forger, algorithm="EdDSA",
                          headers={"kid": key_id(self.signing.public_key())})


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    signing = Ed25519PrivateKey.generate()
    public_file = tmp_path_factory.mktemp("jwt") / "issuer.pub.pem"
    public_file.write_bytes(signing.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return Keys(signing, Ed25519PrivateKey.generate(), public_file)


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


# -- every RPC of every service, from the generated descriptors ------------------


@dataclass(frozen=True)
class Rpc:
    service: str  # intake, scoring, review, notification, audit
    path: str  # /laurel.intake.v1.IntakeService/SubmitNomination
    method: MethodDescriptor

    @property
    def streaming(self) -> bool:
        return self.method.server_streaming

    def request_class(self) -> type:
        return message_factory.GetMessageClass(self.method.input_type)

    def response_class(self) -> type:
        return message_factory.GetMessageClass(self.method.output_type)

    def callable(self, channel: grpc.aio.Channel) -> Any:
        make = channel.unary_stream if self.streaming else channel.unary_unary
        return make(self.path, request_serializer=lambda m: m.SerializeToString(),
                    response_deserializer=self.response_class().FromString)


def all_rpcs() -> list[Rpc]:
    """Every method of every service declared under proto/laurel/*/v1/."""
    found = []
    for proto in sorted((PROJECT_ROOT / "proto" / "laurel").glob("*/v1/*.proto")):
        package = proto.parts[-3]
        module = importlib.import_module(f"laurel.{package}.v1.{proto.stem}_pb2")
        # The published log is served by every publishing service, beside its own.
        servers = SERVICES if package == "eventlog" else (package,)
        for described in module.DESCRIPTOR.services_by_name.values():
            for method in described.methods:
                found += [Rpc(server, f"/{described.full_name}/{method.name}", method)
                          for server in servers]
    return found


# -- the served suite ------------------------------------------------------------


@dataclass
class Served:
    servers: dict[str, GrpcServer]
    stores: dict[str, EventStore]
    security_logs: dict[str, EventStore] = field(default_factory=dict)
    closers: list[Any] = field(default_factory=list)
    apps: dict[str, Any] = field(default_factory=dict)  # application objects, to seed

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.servers[service].port}"

    def positions(self) -> dict[str, int]:
        return {name: store.last_position() for name, store in self.stores.items()}


def security_env(keys: Keys, data_dir: Path, environment: str = "production") -> dict[str, str]:
    return {
        "LAUREL_ENV": environment,
        "LAUREL_GRPC_HOST": "127.0.0.1",
        "LAUREL_GRPC_PORT": "0",
        "LAUREL_DATA_DIR": str(data_dir),
        "LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9",  # never dialled: Kafka is not started
        "LAUREL_REVIEW_REMINDER_POLL_S": "0",
        "LAUREL_JWT_PUBLIC_KEY_FILE": str(keys.public_file),
        "LAUREL_JWT_ISSUER": ISSUER,
        "LAUREL_JWT_AUDIENCE": AUDIENCE,
    }


async def serve_all(env: dict[str, str], services: tuple[str, ...] = (
        "intake", "scoring", "review", "notification", "audit")) -> Served:
    from laurel.intake.bootstrap import build as build_intake
    from laurel.notification.bootstrap import build as build_notification
    from laurel.review.bootstrap import build as build_review
    from laurel.scoring.bootstrap import build as build_scoring

    builders = {
        "intake": lambda s: build_intake(s, with_relay=False),
        "scoring": lambda s: build_scoring(s, with_kafka=False),
        "review": lambda s: build_review(s, with_kafka=False),
        "notification": build_notification,
    }
    served = Served({}, {})
    for name in services:
        if name == "audit":
            continue
        runtime = await builders[name](load_settings(name, env))
        served.servers[name] = runtime.grpc
        served.stores[name] = runtime.store
        served.apps[name] = runtime.app
        served.closers.append(runtime.store.close)
        if runtime.grpc.security_log is not None:
            served.security_logs[name] = runtime.grpc.security_log.store
    if "audit" in services:
        from laurel.audit.adapters.stores import open_stores
        from laurel.audit.bootstrap import build as build_audit
        from laurel.audit.settings import AuditSettings

        audit = await build_audit(AuditSettings.load({**env, "LAUREL_AUDIT_GRPC_PORT": "0"}),
                                  stores=open_stores({n: s.url for n, s in served.stores.items()}))
        served.servers["audit"] = audit.grpc
        served.closers += [s.close for s in audit.stores.values()]
        if audit.grpc.security_log is not None:
            served.security_logs["audit"] = audit.grpc.security_log.store
    for server in served.servers.values():
        await server.start()
    return served


async def stop_all(served: Served) -> None:
    for server in served.servers.values():
        await server.stop(0)
    for close in served.closers:
        close()


@pytest.fixture
async def suite(keys: Keys, tmp_path: Path) -> AsyncIterator[Served]:
    served = await serve_all(security_env(keys, tmp_path))
    try:
        yield served
    finally:
        await stop_all(served)


@pytest.fixture(name="actor_for", scope="session")
def actor_for_fixture() -> Any:
    return actor_for


@pytest.fixture(scope="session")
def rpcs() -> list[Rpc]:
    return all_rpcs()


@pytest.fixture
async def serve(keys: Keys, tmp_path: Path) -> AsyncIterator[Any]:
    """serve(services, **extra_env): start some services with extra settings;
    all are stopped after the test."""
    started: list[Served] = []

    async def start(services: tuple[str, ...], **extra: str) -> Served:
        served = await serve_all(security_env(keys, tmp_path) | extra, services)
        started.append(served)
        return served

    try:
        yield start
    finally:
        for served in started:
            await stop_all(served)


@pytest.fixture(scope="session")
def suite_tools() -> Any:
    """serve_all, stop_all and security_env, for tests that run their own loop."""
    from types import SimpleNamespace

    return SimpleNamespace(serve_all=serve_all, stop_all=stop_all,
                           security_env=security_env)
