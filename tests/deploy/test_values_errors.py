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
    render_tool: Any, values: dict, expected: str
) -> None:
    import helm_python

    with pytest.raises(helm_python.HelmRenderError, match=re.escape(expected)):
        render_tool.render(values)


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
