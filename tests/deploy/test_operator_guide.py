"""deploy/README.md's commands are the ones that work: each `helm install`,
`helm upgrade` and `helm template` in its shell blocks is rendered as written,
the Secrets and ConfigMaps the values use are the ones it creates, the
commands it runs in pods are known to the image, its key commands make keys
Laurel loads, and the files its kubectl commands apply exist and are current."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

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
    problems = [
        f"{o}: {p}" for o in objects if (p := validate_object(o.obj, kubernetes_versions[0]))
    ]
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
    """The new key reaches the audit service and the checkpoint CronJob, and
    still no other component."""
    [command] = [c for c in HELM_RENDERED if "checkpointKey.existingSecret=" in c]
    new_secret = re.search(r"checkpointKey\.existingSecret=(\S+)", command).group(1)
    created = [
        c
        for c in COMMANDS
        if c.startswith("kubectl") and "create secret" in c and new_secret in c
    ]
    assert created, f"the guide never creates {new_secret}"
    _, objects = _render_command(command, render_tool)
    audit = find(objects, "Deployment", "laurel-audit")["spec"]["template"]["spec"]
    cron = find(objects, "CronJob", "laurel-audit-checkpoint")["spec"]["jobTemplate"]["spec"][
        "template"]["spec"]
    for pod in (audit, cron):
        [key] = [v for v in pod["volumes"] if v["name"] == "checkpoint-key"]
        assert key["secret"]["secretName"] == new_secret
    for service in ("intake", "scoring", "review", "notification"):
        pod = find(objects, "Deployment", f"laurel-{service}")["spec"]["template"]["spec"]
        assert "checkpoint-key" not in {v["name"] for v in pod["volumes"]}


def test_upgrade_command_changes_the_image(render_tool: Any, find: Any) -> None:
    [command] = [c for c in HELM_RENDERED if "image.tag=" in c]
    _, objects = _render_command(command, render_tool)
    [container] = find(objects, "Deployment", "laurel-review")["spec"]["template"][
        "spec"
    ]["containers"]
    assert container["image"] == "laurel:0.2.0"


def _referenced(objects: list[Any]) -> dict[str, set[str]]:
    """Secret and ConfigMap names the rendered pods use -> the keys they read."""
    used: dict[str, set[str]] = {}
    for item in objects:
        spec = item.obj.get("spec") or {}
        spec = spec.get("jobTemplate", {}).get("spec", spec)
        pod = spec.get("template", {}).get("spec") or (spec if item.kind == "Pod" else {})
        for volume in pod.get("volumes", []):
            source = volume.get("secret") or volume.get("configMap")
            if source:
                name = source.get("secretName") or source.get("name")
                used.setdefault(name, set()).update(i["key"] for i in source.get("items", []))
        for container in pod.get("containers", []):
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    used.setdefault(ref["name"], set()).add(ref["key"])
    made_by_chart = {o.name for o in objects if o.kind in ("ConfigMap", "Secret")}
    return {name: keys for name, keys in used.items() if name not in made_by_chart}


def _made_by_guide() -> dict[str, set[str]]:
    """Secret and ConfigMap names the guide's commands and example files
    create -> the keys they hold."""
    made: dict[str, set[str]] = {}
    for command in COMMANDS:
        found = re.search(r"create (?:secret generic|configmap) (\S+)", command)
        if found:  # the same name twice: alternatives (small or production)
            made.setdefault(found.group(1), set()).update(
                re.findall(r"--from-(?:literal|file)=([^=\s]+)=", command))
    for path in (ROOT / "deploy" / "examples").glob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] == "Certificate":
                made[document["spec"]["secretName"]] = {"tls.crt", "tls.key", "ca.crt"}
    return made


@pytest.mark.parametrize("values_file", ["values-small.yaml", "values-large.yaml"])
def test_guide_creates_every_secret_and_configmap_the_values_use(
    values_file: str, render_tool: Any
) -> None:
    """Following the guide leaves nothing a pod mounts or reads missing: each
    Secret and ConfigMap exists, with each key the pods read."""
    objects = render_tool.objects(
        render_tool.render(render_tool.load_values([ROOT / "deploy" / values_file]))
    )
    made = _made_by_guide()
    missing = {
        name: sorted(keys - made.get(name, set()))
        for name, keys in _referenced(objects).items()
        if name not in made or not keys <= made[name]
    }
    assert not missing, f"{values_file}: not created by the guide (name: keys): {missing}"


def test_guide_certificate_names_every_service(render_tool: Any) -> None:
    """The example Certificate is the Secret values-large.yaml uses, names
    every component's Service as its clients and probes address it, and
    allows client authentication (the probes' client certificate)."""
    [certificate] = yaml.safe_load_all(
        (ROOT / "deploy" / "examples" / "grpc-certificate.yaml").read_text())
    values = render_tool.load_values([ROOT / "deploy" / "values-large.yaml"])
    assert certificate["spec"]["secretName"] == values["tls"]["existingSecret"]
    objects = render_tool.objects(render_tool.render(values))
    services = sorted(o.name for o in objects if o.kind == "Service")
    assert len(services) == 5
    names = set(certificate["spec"]["dnsNames"])
    for service in services:
        assert {service, f"{service}.laurel.svc"} <= names, service
    probe_names = {
        c["readinessProbe"]["exec"]["command"][-1]
        for o in objects if o.kind == "Deployment"
        for c in o.obj["spec"]["template"]["spec"]["containers"]
    }
    assert probe_names == set(services)  # --server-name is the last argument
    assert {"server auth", "client auth"} <= set(certificate["spec"]["usages"])


def test_guide_commands_in_pods_are_known(entry_point_problem: Any, render_tool: Any,
                                          find: Any) -> None:
    """`kubectl exec deploy/X -- COMMAND`: X exists, and X's image runs COMMAND."""
    objects = render_tool.objects(
        render_tool.render(render_tool.load_values([ROOT / "deploy" / "values-large.yaml"])))
    execs = [c for c in COMMANDS if c.startswith("kubectl") and " exec " in c]
    assert execs, "the guide runs nothing in a pod"
    for command in execs:
        target, _, program = command.partition(" -- ")
        deployment = re.search(r"exec deploy/(\S+)", target).group(1)
        find(objects, "Deployment", deployment)
        assert entry_point_problem(shlex.split(program)) == "", command


def test_guide_key_commands_make_a_key_laurel_accepts(tmp_path: Path) -> None:
    """The openssl commands, run as written, give a signing key and public
    key the audit tools load."""
    from laurel.audit import key_id, load_public_key, load_signing_key

    commands = [c for c in COMMANDS if c.startswith("openssl")]
    assert any("genpkey -algorithm ed25519 -out checkpoint.key" in c for c in commands)
    for command in commands:
        subprocess.run(shlex.split(command), cwd=tmp_path, check=True, timeout=60,
                       capture_output=True)
    key = load_signing_key(tmp_path / "checkpoint.key")
    public = load_public_key((tmp_path / "checkpoint.pub").read_bytes())
    assert key_id(key.public_key()) == key_id(public)
    load_signing_key(tmp_path / "checkpoint-2026-07.key")


def test_guide_kubectl_files_exist() -> None:
    applied = [
        w
        for c in COMMANDS
        if c.startswith("kubectl apply")
        for w in re.findall(r"-f (\S+)", c)
    ]
    assert applied == [
        "deploy/examples/grpc-certificate.yaml",
        "deploy/manifests/00-pre-install.yaml",
        "deploy/manifests/10-laurel.yaml",
    ]
    for path in applied:
        assert (ROOT / path).is_file(), path


def test_guide_parser_refuses_unknown_flags(render_tool: Any) -> None:
    with pytest.raises(_Refused):
        _render_command("helm install laurel charts/laurel --atomic", render_tool)


# -- every command: run, or parsed by what runs it ------------------------------------

# The guide's commands that act on a database or a store: run as written.
RUN_AS_WRITTEN = [c for c in COMMANDS if c.startswith(("laurel ", "psql "))]


def _kubectl_parser() -> argparse.ArgumentParser:
    """The kubectl verbs and flags the guide may use (without a cluster, the
    commands that need one are parsed, not run); anything else fails."""
    parser = _Parser(prog="kubectl", add_help=False)
    parser.add_argument("-n", "--namespace")
    parser.add_argument("verb", choices=["create", "get", "apply", "delete", "wait",
                                         "rollout", "logs", "exec", "cp"])
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _how_checked(command: str) -> str:
    """Which test runs or parses `command` (empty: none does)."""
    words = shlex.split(command.split(" | ")[0].split(" > ")[0])
    program = words[0]
    if command in RUN_AS_WRITTEN:
        return "run as written (test_guide_data_commands_run_as_written)"
    if program == "helm":
        if command in HELM_RENDERED:
            return "rendered"
        verb = words[1]
        return "helm needs a cluster" if verb in ("test", "history", "rollback") else ""
    if program == "openssl":
        return "run (test_guide_key_commands_make_a_key_laurel_accepts)"
    if program == "kubectl":
        args = _kubectl_parser().parse_args(words[1:])
        if args.verb == "exec":
            return "parsed by the image's program (test_guide_commands_in_pods_are_known)"
        if args.verb == "create":
            return "names checked (test_guide_creates_every_secret_and_configmap_the_values_use)"
        if args.verb == "apply":
            return "files checked (test_guide_kubectl_files_exist)"
        if args.verb == "rollout":
            assert args.rest[0] in ("status", "restart"), command
        return "parsed; needs a cluster"
    if program == "make":
        assert f"\n{words[1]}:" in (ROOT / "Makefile").read_text(), command
        return "a Makefile target"
    if program == "docker":
        if words[1] == "build":
            assert (ROOT / words[words.index("-f") + 1]).is_file(), command
        return "parsed; needs a container engine"
    return ""


def test_every_command_in_the_guide_is_run_or_parsed() -> None:
    unchecked = [c for c in COMMANDS if not _how_checked(c)]
    assert not unchecked, unchecked
    assert any(c.startswith("laurel backup") for c in RUN_AS_WRITTEN)
    assert any(c.startswith("laurel restore") for c in RUN_AS_WRITTEN)


@pytest.mark.postgres
async def test_guide_data_commands_run_as_written(
    postgres_url: str, tmp_path: Path, fill_intake: Any
) -> None:
    """The backup, restore, verify, replay and republish commands, as the guide
    writes them, in its order, on a PostgreSQL intake store with real events
    and a signed checkpoint (keys made by the guide's own openssl commands),
    and on a SQLite one under var/."""
    import os
    import sys

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from laurel.cli import main as laurel

    for command in (c for c in COMMANDS if c.startswith("openssl")):
        subprocess.run(shlex.split(command), cwd=tmp_path, check=True, timeout=60,
                       capture_output=True)
    for url in (postgres_url, f"sqlite:///{tmp_path / 'var' / 'intake.sqlite'}"):
        runtime = await fill_intake(url, tmp_path / "data")
        runtime.store.close()
    assert laurel(["audit", "checkpoint", "--database", f"intake={postgres_url}",
                   "--key", str(tmp_path / "checkpoint.key")]) == 0
    admin = make_url(postgres_url).set(drivername="postgresql", database="postgres")
    restored = make_url(postgres_url).set(database="laurel_intake_restored")
    server = create_engine(admin.set(drivername="postgresql+psycopg"),
                           isolation_level="AUTOCOMMIT")
    drop = text('DROP DATABASE IF EXISTS "laurel_intake_restored" WITH (FORCE)')
    with server.connect() as conn:
        conn.execute(drop)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "INTAKE_URL": postgres_url,
           "ADMIN_URL": admin.render_as_string(hide_password=False),
           "RESTORED_INTAKE_URL": restored.render_as_string(hide_password=False)}
    try:
        for command in RUN_AS_WRITTEN:
            done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    finally:
        with server.connect() as conn:
            conn.execute(drop)
        server.dispose()
    assert (tmp_path / "var" / "restored" / "intake.sqlite").is_file()
