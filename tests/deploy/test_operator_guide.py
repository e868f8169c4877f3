"""deploy/README.md's commands are the ones that work: each `helm install`,
`helm upgrade` and `helm template` in its shell blocks is rendered as written,
and the files its kubectl commands apply exist and are current."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "deploy" / "README.md"


def _shell_commands() -> list[str]:
    """Commands in ```sh blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"^\s*```sh\n(.*?)^\s*```", GUIDE.read_text(), re.S | re.M):
        pending = ""
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            if pending + line:
                commands.append(pending + line)
            pending = ""
    return commands


COMMANDS = _shell_commands()
HELM_RENDERED = [
    c for c in COMMANDS if re.match(r"helm (install|upgrade|template) ", c)
]


class _Refused(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # noqa: D102 (argparse API)
        raise _Refused(message)


def _helm_parser() -> argparse.ArgumentParser:
    """The helm flags the guide may use; any other flag fails the test."""
    parser = _Parser(prog="helm", add_help=False)
    parser.add_argument("verb", choices=["install", "upgrade", "template"])
    parser.add_argument("release")
    parser.add_argument("chart")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("-f", "--values", action="append", default=[])
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--set-string", action="append", default=[])
    parser.add_argument("--create-namespace", action="store_true")
    parser.add_argument("--install", action="store_true")
    parser.add_argument("--wait", action="store_true")
    parser.add_argument("--timeout")
    return parser


def _render_command(
    command: str, render_tool: Any
) -> tuple[argparse.Namespace, list[Any]]:
    words = shlex.split(command)
    assert words[0] == "helm"
    args = _helm_parser().parse_args(words[1:])
    assert (ROOT / args.chart).resolve() == render_tool.CHART, args.chart
    values = render_tool.load_values(
        [ROOT / f for f in args.values], args.set, args.set_string
    )
    rendered = render_tool.render(
        values, release=args.release, namespace=args.namespace
    )
    return args, render_tool.objects(rendered)


def test_guide_has_the_commands_it_promises() -> None:
    verbs = {c.split()[1] for c in HELM_RENDERED}
    assert verbs == {"install", "upgrade", "template"}
    installs = [c for c in HELM_RENDERED if c.startswith("helm install")]
    assert any("-f deploy/values-small.yaml" in c for c in installs)
    assert any("-f deploy/values-large.yaml" in c for c in installs)


@pytest.mark.parametrize(
    "command",
    HELM_RENDERED,
    ids=[re.sub(r"[^\w./-]+", "_", c[5:]) for c in HELM_RENDERED],
)
def test_guide_helm_command_renders(
    command: str, render_tool: Any, validate_object: Any, kubernetes_versions: tuple
) -> None:
    try:
        args, objects = _render_command(command, render_tool)
    except _Refused as refused:
        pytest.fail(f"{command!r}: {refused}")
    assert args.release == "laurel" and args.namespace == "laurel"
    problems = [f"{o}: {p}" for o in objects if (p := validate_object(o.obj, kubernetes_versions[0]))]
    assert not problems, "\n".join(problems)


def test_scale_commands_do_what_the_guide_says(render_tool: Any, find: Any) -> None:
    by_flag = {flag: c for c in HELM_RENDERED for flag in re.findall(r"--set (\S+)", c)}
    _, objects = _render_command(by_flag["components.scoring.replicas=4"], render_tool)
    assert find(objects, "Deployment", "laurel-scoring")["spec"]["replicas"] == 4
    assert find(objects, "Deployment", "laurel-intake")["spec"]["replicas"] == 1
    _, objects = _render_command(
        by_flag["components.intake.autoscaling.enabled=true"], render_tool
    )
    hpa = find(objects, "HorizontalPodAutoscaler", "laurel-intake")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert "replicas" not in find(objects, "Deployment", "laurel-intake")["spec"]


def test_rotation_command_mounts_the_new_key(render_tool: Any, find: Any) -> None:
    [command] = [c for c in HELM_RENDERED if "checkpointKey.existingSecret=" in c]
    new_secret = re.search(r"checkpointKey\.existingSecret=(\S+)", command).group(1)
    created = [
        c
        for c in COMMANDS
        if c.startswith("kubectl") and "create secret" in c and new_secret in c
    ]
    assert created, f"the guide never creates {new_secret}"
    _, objects = _render_command(command, render_tool)
    for service in ("intake", "scoring", "review", "notification"):
        pod = find(objects, "Deployment", f"laurel-{service}")["spec"]["template"][
            "spec"
        ]
        secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert secrets == {new_secret}


def test_upgrade_command_changes_the_image(render_tool: Any, find: Any) -> None:
    [command] = [c for c in HELM_RENDERED if "image.tag=" in c]
    _, objects = _render_command(command, render_tool)
    [container] = find(objects, "Deployment", "laurel-review")["spec"]["template"][
        "spec"
    ]["containers"]
    assert container["image"] == "laurel:0.2.0"


def test_guide_secrets_match_the_values(render_tool: Any) -> None:
    """The Secrets the guide creates are the ones the values files name."""
    created = " ".join(c for c in COMMANDS if "create secret" in c)
    for name in ("values-small.yaml", "values-large.yaml"):
        values = render_tool.load_values([ROOT / "deploy" / name])
        assert f"secret generic {values['database']['existingSecret']} " in created
        for service in ("intake", "scoring", "review", "notification"):
            assert f"--from-literal={service}=" in created
    large = render_tool.load_values([ROOT / "deploy" / "values-large.yaml"])
    assert f"secret generic {large['checkpointKey']['existingSecret']} " in created


def test_guide_kubectl_files_exist() -> None:
    applied = [
        w
        for c in COMMANDS
        if c.startswith("kubectl apply")
        for w in re.findall(r"-f (\S+)", c)
    ]
    assert applied == [
        "deploy/manifests/00-pre-install.yaml",
        "deploy/manifests/10-laurel.yaml",
    ]
    for path in applied:
        assert (ROOT / path).is_file(), path


def test_guide_parser_refuses_unknown_flags(render_tool: Any) -> None:
    with pytest.raises(_Refused):
        _render_command("helm install laurel charts/laurel --atomic", render_tool)
