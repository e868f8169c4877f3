"""deploy/manifests/ is the chart rendered with deploy/values-small.yaml, and
stays so: it is re-rendered here and compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MANIFESTS = Path(__file__).resolve().parents[2] / "deploy" / "manifests"


def test_manifests_are_up_to_date(render_tool: Any) -> None:
    diffs = render_tool.stale_manifests()
    assert not diffs, (
        "deploy/manifests/ differs from the chart; regenerate it with\n"
        "  .venv/bin/python deploy/tools/render.py manifests\n\n"
        + "".join(diffs)[:6000]
    )


def test_manifests_are_plain_kubernetes(
    kubernetes_validate: Any, kubernetes_versions: tuple[str, ...]
) -> None:
    documents = {
        path.name: [d for d in yaml.safe_load_all(path.read_text()) if d]
        for path in sorted(MANIFESTS.glob("*.yaml"))
    }
    assert sorted(documents) == ["00-pre-install.yaml", "10-laurel.yaml"]
    pre_install = {d["kind"] for d in documents["00-pre-install.yaml"]}
    assert pre_install == {"ServiceAccount", "NetworkPolicy", "Job"}
    for document in (d for docs in documents.values() for d in docs):
        kubernetes_validate.validate(document, kubernetes_versions[0], strict=True)
        assert document["kind"] != "Pod", "the helm test pod is not a plain manifest"
        annotations = document["metadata"].get("annotations") or {}
        assert not [a for a in annotations if a.startswith("helm.sh/hook")]
        assert (
            document["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubectl"
        )
    kinds = [d["kind"] for d in documents["10-laurel.yaml"]]
    assert kinds.index("ServiceAccount") < kinds.index("Deployment")
