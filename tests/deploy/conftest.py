"""Fixtures for the deployment tests: the chart rendered offline, once.

Helm runs as a library (helm-python-sdk), objects are checked against the
Kubernetes schemas of KUBERNETES_VERSION (kubernetes-validate) and scanned by
checkov from its own venv. deploy/tools/install-tools.sh installs all three;
a missing tool fails the tests that need it with that instruction, it never
skips them.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
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
COMPONENTS = (*SERVICES, "audit")
INSTALL_HINT = "run deploy/tools/install-tools.sh (after make install)"
# The chart's defaults alone refuse to render (no token keys, no checkpoint
# key); the "default" case is them plus the least an install must set.
REQUIRED_VALUES = CHART / "ci" / "default-values.yaml"


def _values_cases() -> dict[str, list[Path]]:
    """Every values input the project ships: chart defaults (with the
    required values), ci/, deploy/."""
    cases: dict[str, list[Path]] = {"default": [REQUIRED_VALUES]}
    for path in sorted((CHART / "ci").glob("*-values.yaml")):
        if path != REQUIRED_VALUES:
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


# The fields the chart writes in the kinds kubernetes-validate does not know,
# as their CRDs define them (Strimzi's KafkaTopic v1beta2/v1, the Prometheus
# Operator's ServiceMonitor and PrometheusRule v1), strict where we write.
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name", "namespace", "labels"],
    "properties": {"name": {"type": "string", "minLength": 1}, "labels": _LABELS},
}
CUSTOM_KINDS: dict[str, dict[str, Any]] = {
    "KafkaTopic": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"enum": ["kafka.strimzi.io/v1beta2", "kafka.strimzi.io/v1"]},
            "metadata": {
                "type": "object",
                "required": ["name", "labels"],
                "properties": {
                    "labels": {"type": "object", "required": ["strimzi.io/cluster"]},
                },
            },
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["topicName", "partitions", "replicas"],
                "properties": {
                    "topicName": {"type": "string", "minLength": 1},
                    "partitions": {"type": "integer", "minimum": 1},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                    "config": {"type": "object"},
                },
            },
        },
    },
    "ServiceMonitor": {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "ServiceMonitor"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["selector", "endpoints"],
                "properties": {
                    "selector": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"matchLabels": _LABELS},
                    },
                    "namespaceSelector": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "matchNames": {"type": "array", "items": {"type": "string"}}
                        },
                    },
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["port"],
                            "properties": {
                                "port": {"type": "string"},
                                "path": {"type": "string", "pattern": "^/"},
                                "interval": {
                                    "type": "string",
                                    "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?"
                                    "(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
                                },
                                "relabelings": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "properties": {
                                            "sourceLabels": {
                                                "type": "array",
                                                "items": {
                                                    "type": "string",
                                                    "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$",
                                                },
                                            },
                                            "targetLabel": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "PrometheusRule": {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "PrometheusRule"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "groups": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["name", "rules"],
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "rules": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "required": ["alert", "expr"],
                                        "properties": {
                                            "alert": {
                                                "type": "string",
                                                "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$",
                                            },
                                            "expr": {"type": "string", "minLength": 1},
                                            "for": {
                                                "type": "string",
                                                "pattern": "^(0|(([0-9]+)h)?(([0-9]+)m)?"
                                                "(([0-9]+)s)?)$",
                                            },
                                            "labels": _LABELS,
                                            "annotations": _LABELS,
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            },
        },
    },
}


@pytest.fixture(scope="session")
def validate_object(kubernetes_validate: ModuleType) -> Callable[[dict, str], str]:
    """validate_object(obj, version): "" when valid, else the first problem.
    Built-in kinds against Kubernetes' schemas (strict), the others against
    CUSTOM_KINDS."""
    import jsonschema  # installed with kubernetes-validate

    def _validate(obj: dict[str, Any], version: str) -> str:
        if obj["kind"] in CUSTOM_KINDS:
            try:
                jsonschema.validate(obj, CUSTOM_KINDS[obj["kind"]])
            except jsonschema.ValidationError as error:
                return f"{error.message} at {list(error.absolute_path)}"
            return ""
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            return f"{error.message} at {'.'.join(map(str, error.path))}"
        return ""

    return _validate


@pytest.fixture(scope="session")
def kubernetes_validate() -> ModuleType:
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail(f"kubernetes-validate is not installed: {INSTALL_HINT}")
    return kubernetes_validate


@pytest.fixture
def render(render_tool: ModuleType) -> Callable[..., list[Any]]:
    """Render the given user values over the required ones; returns the objects."""

    def _render(values: Mapping[str, Any] | None = None, **options: Any) -> list[Any]:
        merged = render_tool.merge_values(
            render_tool.load_values([REQUIRED_VALUES]), values or {}
        )
        return render_tool.objects(render_tool.render(merged, **options))

    return _render


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test asking for `case` runs for every values case; `service`, per
    service with a store; `component`, per component (the services and audit)."""
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", list(VALUES_CASES))
    if "service" in metafunc.fixturenames:
        metafunc.parametrize("service", SERVICES)
    if "component" in metafunc.fixturenames:
        metafunc.parametrize("component", COMPONENTS)


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


class LocalPod:
    """A rendered container made runnable on this machine, as the kubelet
    would: each mount path M becomes a folder under `root` holding the files
    given for M; each secretKeyRef is resolved from `secrets` (those not
    given are left out of `env` and listed in `unresolved`); settings and
    arguments naming a path under a mount (/tmp too) are rewritten to it."""

    def __init__(
        self,
        container: Mapping[str, Any],
        root: Path,
        files: Mapping[str, Mapping[str, bytes]] = {},  # noqa: B006 (read only)
        secrets: Mapping[tuple[str, str], str] = {},  # noqa: B006 (read only)
    ) -> None:
        self.paths: dict[str, Path] = {}
        for mount in container.get("volumeMounts", []):
            local = root / mount["mountPath"].strip("/")
            local.mkdir(parents=True, exist_ok=True)
            for name, content in files.get(mount["mountPath"], {}).items():
                (local / name).write_bytes(content)
            self.paths[mount["mountPath"]] = local
        unknown = set(files) - set(self.paths)
        assert not unknown, f"files given for paths the container does not mount: {unknown}"
        self.env: dict[str, str] = {}
        self.unresolved: dict[str, tuple[str, str]] = {}
        for variable in container.get("env", []):
            if "valueFrom" in variable:
                ref = variable["valueFrom"]["secretKeyRef"]
                if (ref["name"], ref["key"]) in secrets:
                    self.env[variable["name"]] = secrets[(ref["name"], ref["key"])]
                else:
                    self.unresolved[variable["name"]] = (ref["name"], ref["key"])
            else:
                self.env[variable["name"]] = self.local(variable["value"])

    def local(self, value: str) -> str:
        """`value` with a mounted path prefix replaced by its local folder."""
        for mount, local in self.paths.items():
            if value == mount or value.startswith(mount + "/"):
                return str(local) + value[len(mount):]
        return value

    def command(self, words: Sequence[str]) -> list[str]:
        return [self.local(w) for w in words]


@pytest.fixture
def local_pod(tmp_path: Path) -> Callable[..., LocalPod]:
    """local_pod(container, files={mountPath: {name: bytes}}, secrets={(secret, key): value})."""

    def _make(container: Mapping[str, Any], **options: Any) -> LocalPod:
        return LocalPod(container, tmp_path / "pod", **options)

    return _make


# --- commands: parsed by the program that runs them -------------------------


def _refusal(parser: argparse.ArgumentParser, words: list[str]) -> str:
    """Parse as the program would: "" when accepted (or help printed), else
    the program's own complaint."""
    complaint = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(complaint):
        try:
            parser.parse_args(words)
        except SystemExit as exit:
            if exit.code not in (0, None):
                return complaint.getvalue().strip().splitlines()[-1]
    return ""


def _click_refusal(command: Any, words: list[str]) -> str:
    """Parse `words` as the `laurel` command (Typer) would, group by group down
    to the command, running nothing: "" when accepted (or help asked), else
    the program's own complaint."""
    from typer._click import exceptions as click_errors

    name, parent, args = "laurel", None, list(words)
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        try:
            while True:
                ctx = command.make_context(name, args, parent=parent)
                if not hasattr(command, "resolve_command"):
                    return ""
                rest = [*ctx._protected_args, *ctx.args]  # noqa: SLF001 (click's own)
                if not rest:  # a group that is also a command (`laurel migrate`) runs
                    return "" if command.invoke_without_command else "missing command"
                name, command, args = command.resolve_command(ctx, rest)
                parent = ctx
        except click_errors.Exit as done:
            return "" if done.exit_code == 0 else f"exit status {done.exit_code}"
        except click_errors.UsageError as error:
            return error.format_message()


def _entry_point_problem(command: Sequence[str]) -> str:
    """Why `command` would not run, or "" when it would."""
    from laurel import cli, healthcheck

    command = list(command)
    if command[0] == "laurel":
        refused = _click_refusal(cli.application(), command[1:])
        return refused and f"laurel: {refused}"
    if command[:2] != ["python", "-m"]:
        return f"unknown program {command[0]}"
    module, args = command[2], command[3:]
    spec = importlib.util.find_spec(module)
    if spec is None:
        return f"no module {module}"
    if spec.submodule_search_locations is not None and importlib.util.find_spec(
            f"{module}.__main__") is None:
        return f"{module} is a package without __main__"
    if module == "laurel.healthcheck":
        refused = _refusal(healthcheck._parser(), args)  # noqa: SLF001
    elif module == "laurel.audit":  # `python -m laurel.audit X` is `laurel audit X`
        refused = _click_refusal(cli.application(), ["audit", *args])
    elif args:
        return f"{module} takes no arguments, got {args}"
    else:
        refused = ""
    return refused and f"{module}: {refused}"


@pytest.fixture(scope="session")
def entry_point_problem() -> Callable[[Sequence[str]], str]:
    """entry_point_problem(command): "" when the image would run `command`
    (`laurel …` or `python -m laurel.…`, parsed by the real parser), else why not."""
    return _entry_point_problem


@pytest.fixture
def fill_intake() -> Callable[..., Any]:
    """fill_intake(url, data_dir): intake's store at `url` migrated (as the
    chart's hook does) and holding real events: the campaign definitions
    intake records at start and some organizations. Returns the runtime
    (`.store`, `.app`); close its store when done."""
    async def fill(url: str, data_dir: Path, organizations: int = 6, **env: str) -> Any:
        from laurel.cli import main as laurel
        from laurel.demo import ORGANIZER, demo_organizations
        from laurel.envelope import Caller
        from laurel.intake.bootstrap import build
        from laurel.intake.domain.commands import RegisterOrganization
        from laurel.intake.domain.organizations import Organization
        from laurel.intake.settings import IntakeSettings

        assert laurel(["migrate", "--service", "intake", "--database", url]) == 0
        settings = IntakeSettings.load({
            "LAUREL_ENV": "development", "LAUREL_DATABASE_URL": url,
            "LAUREL_DATA_DIR": str(data_dir), "LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9",
            "LAUREL_GRPC_PORT": "0", **env})  # never intake's usual port: it may be taken
        runtime = await build(settings, with_relay=False)
        for org in demo_organizations()[:organizations]:
            runtime.app.handle(RegisterOrganization(
                Caller(ORGANIZER, correlation_id="fill-intake"), Organization(**org)))
        return runtime

    return fill
