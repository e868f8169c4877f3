"""The chart renders, for every values case, into valid Kubernetes objects.

Cases: the chart's defaults, charts/laurel/ci/*-values.yaml and
deploy/values-*.yaml (see conftest.VALUES_CASES).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest


def test_every_object_is_valid_kubernetes(
    case: str, objects: list[Any], validate_object: Any, kubernetes_versions: tuple[str, ...]
) -> None:
    assert objects, f"{case} rendered nothing"
    problems = [
        f"{item} on Kubernetes {version}: {problem}"
        for item in objects
        for version in kubernetes_versions
        if (problem := validate_object(item.obj, version))
    ]
    assert not problems, "\n".join(problems)


def test_helm_lint_is_clean(
    values_files: list[Any], render_tool: Any, kubernetes_versions: tuple[str, ...]
) -> None:
    import helm_python

    report = helm_python.lint(
        render_tool.CHART,
        render_tool.load_values(values_files),
        strict=True,
        namespace=render_tool.NAMESPACE,
        kube_version=f"v{kubernetes_versions[0]}.0",
    )
    serious = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not serious, report


def test_object_names_are_unique_and_namespaced(case: str, objects: list[Any]) -> None:
    counts = Counter((o.kind, o.name) for o in objects)
    assert [k for k, n in counts.items() if n > 1] == []
    for item in objects:
        metadata = item.obj["metadata"]
        assert metadata.get("namespace") == "laurel", f"{item} has no namespace"
        assert metadata["labels"]["app.kubernetes.io/part-of"] == "laurel", item
        assert len(item.name) <= 63, item


def test_one_loop_over_shared_templates_renders_every_service(renderings: dict) -> None:
    """Service objects come only from templates/component.yaml (the loop)."""
    per_service = {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    }
    for case, objects in renderings.items():
        sources = {o.source for o in objects if o.kind in per_service}
        assert sources <= {"laurel/templates/component.yaml"}, (case, sources)


def test_component_settings_merge_over_default(renderings: dict, find: Any) -> None:
    minimal = renderings["ci/minimal-values.yaml"]
    names = {o.name for o in minimal if o.kind == "Deployment"}
    assert names == {
        "laurel-audit",
        "laurel-intake",
        "laurel-review",
        "laurel-scoring",
    }  # notification off
    assert find(minimal, "Deployment", "laurel-scoring")["spec"]["replicas"] == 1
    assert find(minimal, "Deployment", "laurel-intake")["spec"]["replicas"] == 2
    # `false` in a component turns off what `default` turns on.
    pdbs = {o.name for o in minimal if o.kind == "PodDisruptionBudget"}
    assert pdbs == {"laurel-audit", "laurel-intake", "laurel-review"}
    # null removes a default: the platform assigns the ids (OpenShift).
    openshift = renderings["ci/openshift-values.yaml"]
    context = find(openshift, "Deployment", "laurel-review")["spec"]["template"][
        "spec"
    ]["securityContext"]
    assert context == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_switches_off_render_no_optional_objects(renderings: dict) -> None:
    objects = renderings["ci/minimal-values.yaml"]
    kinds = Counter(o.kind for o in objects)
    assert kinds == {
        "ServiceAccount": 4,
        "Service": 4,
        "Deployment": 4,
        "PodDisruptionBudget": 3,
    }
    for item in objects:
        if item.kind == "Deployment":
            annotations = item.obj["spec"]["template"]["metadata"]["annotations"]
            assert not [a for a in annotations if a.startswith("prometheus.io/")]


def test_image_digest_is_used_by_every_container(renderings: dict) -> None:
    digest = "sha256:3f1b2c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"
    images = {
        container["image"]
        for item in renderings["ci/full-values.yaml"]
        for container in _containers(item.obj)
    }
    assert images == {f"registry.example.org/laurel/laurel@{digest}"}


def test_image_tag_defaults_to_app_version(renderings: dict) -> None:
    images = {c["image"] for o in renderings["default"] for c in _containers(o.obj)}
    assert images == {"laurel:0.1.0"}


def test_latest_tag_is_refused(render: Any) -> None:
    import helm_python

    with pytest.raises(helm_python.HelmRenderError, match="`latest` is refused"):
        render({"image": {"tag": "latest"}})


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    pod = spec.get("template", {}).get("spec") if "template" in spec else spec
    if not isinstance(pod, dict):
        return []
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def test_notes_warn_about_what_is_left_open(render_tool: Any) -> None:
    required = render_tool.load_values([render_tool.ROOT / "charts/laurel/ci/default-values.yaml"])
    notes = render_tool.render(required)["laurel/templates/NOTES.txt"]
    assert "helm test laurel -n laurel --logs" in notes
    assert "rollout status deployment/laurel-audit" in notes
    warnings = notes.split("WARNINGS", 1)[1]
    for setting in (
        "image.digest",
        "tls.existingSecret",
        "smtp.host",
        "metrics.scrapers",
        "kafka.networkPolicy.peers",
        "database.networkPolicy.peers",
    ):
        assert f"- {setting} is empty" in warnings, setting
    assert "kafka.securityProtocol is PLAINTEXT" in warnings
    assert "database.securityLogInDatabase is off" in warnings
    full = render_tool.load_values(
        [render_tool.ROOT / "charts/laurel/ci/full-values.yaml"]
    )
    assert "WARNINGS" not in render_tool.render(full)["laurel/templates/NOTES.txt"]
    development = render_tool.render({**required, "environment": "development"})
    assert "unsigned development tokens" in development["laurel/templates/NOTES.txt"]
    without_checkpoints = render_tool.merge_values(
        required, {"checkpointJob": {"enabled": False}, "checkpointKey": {"existingSecret": ""}}
    )
    warnings = render_tool.render(without_checkpoints)["laurel/templates/NOTES.txt"]
    assert "- checkpointKey.existingSecret is empty" in warnings
    assert "- checkpointJob.enabled is false" in warnings
