"""The chart wires what the services need to authenticate and encrypt: the
issuer's key set, issuer and audience, gRPC TLS with a client CA, and Kafka
TLS files, each from its Secret or ConfigMap, in a form laurel.config reads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from laurel.config import PROJECT_ROOT, load_settings

FULL = PROJECT_ROOT / "charts" / "laurel" / "ci" / "full-values.yaml"


@pytest.fixture(scope="module")
def intake_container() -> tuple[dict[str, Any], dict[str, Any]]:
    name = "laurel_deploy_render"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, PROJECT_ROOT / "deploy" / "tools" / "render.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    render = sys.modules[name]
    objects = render.objects(render.render(render.load_values([FULL])))
    [deployment] = [o.obj for o in objects
                    if (o.kind, o.name) == ("Deployment", "laurel-intake")]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    return container, pod


def test_tokens_and_tls_settings_come_from_mounted_objects(
        intake_container: tuple[dict[str, Any], dict[str, Any]]) -> None:
    container, pod = intake_container
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["LAUREL_JWT_ISSUER"] == "https://login.health.example"
    assert env["LAUREL_JWT_AUDIENCE"] == "laurel"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    kafka_dir = str(PurePosixPath(env["LAUREL_KAFKA_SSL_CAFILE"]).parent)
    assert volumes[mounts[kafka_dir]]["secret"]["secretName"] == "laurel-kafka-client"
    assert PurePosixPath(env["LAUREL_KAFKA_SSL_CERTFILE"]).parent == PurePosixPath(kafka_dir)

    env.pop("LAUREL_DATABASE_URL")
    settings = load_settings("intake", {k: v for k, v in env.items() if isinstance(v, str)})
    security = settings.security
    assert security.jwt_public_key_files == (Path("/etc/laurel/auth/jwks.json"),)
    assert (security.jwt_issuer, security.jwt_audience) == (
        "https://login.health.example", "laurel")
    assert security.tls_cert_file == Path("/etc/laurel/tls/tls.crt")
    assert security.tls_client_ca_file == Path("/etc/laurel/tls/ca.crt")
    assert settings.kafka.tls_options() == {
        "ssl_check_hostname": True, "ssl_cafile": "/etc/laurel/kafka-tls/ca.crt",
        "ssl_certfile": "/etc/laurel/kafka-tls/tls.crt",
        "ssl_keyfile": "/etc/laurel/kafka-tls/tls.key"}
