"""checkov policy scan of every rendering and of deploy/Dockerfile, run once.

checkov lives in its own venv (.venv-checkov; deploy/tools/install-tools.sh)
and its helm mode scans nothing offline, so the chart is rendered first and
the renderings are scanned as plain Kubernetes manifests. Checks skipped for
everything are in .checkov.yaml with their reasons; the ones accepted for one
case only are below with theirs.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CONFIG = ROOT / ".checkov.yaml"

# (values case, check): accepted findings, each with its reason.
EXPECTED_FINDINGS = {
    # OpenShift gives each namespace its own high UID range and picks the UID
    # itself; this case leaves runAsUser unset on purpose, so checkov cannot
    # see that the UID will be high. runAsNonRoot stays true.
    ("ci/openshift-values.yaml", "CKV_K8S_40"),
}

# A deliberately insecure Deployment: the scan must flag it, or it proves
# nothing about the others.
CANARY = "canary-insecure.yaml"
CANARY_MUST_FAIL = {
    "CKV_K8S_16",  # privileged container
    "CKV_K8S_20",  # allowPrivilegeEscalation
    "CKV_K8S_22",  # writable root filesystem
    "CKV_K8S_8",  # no liveness probe
}


def _file_of(case: str) -> str:
    """The scanned file of a case; checkov reads only *.yaml/*.yml files."""
    return case.replace("/", "__").removesuffix(".yaml") + ".yaml"


def _insecure(deployment: dict[str, Any]) -> dict[str, Any]:
    canary = copy.deepcopy(deployment)
    canary["metadata"]["name"] = "canary"
    container = canary["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"] = {
        "privileged": True,
        "allowPrivilegeEscalation": True,
        "readOnlyRootFilesystem": False,
    }
    container.pop("livenessProbe")
    return canary


@pytest.fixture(scope="module")
def checkov_report(
    renderings: dict[str, list[Any]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(
            f"checkov is not installed at {CHECKOV}: run deploy/tools/install-tools.sh"
        )
    folder = tmp_path_factory.mktemp("checkov")
    for case, objects in renderings.items():
        (folder / _file_of(case)).write_text(
            yaml.safe_dump_all([o.obj for o in objects], sort_keys=False)
        )
    intake = next(
        o.obj
        for o in renderings["default"]
        if o.kind == "Deployment" and o.name == "laurel-intake"
    )
    (folder / CANARY).write_text(yaml.safe_dump(_insecure(intake), sort_keys=False))
    shutil.copy(ROOT / "deploy" / "Dockerfile", folder / "Dockerfile")
    result = subprocess.run(
        [
            str(CHECKOV),
            "--config-file",
            str(CONFIG),
            "--directory",
            str(folder),
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=folder,
    )
    if result.returncode not in (0, 1):
        pytest.fail(
            f"checkov failed to run ({result.returncode}):\n{result.stderr[-3000:]}"
        )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    return {report["check_type"]: report for report in reports}


def _findings(
    report: dict[str, Any], key: str = "failed_checks"
) -> set[tuple[str, str]]:
    return {
        (Path(f["file_path"]).name, f["check_id"])
        for f in report["results"].get(key, [])
    }


def test_renderings_pass_the_policy_scan(checkov_report: dict[str, Any]) -> None:
    found = _findings(checkov_report["kubernetes"])
    expected = {(_file_of(case), check) for case, check in EXPECTED_FINDINGS}
    unexpected = sorted(f for f in found - expected if f[0] != CANARY)
    assert not unexpected, "checkov findings:\n" + "\n".join(
        f"{file}: {check}" for file, check in unexpected
    )
    # An accepted finding that no longer occurs is a stale exception.
    assert expected <= found, f"stale EXPECTED_FINDINGS: {sorted(expected - found)}"


def test_scan_covered_every_rendering(
    checkov_report: dict[str, Any], renderings: dict
) -> None:
    report = checkov_report["kubernetes"]
    scanned = {name for name, _ in _findings(report, "passed_checks")}
    assert {_file_of(case) for case in renderings} <= scanned
    assert report["summary"]["parsing_errors"] == 0


def test_scan_flags_an_insecure_deployment(checkov_report: dict[str, Any]) -> None:
    flagged = {
        check
        for file, check in _findings(checkov_report["kubernetes"])
        if file == CANARY
    }
    assert flagged >= CANARY_MUST_FAIL, f"checkov missed {CANARY_MUST_FAIL - flagged}"


def test_dockerfile_passes_the_policy_scan(checkov_report: dict[str, Any]) -> None:
    report = checkov_report["dockerfile"]
    assert report["summary"]["failed"] == 0, _findings(report)
    passed = {check for _, check in _findings(report, "passed_checks")}
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3"} <= passed  # healthcheck, user
    # The tag check cannot read a FROM through its build ARG; it is skipped in
    # the Dockerfile, and test_dockerfile.py checks the pin more strictly.
    skipped = {check for _, check in _findings(report, "skipped_checks")}
    assert skipped == {"CKV_DOCKER_7"}


def test_every_suppression_says_why(renderings: dict) -> None:
    config = CONFIG.read_text()
    for check in yaml.safe_load(config)["skip-check"]:
        # `# CHECK "title". reason…`, the reason on that line or the next.
        reason = re.search(
            rf'^\s*# {check} "[^"\n]+"\.\s+(?:#\s+)?\w', config, re.MULTILINE
        )
        assert reason, f"{check} is skipped in .checkov.yaml without a reason above it"
    inline = re.findall(r"checkov:skip=(\S+?):(.*)", (ROOT / "deploy/Dockerfile").read_text())
    assert [check for check, _ in inline] == ["CKV_DOCKER_7"]
    assert all(len(why.strip()) > 20 for _, why in inline), inline
    for objects in renderings.values():
        for item in objects:
            for key, value in (item.obj["metadata"].get("annotations") or {}).items():
                if key.startswith("checkov.io/skip"):
                    check, _, why = value.partition("=")
                    assert re.fullmatch(r"CKV2?_K8S_\d+", check) and len(why) > 20, (
                        value
                    )
