"""Fixtures for the deployment tests: the chart rendered offline, once.

Helm runs as a library (helm-python-sdk), objects are checked against the
Kubernetes schemas of KUBERNETES_VERSION (kubernetes-validate) and scanned by
checkov from its own venv. deploy/tools/install-tools.sh installs all three;
a missing tool fails the tests that need it with that instruction, it never
skips them.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "laurel"

# The Kubernetes release every rendered object is validated against, and the
# oldest one the chart supports (Chart.yaml kubeVersion; built-in gRPC probes
# are GA from 1.27). Objects are validated against both.
KUBERNETES_VERSION = "1.31"
OLDEST_KUBERNETES_VERSION = "1.27"

SERVICES = ("intake", "scoring", "review", "notification")
INSTALL_HINT = "run deploy/tools/install-tools.sh (after make install)"


def _values_cases() -> dict[str, list[Path]]:
    """Every values input the project ships: chart defaults, ci/, deploy/."""
    cases: dict[str, list[Path]] = {"default": []}
    for path in sorted((CHART / "ci").glob("*-values.yaml")):
        cases[f"ci/{path.name}"] = [path]
    for path in sorted((ROOT / "deploy").glob("values-*.yaml")):
        cases[f"deploy/{path.name}"] = [path]
    return cases


VALUES_CASES = _values_cases()


def _load_render_tool() -> ModuleType:
    try:
        import helm_python  # noqa: F401
    except ImportError:
        pytest.fail(f"helm-python-sdk is not installed: {INSTALL_HINT}")
    name = "laurel_deploy_render"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, ROOT / "deploy/tools/render.py"
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def render_tool() -> ModuleType:
    """deploy/tools/render.py, the renderer the manifests are made with."""
    return _load_render_tool()


@pytest.fixture(scope="session")
def renderings(render_tool: ModuleType) -> dict[str, list[Any]]:
    """Case name -> rendered objects, for every case in VALUES_CASES."""
    return {
        case: render_tool.objects(render_tool.render(render_tool.load_values(files)))
        for case, files in VALUES_CASES.items()
    }


@pytest.fixture(scope="session")
def kubernetes_validate() -> ModuleType:
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail(f"kubernetes-validate is not installed: {INSTALL_HINT}")
    return kubernetes_validate


@pytest.fixture
def render(render_tool: ModuleType) -> Callable[..., list[Any]]:
    """Render with the given user values; returns the objects."""

    def _render(values: Mapping[str, Any] | None = None, **options: Any) -> list[Any]:
        return render_tool.objects(render_tool.render(values or {}, **options))

    return _render


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test asking for `case` runs for every values case; `service`, per service."""
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", list(VALUES_CASES))
    if "service" in metafunc.fixturenames:
        metafunc.parametrize("service", SERVICES)


@pytest.fixture
def objects(case: str, renderings: dict[str, list[Any]]) -> list[Any]:
    """The rendered objects of this test's values case."""
    return renderings[case]


@pytest.fixture
def values_files(case: str) -> list[Path]:
    """The values files of this test's case (`helm -f` order)."""
    return VALUES_CASES[case]


@pytest.fixture(scope="session")
def kubernetes_versions() -> tuple[str, str]:
    return (KUBERNETES_VERSION, OLDEST_KUBERNETES_VERSION)


def _find(objects: list[Any], kind: str, name: str) -> dict[str, Any]:
    """The one object of `kind` named `name`, or a failure listing what exists."""
    matches = [o.obj for o in objects if o.kind == kind and o.name == name]
    if len(matches) != 1:
        present = sorted(str(o) for o in objects if o.kind == kind)
        pytest.fail(
            f"expected one {kind}/{name}, found {len(matches)}; {kind}s: {present}"
        )
    return matches[0]


@pytest.fixture(scope="session")
def find() -> Callable[[list[Any], str, str], dict[str, Any]]:
    """find(objects, kind, name): the one object, or a failure saying what exists."""
    return _find
