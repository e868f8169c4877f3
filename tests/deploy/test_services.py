"""What each component gets from the chart, read back from the rendering.

The "default" case (chart defaults plus ci/default-values.yaml) unless a
test says otherwise; `service` runs a test for intake, scoring, review and
notification, `component` for those and audit.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from laurel.config import load_settings

SELECTOR_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
}
SERVICES = ("intake", "scoring", "review", "notification")
GRPC_PORTS = {"audit": 50055}


@pytest.fixture
def default_objects(renderings: dict) -> list[Any]:
    return renderings["default"]


def _pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def _health_service(component: str) -> str:
    """The gRPC service name the component's own code registers."""
    return import_module(f"laurel.{component}.bootstrap").SERVICE_NAME


def test_deployment_runs_the_component_hardened(
    component: str, default_objects: list[Any], find: Any
) -> None:
    deployment = find(default_objects, "Deployment", f"laurel-{component}")
    pod = _pod(deployment)
    [container] = pod["containers"]
    expected = (
        ["python", "-m", "laurel.audit", "serve"]
        if component == "audit"
        else ["python", "-m", f"laurel.{component}"]
    )
    assert container["command"] == expected
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": 1,
        "maxUnavailable": 0,
    }
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert (
        set(selector) == SELECTOR_KEYS
        and selector["app.kubernetes.io/component"] == component
    )
    assert (
        selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )

    assert pod["serviceAccountName"] == f"laurel-{component}"
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
    # The only writable path: /tmp, an emptyDir with a size limit. Read-only:
    # the key set, and the checkpoint key for audit alone.
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts.pop("tmp") == {"name": "tmp", "mountPath": "/tmp"}
    assert all(m["readOnly"] for m in mounts.values())
    assert set(mounts) == ({"jwks", "checkpoint-key"} if component == "audit" else {"jwks"})
    assert pod["volumes"][0] == {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}
    assert {"requests", "limits"} <= container["resources"].keys()
    spread = pod["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in spread] == [
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    ]
    assert all(c["labelSelector"]["matchLabels"] == selector for c in spread)


def test_plaintext_probes_are_grpc_health_checks(
    component: str, default_objects: list[Any], find: Any
) -> None:
    """Without TLS, Kubernetes' own gRPC probes: liveness and startup ask
    about the server, readiness about the service (NOT_SERVING while its
    database or broker is down)."""
    deployment = find(default_objects, "Deployment", f"laurel-{component}")
    [container] = _pod(deployment)["containers"]
    port = GRPC_PORTS.get(component, 50051)
    assert container["ports"] == [
        {"name": "grpc", "containerPort": port, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9464, "protocol": "TCP"},
    ]
    assert container["startupProbe"]["grpc"] == {"port": port}
    assert container["livenessProbe"]["grpc"] == {"port": port}
    assert container["readinessProbe"]["grpc"] == {
        "port": port,
        "service": _health_service(component),
    }
    # A slow start is the startup probe's business, not the liveness probe's.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60
    env = _env(container)
    setting = "LAUREL_AUDIT_GRPC_PORT" if component == "audit" else "LAUREL_GRPC_PORT"
    assert env[setting] == str(port)


def test_tls_probes_run_the_healthcheck_with_the_mounted_ca(
    component: str, renderings: dict, find: Any
) -> None:
    """With TLS on (ci/full-values.yaml: mutual TLS), every probe execs
    laurel.healthcheck against the pod's own port, trusting ca.crt and
    presenting tls.crt, all from the mounted TLS Secret."""
    pod = _pod(find(renderings["ci/full-values.yaml"], "Deployment", f"laurel-{component}"))
    [container] = pod["containers"]
    port = GRPC_PORTS.get(component, 50051)
    tls = ["--ca-file", "/etc/laurel/tls/ca.crt",
           "--cert-file", "/etc/laurel/tls/tls.crt",
           "--key-file", "/etc/laurel/tls/tls.key",
           "--server-name", f"laurel-{component}"]
    base = ["python", "-m", "laurel.healthcheck", "--address", f"127.0.0.1:{port}"]
    probes = {name: container[name] for name in ("startupProbe", "livenessProbe",
                                                   "readinessProbe")}
    assert probes["livenessProbe"]["exec"]["command"] == [*base, "--timeout", "2", *tls]
    assert probes["startupProbe"]["exec"]["command"] == [*base, "--timeout", "2", *tls]
    assert probes["readinessProbe"]["exec"]["command"] == [
        *base, "--service", _health_service(component), "--timeout", "2", *tls
    ]
    for probe in probes.values():
        assert "grpc" not in probe
        # The call's deadline ends before Kubernetes gives up on the probe.
        assert probe["timeoutSeconds"] > 2
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/laurel/tls")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "laurel-grpc-tls"
    assert {i["key"] for i in volume["secret"]["items"]} == {"tls.crt", "tls.key", "ca.crt"}


def test_service_exposes_grpc_and_metrics(
    component: str, default_objects: list[Any], find: Any
) -> None:
    svc = find(default_objects, "Service", f"laurel-{component}")
    pod_labels = find(default_objects, "Deployment", f"laurel-{component}")["spec"][
        "template"
    ]["metadata"]["labels"]
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert svc["spec"]["ports"] == [
        {
            "name": "grpc",
            "port": GRPC_PORTS.get(component, 50051),
            "targetPort": "grpc",
            "protocol": "TCP",
            "appProtocol": "grpc",
        },
        {
            "name": "metrics",
            "port": 9464,
            "targetPort": "metrics",
            "protocol": "TCP",
            "appProtocol": "http",
        },
    ]


def test_metrics_port_is_announced_where_it_is_served(
    component: str, renderings: dict, find: Any
) -> None:
    """LAUREL_METRICS_PORT, the container's metrics port, the Service's and
    the prometheus.io annotations agree (audit's is moved in full-values)."""
    for case, port in (("default", 9464), ("ci/full-values.yaml",
                                           9465 if component == "audit" else 9464)):
        deployment = find(renderings[case], "Deployment", f"laurel-{component}")
        template = deployment["spec"]["template"]
        [container] = template["spec"]["containers"]
        assert _env(container)["LAUREL_METRICS_PORT"] == str(port)
        assert {"name": "metrics", "containerPort": port, "protocol": "TCP"} in container[
            "ports"
        ]
        annotations = template["metadata"]["annotations"]
        assert (annotations["prometheus.io/scrape"], annotations["prometheus.io/port"],
                annotations["prometheus.io/path"]) == ("true", str(port), "/metrics")
        svc = find(renderings[case], "Service", f"laurel-{component}")
        assert svc["spec"]["ports"][1]["port"] == port


def test_service_account_mounts_no_token(
    component: str, default_objects: list[Any], find: Any
) -> None:
    account = find(default_objects, "ServiceAccount", f"laurel-{component}")
    assert account["automountServiceAccountToken"] is False


def test_disruption_budget_covers_the_pods(
    component: str, default_objects: list[Any], find: Any
) -> None:
    budget = find(default_objects, "PodDisruptionBudget", f"laurel-{component}")
    assert budget["spec"]["maxUnavailable"] == 1
    selector = find(default_objects, "Deployment", f"laurel-{component}")["spec"][
        "selector"
    ]
    assert budget["spec"]["selector"] == selector


def test_network_policy_allows_only_what_the_component_needs(
    component: str, default_objects: list[Any], find: Any
) -> None:
    policy = find(default_objects, "NetworkPolicy", f"laurel-{component}")["spec"]
    selector = find(default_objects, "Deployment", f"laurel-{component}")["spec"][
        "selector"
    ]
    assert policy["podSelector"] == selector
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    grpc, metrics = policy["ingress"]
    assert grpc["ports"] == [{"port": GRPC_PORTS.get(component, 50051), "protocol": "TCP"}]
    assert grpc["from"] == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "laurel",
                    "app.kubernetes.io/instance": "laurel",
                }
            }
        }
    ]
    # No scrapers named: the metrics port (only) is open to any source.
    assert metrics == {"ports": [{"port": 9464, "protocol": "TCP"}]}
    egress_ports = [
        sorted((p["port"], p["protocol"]) for p in rule["ports"])
        for rule in policy["egress"]
    ]
    # DNS, PostgreSQL, Kafka (not audit), the upstreams' gRPC (consumers: their
    # published logs, laurel.catchup); no OTLP collector, no SMTP relay by default.
    expected = [[(53, "TCP"), (53, "UDP")], [(5432, "TCP")]]
    if component != "audit":
        expected.append([(9092, "TCP")])
    if component in ("scoring", "review", "notification"):
        expected.append([(50051, "TCP")])
    assert egress_ports == expected
    assert policy["egress"][0]["to"][0]["podSelector"]["matchLabels"] == {
        "k8s-app": "kube-dns"
    }


def test_network_policy_with_every_dependency_named(
    component: str, renderings: dict, find: Any
) -> None:
    policy = find(
        renderings["ci/full-values.yaml"], "NetworkPolicy", f"laurel-{component}"
    )
    rules = policy["spec"]["egress"]
    assert all("to" in rule for rule in rules), "every egress rule names its peers"
    ports = {p["port"] for rule in rules for p in rule["ports"]}
    expected = {53, 5432, 4317}
    if component != "audit":
        expected.add(9093)
    if component in ("scoring", "review", "notification"):
        expected.add(50051)  # the upstreams' published logs (catch-up)
    if component == "notification":
        expected |= {587, 8443}  # the SMTP relay (smtp), and its extraEgress
    assert ports == expected
    grpc, metrics = policy["spec"]["ingress"]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "portal"}}
    } in grpc["from"]
    assert metrics["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


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
    plain = {k: v for k, v in env.items() if isinstance(v, str)}
    settings = load_settings(service, {**plain, "LAUREL_DATABASE_URL": url,
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
    assert (env["LAUREL_OTEL_INSECURE"], env["LAUREL_OTEL_CA_FILE"]) == (
        "false", "/etc/laurel/otel/ca.crt")
    assert str(settings.campaigns_dir) == "/etc/laurel/campaigns"
    assert env["LAUREL_OUTBOX_POLL_MS"] == "100"


def test_file_settings_point_into_their_mounts(
    component: str, renderings: dict, find: Any
) -> None:
    """Each LAUREL_*_FILE/_DIR names a file in the mount of its Secret or ConfigMap."""
    pod = _pod(
        find(renderings["ci/full-values.yaml"], "Deployment", f"laurel-{component}")
    )
    [container] = pod["containers"]
    env = _env(container)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    expected = {
        "LAUREL_CAMPAIGNS_DIR": ("configMap", "laurel-campaigns", None),
        "LAUREL_TLS_CERT_FILE": ("secret", "laurel-grpc-tls", "tls.crt"),
        "LAUREL_TLS_KEY_FILE": ("secret", "laurel-grpc-tls", "tls.key"),
        "LAUREL_TLS_CA_FILE": ("secret", "laurel-grpc-tls", "ca.crt"),
        "LAUREL_AUTH_JWKS_FILE": ("configMap", "laurel-jwks", "jwks.json"),
        "LAUREL_OTEL_CA_FILE": ("secret", "otel-collector-ca", "ca.crt"),
    }
    if component == "audit":
        expected["LAUREL_CHECKPOINT_KEY_FILE"] = (
            "secret", "laurel-checkpoint-2030-01", "checkpoint.key")
    else:
        expected |= {
            "LAUREL_KAFKA_SSL_CAFILE": ("secret", "laurel-kafka-client", "ca.crt"),
            "LAUREL_KAFKA_SSL_CERTFILE": ("secret", "laurel-kafka-client", "tls.crt"),
            "LAUREL_KAFKA_SSL_KEYFILE": ("secret", "laurel-kafka-client", "tls.key"),
        }
    if component in ("scoring", "review", "notification"):  # upstreams' logs over TLS
        expected["LAUREL_CATCHUP_CA_FILE"] = ("secret", "laurel-grpc-tls", "ca.crt")
    file_settings = {n for n in env if n.endswith(("_FILE", "_DIR", "_CAFILE", "_CERTFILE",
                                                    "_KEYFILE")) and n != "LAUREL_DATA_DIR"}
    assert file_settings == set(expected)
    for name, (source, object_name, file) in expected.items():
        path = PurePosixPath(env[name])
        directory = path if file is None else path.parent
        assert file is None or path.name == file, name
        volume = volumes[mounts[str(directory)]]
        assert source in volume, (name, volume)
        named = volume[source].get("name") or volume[source].get("secretName")
        assert named == object_name, (name, volume)
        items = volume[source].get("items")
        assert file is None or items is None or file in {i["path"] for i in items}, name
        assert container["volumeMounts"][list(mounts).index(str(directory))]["readOnly"]


def test_checkpoint_key_reaches_audit_and_its_cronjob_only(
    case: str, objects: list[Any]
) -> None:
    """The signing key is mounted where checkpoints are signed, nowhere else."""
    holders = set()
    for item in objects:
        spec = item.obj.get("spec") or {}
        pod = spec.get("jobTemplate", {}).get("spec", spec).get("template", {}).get("spec")
        if item.kind == "Pod":
            pod = spec
        if not pod:
            continue
        env = {e["name"] for c in pod["containers"] for e in c.get("env", [])}
        if "checkpoint-key" in {v["name"] for v in pod.get("volumes", [])} or (
            "LAUREL_CHECKPOINT_KEY_FILE" in env
        ):
            holders.add(f"{item.kind}/{item.name}")
    expected = {"Deployment/laurel-audit", "CronJob/laurel-audit-checkpoint"}
    if case == "ci/minimal-values.yaml":  # no checkpoint job, no key
        expected = set()
    assert holders == expected


def test_optional_files_are_absent_by_default(
    component: str, default_objects: list[Any], find: Any
) -> None:
    [container] = _pod(find(default_objects, "Deployment", f"laurel-{component}"))[
        "containers"
    ]
    names = set(_env(container))
    assert not names & {
        "LAUREL_CAMPAIGNS_DIR",
        "LAUREL_TLS_CERT_FILE",
        "LAUREL_KAFKA_SSL_CAFILE",
        "LAUREL_KAFKA_SASL_PASSWORD_FILE",
        "LAUREL_OTEL_ENDPOINT",
        "LAUREL_OTEL_CA_FILE",
        "LAUREL_SMTP_HOST",
    }
    assert ("LAUREL_CHECKPOINT_KEY_FILE" in names) == (component == "audit")


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


def test_notification_sends_mail_with_credentials_from_a_secret(
    component: str, renderings: dict, find: Any
) -> None:
    """smtp.* reaches notification alone, the login from its Secret, in a form
    notification's own settings parser reads as e-mail switched on."""
    from laurel.notification.settings import NotificationSettings

    deployment = find(renderings["ci/full-values.yaml"], "Deployment", f"laurel-{component}")
    [container] = _pod(deployment)["containers"]
    env = _env(container)
    smtp = {k: v for k, v in env.items() if k.startswith("LAUREL_SMTP_")}
    if component != "notification":
        assert smtp == {}
        return
    assert smtp.pop("LAUREL_SMTP_USERNAME") == {
        "secretKeyRef": {"name": "laurel-smtp", "key": "username"}}
    assert smtp.pop("LAUREL_SMTP_PASSWORD") == {
        "secretKeyRef": {"name": "laurel-smtp", "key": "password"}}
    settings = NotificationSettings.load(
        {**smtp, "LAUREL_SMTP_USERNAME": "awards", "LAUREL_SMTP_PASSWORD": "secret",
         "LAUREL_KAFKA_BOOTSTRAP": env["LAUREL_KAFKA_BOOTSTRAP"]})
    assert settings.email_enabled
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_from) == (
        "smtp.health.example", 587, "awards@health.example")
    assert settings.smtp_starttls and settings.smtp_username == "awards"
    assert settings.relay_password() == "secret"


def test_production_example_reaches_kafka_over_tls_with_scram(renderings: dict,
                                                              find: Any) -> None:
    """values-large.yaml: SASL_SSL with SCRAM-SHA-512, the CA from Strimzi's
    cluster CA Secret, the password as a file from the KafkaUser's Secret."""
    pod = _pod(find(renderings["deploy/values-large.yaml"], "Deployment", "laurel-scoring"))
    [container] = pod["containers"]
    env = _env(container)
    assert env["LAUREL_KAFKA_BOOTSTRAP"] == "laurel-kafka-bootstrap.kafka.svc:9093"
    assert (env["LAUREL_KAFKA_SECURITY_PROTOCOL"], env["LAUREL_KAFKA_SASL_MECHANISM"],
            env["LAUREL_KAFKA_SASL_USERNAME"]) == ("SASL_SSL", "SCRAM-SHA-512", "laurel")
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for setting, secret, key in (
        ("LAUREL_KAFKA_SASL_PASSWORD_FILE", "laurel-kafka-user", "password"),
        ("LAUREL_KAFKA_SSL_CAFILE", "laurel-cluster-ca-cert", "ca.crt"),
    ):
        path = PurePosixPath(env[setting])
        volume = volumes[mounts[str(path.parent)]]["secret"]
        assert volume["secretName"] == secret
        assert {"key": key, "path": path.name} in volume["items"]
    assert "LAUREL_KAFKA_SSL_CERTFILE" not in env
    # The password never appears in the pod spec, only its file's path.
    assert not [e for e in container["env"] if "PASSWORD" in e["name"] and "FILE" not in
                e["name"]]


def test_production_example_settings_are_accepted(
    service: str, renderings: dict, find: Any, local_pod: Any
) -> None:
    """values-large.yaml's environment, with its files mounted, is one each
    service's settings read: SASL over TLS to Kafka, TLS to the collector."""
    pod = _pod(find(renderings["deploy/values-large.yaml"], "Deployment", f"laurel-{service}"))
    [container] = pod["containers"]
    local = local_pod(container, files={
        "/etc/laurel/kafka-sasl": {"password": b"scram-secret\n"},
        "/etc/laurel/kafka-tls": {"ca.crt": b"(CA)"},
    })
    assert set(local.unresolved) == {"LAUREL_DATABASE_URL", "LAUREL_SECURITY_LOG_URL"} | (
        {"LAUREL_SMTP_USERNAME", "LAUREL_SMTP_PASSWORD"} if service == "notification" else set())
    settings = load_settings(service, {**local.env, "LAUREL_DATABASE_URL": "sqlite:///x"})
    kafka = settings.kafka
    assert (kafka.security_protocol, kafka.sasl_mechanism, kafka.sasl_username) == (
        "SASL_SSL", "SCRAM-SHA-512", "laurel")
    assert kafka.sasl_password() == "scram-secret"
    assert (settings.telemetry.insecure, settings.telemetry.ca_file) == (
        False, Path(local.env["LAUREL_OTEL_CA_FILE"]))
