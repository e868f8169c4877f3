"""Wrong values fail the install with a message that names what is wrong, and
an object Kubernetes would refuse is caught offline."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

# values, then what the error must say (the offending path and the reason).
SCHEMA_REFUSALS = [
    pytest.param(
        {"components": {"billing": {}}},
        ["/components", "additional properties 'billing' not allowed"],
        id="unknown-service",
    ),
    pytest.param(
        {"default": {"replica": 3}},
        ["/default", "additional properties 'replica' not allowed"],
        id="typo-in-default",
    ),
    pytest.param(
        {"components": {"intake": {"resources": {"request": {"cpu": 1}}}}},
        ["/components/intake/resources", "'request' not allowed"],
        id="typo-in-component",
    ),
    pytest.param(
        {"environment": "staging"},
        ["/environment", "value must be one of 'production', 'development'"],
        id="environment",
    ),
    pytest.param(
        {"otel": {"exporter": "otlp"}},
        ["/otel/endpoint", "minLength"],
        id="otlp-without-endpoint",
    ),
    pytest.param(
        {"default": {"grpcPort": 70000}},
        ["/default/grpcPort", "maximum"],
        id="port-out-of-range",
    ),
    pytest.param(
        {"default": {"env": {"LAUREL_DATABASE_URL": "sqlite:///x"}}},
        ["invalid propertyName 'LAUREL_DATABASE_URL'"],
        id="env-overrides-secret",
    ),
    pytest.param(
        {"default": {"podSecurityContext": {"runAsNonRoot": False}}},
        ["/default/podSecurityContext/runAsNonRoot", "value must be true"],
        id="run-as-root",
    ),
    pytest.param(
        {"kafka": {"bootstrap": "kafka"}},
        ["/kafka/bootstrap", "does not match pattern"],
        id="bootstrap-without-port",
    ),
    pytest.param(
        {"database": {"existingSecret": ""}},
        ["/database/existingSecret", "minLength"],
        id="no-database-secret",
    ),
    pytest.param(
        {"image": {"digest": "sha256:abc"}},
        ["/image/digest", "does not match pattern"],
        id="short-digest",
    ),
    pytest.param(
        {"kafka": {"topics": {"partitions": "3"}}},
        ["/kafka/topics/partitions", "got string, want integer"],
        id="string-number",
    ),
    pytest.param(
        {"kafka": {"securityProtocol": "TLS"}},
        ["/kafka/securityProtocol", "value must be one of 'PLAINTEXT', 'SSL',"
         " 'SASL_PLAINTEXT', 'SASL_SSL'"],
        id="kafka-protocol",
    ),
    pytest.param(
        {"kafka": {"sasl": {"mechanism": "GSSAPI"}}},
        ["/kafka/sasl/mechanism", "value must be one of 'PLAIN', 'SCRAM-SHA-256',"
         " 'SCRAM-SHA-512'"],
        id="sasl-mechanism",
    ),
    pytest.param(
        {"components": {"audit": {"env": {"LAUREL_DATABASE_URL_INTAKE": "sqlite:///x"}}}},
        ["invalid propertyName 'LAUREL_DATABASE_URL_INTAKE'"],
        id="env-overrides-store-url",
    ),
    pytest.param(
        {"metrics": {"serviceMonitor": {"interval": "30 seconds"}}},
        ["/metrics/serviceMonitor/interval", "does not match pattern"],
        id="scrape-interval",
    ),
]

TEMPLATE_REFUSALS = [
    pytest.param(
        {
            "components": {
                "scoring": {
                    "autoscaling": {"enabled": True, "minReplicas": 9, "maxReplicas": 3}
                }
            }
        },
        "components.scoring: autoscaling.minReplicas (9) is above maxReplicas (3)",
        id="autoscaling-bounds",
    ),
    pytest.param(
        {"campaigns": {"files": {"a.yaml": "id: a"}, "existingConfigMap": "mine"}},
        "campaigns.files and campaigns.existingConfigMap are both set",
        id="campaigns-twice",
    ),
    pytest.param(
        {"auth": {"issuer": ""}},
        "set auth.issuer: with environment production the services verify callers'"
        " tokens",
        id="production-without-issuer",
    ),
    pytest.param(
        {"kafka": {"securityProtocol": "SASL_SSL"}},
        "kafka.securityProtocol is SASL_SSL: set kafka.sasl.username and"
        " kafka.sasl.existingSecret",
        id="sasl-without-credentials",
    ),
    pytest.param(
        {"kafka": {"sasl": {"username": "laurel", "existingSecret": "kafka-user"}}},
        "kafka.sasl.existingSecret is set but kafka.securityProtocol is PLAINTEXT",
        id="sasl-credentials-unused",
    ),
    pytest.param(
        {"kafka": {"tls": {"existingSecret": "kafka-ca"}}},
        "kafka.tls.existingSecret is set but kafka.securityProtocol is PLAINTEXT",
        id="kafka-ca-unused",
    ),
    pytest.param(
        {"tls": {"mutual": True}},
        "tls.mutual needs tls.existingSecret",
        id="mutual-tls-without-certificate",
    ),
    pytest.param(
        {"otel": {"exporter": "otlp", "endpoint": "c:4317", "insecure": True,
                  "tls": {"existingSecret": "collector-ca"}}},
        "otel.insecure is true and otel.tls.existingSecret is set",
        id="otlp-insecure-with-ca",
    ),
    pytest.param(
        {"smtp": {"host": "smtp.example.org"}},
        "smtp.host is set: set smtp.from",
        id="smtp-without-sender",
    ),
    pytest.param(
        {"smtp": {"existingSecret": "smtp-login"}},
        "smtp.existingSecret is set but smtp.host is empty",
        id="smtp-login-without-host",
    ),
    pytest.param(
        {"checkpointKey": {"existingSecret": ""}},
        "checkpointJob.enabled: set checkpointKey.existingSecret",
        id="checkpoints-without-key",
    ),
    pytest.param(
        {"checkpointJob": {"schedule": "5 4 * * 1-5"}},
        'checkpointJob.schedule "5 4 * * 1-5": set checkpointJob.periodSeconds',
        id="checkpoint-period-unknown",
    ),
    pytest.param(
        {"components": {"review": {"metricsPort": 50051}}},
        "components.review: grpcPort and metricsPort are both 50051",
        id="metrics-on-the-grpc-port",
    ),
]


@pytest.mark.parametrize(("values", "expected"), SCHEMA_REFUSALS)
def test_schema_refuses_wrong_values(
    render_tool: Any, values: dict, expected: list[str]
) -> None:
    import helm_python

    with pytest.raises(helm_python.HelmValuesError) as refused:
        render_tool.render(values)
    message = str(refused.value)
    assert "values don't meet the specifications of the schema" in message
    for part in expected:
        assert part in message, message


@pytest.mark.parametrize(("values", "expected"), TEMPLATE_REFUSALS)
def test_chart_refuses_inconsistent_values(
    render: Any, values: dict, expected: str
) -> None:
    """Each on top of values that render (ci/default-values.yaml)."""
    import helm_python

    with pytest.raises(helm_python.HelmRenderError, match=re.escape(expected)):
        render(values)


def test_chart_defaults_alone_refuse_to_render(render_tool: Any) -> None:
    """A production release that could not start is refused, naming every
    value to set, all in one message."""
    import helm_python

    with pytest.raises(helm_python.HelmRenderError) as refused:
        render_tool.render({})
    message = str(refused.value)
    assert "the values need 2 changes:" in message
    assert (
        "  - set auth.jwks.existingConfigMap, auth.issuer, auth.audience: with"
        " environment production the services verify callers' tokens with the"
        " issuer's key set and refuse to start without it"
    ) in message
    assert "  - checkpointJob.enabled: set checkpointKey.existingSecret" in message


def test_development_needs_no_token_keys(render: Any) -> None:
    """The token check is production's: a throwaway development cluster renders."""
    objects = render({"environment": "development", "auth": {"jwks": {"existingConfigMap": ""},
                                                             "issuer": "", "audience": ""}})
    assert [o for o in objects if o.kind == "Deployment"]


@pytest.mark.parametrize(
    ("schedule", "period"),
    [
        ("17 * * * *", 3600),
        ("*/20 * * * *", 1200),
        ("0 */6 * * *", 21600),
        ("30 2 * * *", 86400),
        ("@hourly", 3600),
    ],
)
def test_checkpoint_alert_follows_the_schedule(
    render: Any, find: Any, schedule: str, period: int
) -> None:
    objects = render(
        {
            "checkpointJob": {"schedule": schedule},
            "metrics": {"prometheusRule": {"enabled": True}},
        }
    )
    rule = find(objects, "PrometheusRule", "laurel")
    [alert] = [
        r for r in rule["spec"]["groups"][0]["rules"] if r["alert"] == "LaurelCheckpointOverdue"
    ]
    assert alert["expr"].rstrip().endswith(f"> {2 * period}")
    assert find(objects, "CronJob", "laurel-audit-checkpoint")["spec"]["schedule"] == schedule


def test_values_the_schema_lets_through_still_fail_validation(
    render: Any,
    find: Any,
    kubernetes_validate: Any,
    kubernetes_versions: tuple[str, ...],
) -> None:
    """`tolerations` and `affinity` are passed through to Kubernetes as they
    are; a wrong one renders, and kubernetes-validate catches it offline."""
    objects = render(
        {
            "components": {
                "review": {
                    "tolerations": [
                        {
                            "key": "dedicated",
                            "operator": "Exists",
                            "tolerationSeconds": "soon",
                        }
                    ],
                }
            }
        }
    )
    review = find(objects, "Deployment", "laurel-review")
    with pytest.raises(kubernetes_validate.ValidationError) as caught:
        kubernetes_validate.validate(review, kubernetes_versions[0], strict=True)
    assert "soon" in caught.value.message
    kubernetes_validate.validate(
        find(objects, "Deployment", "laurel-intake"),
        kubernetes_versions[0],
        strict=True,
    )


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
                ports=[{"containerPort": "grpc"}]
            ),
            "'grpc' is not of type 'integer'",
            id="named-container-port",
        ),
        pytest.param(
            lambda d: d["spec"].update(replica=2),
            "Additional properties are not allowed ('replica' was unexpected)",
            id="unknown-field",
        ),
        pytest.param(
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["startupProbe"][
                "grpc"
            ].pop("port"),
            "'port' is a required property",
            id="probe-without-port",
        ),
        pytest.param(
            lambda d: d["spec"].pop("selector"),
            "'selector' is a required property",
            id="no-selector",
        ),
    ],
)
def test_broken_objects_are_caught(
    renderings: dict,
    find: Any,
    kubernetes_validate: Any,
    kubernetes_versions: tuple[str, ...],
    mutate: Any,
    expected: str,
) -> None:
    deployment = copy.deepcopy(
        find(renderings["default"], "Deployment", "laurel-intake")
    )
    kubernetes_validate.validate(deployment, kubernetes_versions[0], strict=True)
    mutate(deployment)
    with pytest.raises(kubernetes_validate.ValidationError) as caught:
        kubernetes_validate.validate(deployment, kubernetes_versions[0], strict=True)
    assert expected in caught.value.message
