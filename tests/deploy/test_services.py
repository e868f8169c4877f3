"""What each service gets from the chart, read back from the rendering.

Default values unless a test says otherwise; `service` runs each test for
intake, scoring, review and notification.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest

from laurel.config import load_settings

SELECTOR_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
}


@pytest.fixture
def default_objects(renderings: dict) -> list[Any]:
    return renderings["default"]


def _pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_deployment_runs_the_service_hardened(
    service: str, default_objects: list[Any], find: Any
) -> None:
    deployment = find(default_objects, "Deployment", f"laurel-{service}")
    pod = _pod(deployment)
    [container] = pod["containers"]
    assert container["command"] == ["python", "-m", f"laurel.{service}"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": 1,
        "maxUnavailable": 0,
    }
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert (
        set(selector) == SELECTOR_KEYS
        and selector["app.kubernetes.io/component"] == service
    )
    assert (
        selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )

    assert pod["serviceAccountName"] == f"laurel-{service}"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # The only writable path: /tmp, an emptyDir with a size limit.
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert {"requests", "limits"} <= container["resources"].keys()
    spread = pod["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in spread] == [
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    ]
    assert all(c["labelSelector"]["matchLabels"] == selector for c in spread)


def test_probes_are_grpc_health_checks_on_the_service_port(
    service: str, default_objects: list[Any], find: Any
) -> None:
    [container] = _pod(find(default_objects, "Deployment", f"laurel-{service}"))[
        "containers"
    ]
    port = container["ports"][0]["containerPort"]
    assert container["ports"] == [
        {"name": "grpc", "containerPort": port, "protocol": "TCP"}
    ]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"] == {"port": port}, probe
    # A slow start is the startup probe's business, not the liveness probe's.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_service_selects_the_pods_on_the_grpc_port(
    service: str, default_objects: list[Any], find: Any
) -> None:
    svc = find(default_objects, "Service", f"laurel-{service}")
    pod_labels = find(default_objects, "Deployment", f"laurel-{service}")["spec"][
        "template"
    ]["metadata"]["labels"]
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert svc["spec"]["ports"] == [
        {
            "name": "grpc",
            "port": 50051,
            "targetPort": "grpc",
            "protocol": "TCP",
            "appProtocol": "grpc",
        }
    ]


def test_service_account_mounts_no_token(
    service: str, default_objects: list[Any], find: Any
) -> None:
    account = find(default_objects, "ServiceAccount", f"laurel-{service}")
    assert account["automountServiceAccountToken"] is False


def test_disruption_budget_covers_the_pods(
    service: str, default_objects: list[Any], find: Any
) -> None:
    budget = find(default_objects, "PodDisruptionBudget", f"laurel-{service}")
    assert budget["spec"]["maxUnavailable"] == 1
    selector = find(default_objects, "Deployment", f"laurel-{service}")["spec"][
        "selector"
    ]
    assert budget["spec"]["selector"] == selector


def test_network_policy_allows_only_what_the_service_needs(
    service: str, default_objects: list[Any], find: Any
) -> None:
    policy = find(default_objects, "NetworkPolicy", f"laurel-{service}")["spec"]
    selector = find(default_objects, "Deployment", f"laurel-{service}")["spec"][
        "selector"
    ]
    assert policy["podSelector"] == selector
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    [ingress] = policy["ingress"]
    assert ingress["ports"] == [{"port": 50051, "protocol": "TCP"}]
    assert ingress["from"] == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "laurel",
                    "app.kubernetes.io/instance": "laurel",
                }
            }
        }
    ]
    egress_ports = [
        sorted((p["port"], p["protocol"]) for p in rule["ports"])
        for rule in policy["egress"]
    ]
    # DNS, Kafka, PostgreSQL; nothing else (no OTLP collector by default).
    assert egress_ports == [
        [(53, "TCP"), (53, "UDP")],
        [(9092, "TCP")],
        [(5432, "TCP")],
    ]
    assert policy["egress"][0]["to"][0]["podSelector"]["matchLabels"] == {
        "k8s-app": "kube-dns"
    }


def test_network_policy_with_every_dependency_named(
    service: str, renderings: dict, find: Any
) -> None:
    policy = find(
        renderings["ci/full-values.yaml"], "NetworkPolicy", f"laurel-{service}"
    )
    rules = policy["spec"]["egress"]
    assert all("to" in rule for rule in rules), "every egress rule names its peers"
    ports = {p["port"] for rule in rules for p in rule["ports"]}
    expected = {53, 9093, 5432, 4317} | ({587} if service == "notification" else set())
    assert ports == expected
    peers = policy["spec"]["ingress"][0]["from"]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "portal"}}
    } in peers


def test_settings_are_accepted_by_laurel_config(
    service: str, renderings: dict, find: Any
) -> None:
    """The environment the chart gives is one the service's own parser accepts."""
    deployment = find(
        renderings["ci/full-values.yaml"], "Deployment", f"laurel-{service}"
    )
    [container] = _pod(deployment)["containers"]
    env = _env(container)
    secret_ref = env.pop("LAUREL_DATABASE_URL")["secretKeyRef"]
    expected_key = "review-url" if service == "review" else service
    assert secret_ref == {"name": "laurel-database-urls", "key": expected_key}
    log_ref = env.pop("LAUREL_SECURITY_LOG_URL")["secretKeyRef"]
    assert log_ref == {"name": "laurel-database-urls", "key": f"{expected_key}-security"}
    url = f"postgresql+psycopg://{service}@db.example/laurel_{service}"
    log_url = f"postgresql+psycopg://{service}@db.example/laurel_{service}_security"
    settings = load_settings(service, {**env, "LAUREL_DATABASE_URL": url,
                                       "LAUREL_SECURITY_LOG_URL": log_url})
    assert settings.security.security_log_url == log_url
    assert settings.grpc_port == 50051 and settings.grpc_host == "0.0.0.0"
    assert settings.kafka.bootstrap.startswith("laurel-kafka-bootstrap.kafka.svc:9093")
    assert settings.kafka.security_protocol == "SSL"
    assert settings.kafka.partitions == 6 and settings.kafka.replication_factor == 3
    assert settings.topics.all() == [
        f"laurel.{s}.events" for s in ("intake", "scoring", "review", "notification")
    ]
    assert (settings.otel_exporter, settings.otel_endpoint) == (
        "otlp",
        "otel-collector.observability.svc:4317",
    )
    assert str(settings.campaigns_dir) == "/etc/laurel/campaigns"
    assert env["LAUREL_OUTBOX_POLL_MS"] == "100"


def test_file_settings_point_into_their_mounts(
    service: str, renderings: dict, find: Any
) -> None:
    """Each LAUREL_*_FILE/_DIR names a file in the mount of its Secret or ConfigMap."""
    pod = _pod(
        find(renderings["ci/full-values.yaml"], "Deployment", f"laurel-{service}")
    )
    [container] = pod["containers"]
    env = _env(container)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    expected = {
        "LAUREL_CAMPAIGNS_DIR": ("configMap", "laurel-campaigns", None),
        "LAUREL_CHECKPOINT_KEY_FILE": (
            "secret",
            "laurel-checkpoint-2030-01",
            "checkpoint.key",
        ),
        "LAUREL_TLS_CERT_FILE": ("secret", "laurel-grpc-tls", "tls.crt"),
        "LAUREL_TLS_KEY_FILE": ("secret", "laurel-grpc-tls", "tls.key"),
        "LAUREL_TLS_CA_FILE": ("secret", "laurel-grpc-tls", "ca.crt"),
        "LAUREL_AUTH_JWKS_FILE": ("configMap", "laurel-jwks", "jwks.json"),
    }
    for name, (source, object_name, file) in expected.items():
        path = PurePosixPath(env[name])
        directory = path if file is None else path.parent
        assert file is None or path.name == file, name
        volume = volumes[mounts[str(directory)]]
        assert source in volume, (name, volume)
        named = volume[source].get("name") or volume[source].get("secretName")
        assert named == object_name, (name, volume)
        assert container["volumeMounts"][list(mounts).index(str(directory))]["readOnly"]


def test_optional_files_are_absent_by_default(
    service: str, default_objects: list[Any], find: Any
) -> None:
    [container] = _pod(find(default_objects, "Deployment", f"laurel-{service}"))[
        "containers"
    ]
    names = set(_env(container))
    assert not names & {
        "LAUREL_CAMPAIGNS_DIR",
        "LAUREL_CHECKPOINT_KEY_FILE",
        "LAUREL_TLS_CERT_FILE",
        "LAUREL_AUTH_JWKS_FILE",
    }


def test_autoscaler_replaces_the_replica_count(renderings: dict, find: Any) -> None:
    objects = renderings["deploy/values-large.yaml"]
    for service in ("intake", "scoring"):
        assert (
            "replicas" not in find(objects, "Deployment", f"laurel-{service}")["spec"]
        )
        hpa = find(objects, "HorizontalPodAutoscaler", f"laurel-{service}")["spec"]
        assert hpa["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"laurel-{service}",
        }
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    assert find(objects, "Deployment", "laurel-review")["spec"]["replicas"] == 3
    assert find(objects, "Deployment", "laurel-notification")["spec"]["replicas"] == 2
    assert not [
        o
        for o in objects
        if o.kind == "HorizontalPodAutoscaler"
        and o.name in ("laurel-review", "laurel-notification")
    ]
