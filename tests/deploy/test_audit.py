"""The audit component and its checkpoint CronJob, read from the rendering
and then run: the environment the chart gives them, resolved on this machine
(LocalPod), opens every store and signs checkpoints with the mounted key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from laurel.audit import cli as audit_cli
from laurel.audit import (
    generate_key_file,
    recorded_checkpoints,
    verify_recorded_checkpoints,
)
from laurel.audit.bootstrap import build
from laurel.audit.settings import AuditSettings
from laurel.broker import free_port
from laurel.envelope import Actor, EventMetadata, NewEvent
from laurel.eventstore import EventStore

# The audit reads any hash-chained log: these stores hold events of the tests' making.
pytestmark = pytest.mark.any_events

SERVICES = ("intake", "scoring", "review", "notification")


def _container(objects: list[Any], kind: str, name: str, find: Any) -> dict[str, Any]:
    spec = find(objects, kind, name)["spec"]
    pod = (spec["jobTemplate"]["spec"] if kind == "CronJob" else spec)["template"]["spec"]
    [container] = pod["containers"]
    return container


def _store_refs(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container["env"]
        if e["name"].startswith("LAUREL_DATABASE_URL")
    }


def test_audit_reads_every_enabled_store_by_its_services_key(
    renderings: dict, find: Any
) -> None:
    """LAUREL_DATABASE_URL_<SERVICE> for each service deployed, from the key
    that service reads its own URL from; no URL of its own."""
    full = renderings["ci/full-values.yaml"]
    for kind, name in (("Deployment", "laurel-audit"), ("CronJob", "laurel-audit-checkpoint")):
        refs = _store_refs(_container(full, kind, name, find))
        assert refs == {
            f"LAUREL_DATABASE_URL_{s.upper()}": (
                "laurel-database-urls", "review-url" if s == "review" else s)
            for s in SERVICES
        }
        for service in SERVICES:
            own = _store_refs(_container(full, "Deployment", f"laurel-{service}", find))
            assert own["LAUREL_DATABASE_URL"] == refs[f"LAUREL_DATABASE_URL_{service.upper()}"]
    minimal = renderings["ci/minimal-values.yaml"]  # notification off
    assert set(_store_refs(_container(minimal, "Deployment", "laurel-audit", find))) == {
        f"LAUREL_DATABASE_URL_{s.upper()}" for s in ("intake", "scoring", "review")
    }


def test_checkpoint_cronjob_runs_the_audit_command_on_schedule(
    renderings: dict, find: Any
) -> None:
    objects = renderings["ci/full-values.yaml"]
    cron = find(objects, "CronJob", "laurel-audit-checkpoint")
    assert cron["spec"]["schedule"] == "*/30 * * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 1
    pod = job["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["python", "-m", "laurel.audit", "checkpoint"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "laurel-audit"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # Its own label: the audit Service must never send calls to a job's pod.
    labels = job["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "audit-checkpoint"
    service = find(objects, "Service", "laurel-audit")
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "audit"
    policy = find(objects, "NetworkPolicy", "laurel-audit-checkpoint")["spec"]
    assert policy["ingress"] == []
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == (
        "audit-checkpoint")
    ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert 9093 not in ports and 5432 in ports  # its databases, never Kafka
    assert not [o for o in renderings["ci/minimal-values.yaml"] if o.kind == "CronJob"]


@pytest.fixture
def stores(tmp_path: Path) -> dict[str, str]:
    """A SQLite event store per service, each with one event: name -> URL."""
    urls = {}
    for service in SERVICES:
        url = f"sqlite:///{tmp_path / f'{service}.sqlite'}"
        store = EventStore(url)
        store.create_schema()
        store.append(f"{service}-1", 0, [NewEvent("Drafted", {"n": 1})],
                     EventMetadata(Actor("tester", "organizer"), "deploy-test"))
        store.close()
        urls[service] = url
    return urls


def _jwks() -> bytes:
    key = Ed25519PrivateKey.generate().public_key()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key))
    return json.dumps({"keys": [{**jwk, "kid": "issuer", "use": "sig", "alg": "EdDSA"}]}
                      ).encode()


async def test_audit_service_starts_from_the_rendered_settings(
    renderings: dict, find: Any, local_pod: Any, stores: dict[str, str], tmp_path: Path
) -> None:
    """The audit Deployment's environment (default case: production, key set,
    checkpoint key) builds the service: every store opened, the key loaded,
    the port taken from its own setting."""
    container = _container(renderings["default"], "Deployment", "laurel-audit", find)
    key_dir = tmp_path / "keys"
    generate_key_file(key_dir / "checkpoint.key")
    pod = local_pod(container, files={
        "/etc/laurel/checkpoint": {"checkpoint.key": (key_dir / "checkpoint.key").read_bytes()},
        "/etc/laurel/auth": {"jwks.json": _jwks()},
    }, secrets={("laurel-database", s): url for s, url in stores.items()})
    assert pod.unresolved == {}
    port = free_port()
    assert pod.env.pop("LAUREL_AUDIT_GRPC_PORT") == "50055"
    env = {**pod.env, "LAUREL_AUDIT_GRPC_PORT": str(port)}
    server = await build(AuditSettings.load(env))
    try:
        assert server.port == port
        assert sorted(server.stores) == sorted(SERVICES)
        assert server.key is not None
        assert server.development is False
    finally:
        await server.stop()


def test_checkpoint_job_signs_every_store_with_the_mounted_key(
    renderings: dict, find: Any, local_pod: Any, stores: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    container = _container(renderings["default"], "CronJob", "laurel-audit-checkpoint", find)
    key = generate_key_file(tmp_path / "checkpoint.key")
    pod = local_pod(container, files={
        "/etc/laurel/checkpoint": {"checkpoint.key": (tmp_path / "checkpoint.key").read_bytes()},
    }, secrets={("laurel-database", s): url for s, url in stores.items()})
    assert pod.unresolved == {}
    for name, value in pod.env.items():
        monkeypatch.setenv(name, value)
    # `python -m laurel.audit checkpoint` is `laurel audit checkpoint`.
    assert container["command"][-1] == "checkpoint"
    assert audit_cli.main(["audit", "checkpoint"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(SERVICES)
    for url in stores.values():
        store = EventStore(url)
        try:
            [checkpoint] = recorded_checkpoints(store)
            assert checkpoint.up_to_position == 1
            assert verify_recorded_checkpoints(store, key.public_key()) == []
        finally:
            store.close()
