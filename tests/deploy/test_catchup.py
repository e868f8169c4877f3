"""What the chart gives consumers to catch up from their upstreams' logs:
each upstream's address (its Service and gRPC port), the timing, the token
and CA when configured, and egress to the release's gRPC ports; the
settings are read back by the services' own settings classes."""

from __future__ import annotations

from typing import Any

from laurel.catchup import UPSTREAMS
from laurel.config import load_settings

CONSUMERS = sorted(UPSTREAMS)


def _container(objects: list[Any], find: Any, component: str) -> dict[str, Any]:
    deployment = find(objects, "Deployment", f"laurel-{component}")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_consumers_get_their_upstreams_addresses_and_may_reach_them(
    renderings: dict, find: Any
) -> None:
    objects = renderings["default"]
    for consumer in CONSUMERS:
        env = _env(_container(objects, find, consumer))
        settings = load_settings(consumer, {**env, "LAUREL_ENV": "development"}).catchup
        for upstream in UPSTREAMS[consumer]:
            assert settings.address(upstream) == f"laurel-{upstream}:50051"
        assert (settings.interval_s, settings.grace_s) == (10.0, 5.0)
        assert settings.token_file is None  # no token Secret in the defaults
        egress = find(objects, "NetworkPolicy", f"laurel-{consumer}")["spec"]["egress"]
        assert {"ports": [{"port": 50051, "protocol": "TCP"}], "to": [{"podSelector": {
            "matchLabels": {"app.kubernetes.io/name": "laurel",
                            "app.kubernetes.io/instance": "laurel"}}}]} in egress
    intake = _env(_container(objects, find, "intake"))
    assert not any(name.startswith("LAUREL_CATCHUP_") for name in intake)


def test_a_token_secret_is_mounted_and_named_to_consumers_only(render: Any, find: Any) -> None:
    objects = render({"catchup": {"token": {"existingSecret": "laurel-catchup",
                                            "key": "jwt"}, "graceSeconds": 2}})
    for consumer in CONSUMERS:
        container = _container(objects, find, consumer)
        env = _env(container)
        assert env["LAUREL_CATCHUP_TOKEN_FILE"] == "/etc/laurel/catchup/token"
        assert env["LAUREL_CATCHUP_GRACE_S"] == "2"
        assert {"name": "catchup-token", "mountPath": "/etc/laurel/catchup",
                "readOnly": True} in container["volumeMounts"]
        volumes = find(objects, "Deployment", f"laurel-{consumer}")["spec"]["template"][
            "spec"]["volumes"]
        [volume] = [v for v in volumes if v["name"] == "catchup-token"]
        assert volume["secret"]["secretName"] == "laurel-catchup"
        assert volume["secret"]["items"] == [{"key": "jwt", "path": "token"}]
    for other in ("intake", "audit"):
        assert "LAUREL_CATCHUP_TOKEN_FILE" not in _env(_container(objects, find, other))
