"""Migrations, topics and `helm test`: the chart's hooks, read from the rendering."""

from __future__ import annotations

from typing import Any

SERVICES = ("intake", "scoring", "review", "notification")
COMPONENTS = (*SERVICES, "audit")


def _by_hook(objects: list[Any], hook: str) -> list[Any]:
    return [o for o in objects if hook in o.hooks]


def _weight(item: Any) -> int:
    return int(item.obj["metadata"]["annotations"].get("helm.sh/hook-weight", "0"))


def test_migrations_run_before_install_and_upgrade(
    service: str, renderings: dict, find: Any
) -> None:
    objects = renderings["default"]
    job = find(objects, "Job", f"laurel-migrate-{service}")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert (
        annotations["helm.sh/hook-delete-policy"]
        == "before-hook-creation,hook-succeeded"
    )
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    # The command name is the contract with the code (deploy/README.md).
    assert container["command"] == ["laurel", "migrate", "--service", service]
    url = next(e for e in container["env"] if e["name"] == "LAUREL_DATABASE_URL")
    assert url["valueFrom"]["secretKeyRef"] == {
        "name": "laurel-database",
        "key": service,
    }
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "laurel-hooks"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_hook_helpers_exist_before_the_jobs(renderings: dict) -> None:
    """Pre-install hooks run before the release's objects exist, so the Jobs'
    ServiceAccount and NetworkPolicy are hooks too, created first."""
    hooks = _by_hook(renderings["default"], "pre-install")
    jobs = [h for h in hooks if h.kind == "Job"]
    helpers = [h for h in hooks if h.kind in ("ServiceAccount", "NetworkPolicy")]
    # Audit has no store of its own: no migration Job.
    assert sorted(j.name for j in jobs) == sorted(
        [f"laurel-migrate-{s}" for s in SERVICES] + ["laurel-topics"]
    )
    assert sorted(h.kind for h in helpers) == ["NetworkPolicy", "ServiceAccount"]
    assert max(map(_weight, helpers)) < min(map(_weight, jobs))
    policy = next(h for h in helpers if h.kind == "NetworkPolicy").obj["spec"]
    assert policy["ingress"] == []
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "hook"
    for job in jobs:
        labels = job.obj["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "hook"


def test_topics_job_without_strimzi(renderings: dict, find: Any) -> None:
    job = find(renderings["default"], "Job", "laurel-topics")
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["laurel", "topics", "create"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LAUREL_TOPIC_PARTITIONS"] == "3"
    assert env["LAUREL_TOPIC_REPLICATION_FACTOR"] == "3"
    assert not [o for o in renderings["default"] if o.kind == "KafkaTopic"]


def test_topics_job_reaches_kafka_as_the_services_do(render: Any, find: Any) -> None:
    """With TLS and SASL to Kafka, the topics Job gets the same CA, user and
    password file as the services; the migrations get none of it."""
    objects = render(
        {
            "kafka": {
                "securityProtocol": "SASL_SSL",
                "tls": {"existingSecret": "kafka-ca"},
                "sasl": {"username": "laurel", "existingSecret": "kafka-user"},
            }
        }
    )
    pod = find(objects, "Job", "laurel-topics")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LAUREL_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["LAUREL_KAFKA_SSL_CAFILE"] == "/etc/laurel/kafka-tls/ca.crt"
    assert env["LAUREL_KAFKA_SASL_PASSWORD_FILE"] == "/etc/laurel/kafka-sasl/password"
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"kafka-ca", "kafka-user"}
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/etc/laurel/kafka-tls", "/etc/laurel/kafka-sasl"} <= mounted
    migrate = find(objects, "Job", "laurel-migrate-intake")["spec"]["template"]["spec"]
    assert not [v for v in migrate["volumes"] if "secret" in v]
    assert not [
        e for e in migrate["containers"][0]["env"] if e["name"].startswith("LAUREL_KAFKA")
    ]


def test_strimzi_topics_survive_uninstall(renderings: dict) -> None:
    objects = renderings["deploy/values-large.yaml"]
    topics = {
        o.obj["spec"]["topicName"]: o.obj for o in objects if o.kind == "KafkaTopic"
    }
    assert sorted(topics) == sorted(f"laurel.{s}.events" for s in SERVICES)
    for topic in topics.values():
        assert topic["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "laurel"
        assert (topic["spec"]["partitions"], topic["spec"]["replicas"]) == (12, 3)
        assert not topic["metadata"]["annotations"].get("helm.sh/hook")
    assert not [o for o in objects if o.kind == "Job" and o.name == "laurel-topics"]


def test_helm_test_pod_checks_every_service_through_its_service(
    renderings: dict, find: Any
) -> None:
    objects = renderings["default"]
    pod = find(objects, "Pod", "laurel-test-health")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    commands = {c["name"]: c["command"] for c in pod["spec"]["containers"]}
    assert sorted(commands) == sorted(COMPONENTS)
    for service, command in commands.items():
        svc = find(objects, "Service", f"laurel-{service}")
        address = f"{svc['metadata']['name']}:{svc['spec']['ports'][0]['port']}"
        assert command == ["python", "-m", "laurel.healthcheck", "--address", address]
    assert pod["spec"]["restartPolicy"] == "Never"
    policy = find(objects, "NetworkPolicy", "laurel-test-health")
    assert policy["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert policy["spec"]["egress"][1]["ports"] == [
        {"port": 50055, "protocol": "TCP"},
        {"port": 50051, "protocol": "TCP"},
    ]


def test_helm_test_pod_speaks_tls_when_the_services_do(renderings: dict, find: Any) -> None:
    """With mutual TLS on, the test pod trusts ca.crt and presents tls.crt,
    both from the mounted TLS Secret; the Service name is the server name."""
    pod = find(renderings["ci/full-values.yaml"], "Pod", "laurel-test-health")["spec"]
    [volume] = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == "laurel-grpc-tls"
    for container in pod["containers"]:
        assert container["command"][-6:] == [
            "--ca-file", "/etc/laurel/tls/ca.crt",
            "--cert-file", "/etc/laurel/tls/tls.crt",
            "--key-file", "/etc/laurel/tls/tls.key",
        ]
        assert {"name": volume["name"], "mountPath": "/etc/laurel/tls",
                "readOnly": True} in container["volumeMounts"]


def test_test_pod_skips_disabled_services(render: Any, find: Any) -> None:
    objects = render({"components": {"notification": {"enabled": False}}})
    pod = find(objects, "Pod", "laurel-test-health")
    assert [c["name"] for c in pod["spec"]["containers"]] == [
        "audit",
        "intake",
        "review",
        "scoring",
    ]
    assert not [o for o in objects if "notification" in o.name]


def test_switched_off_hooks_render_nothing(renderings: dict) -> None:
    assert not [o for o in renderings["ci/minimal-values.yaml"] if o.hooks]
