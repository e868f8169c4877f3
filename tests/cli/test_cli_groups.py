"""Command groups come from the `laurel.cli` entry points of any distribution.

A distribution installed beside laurel-core (here: one made on the spot,
with real dist-info metadata on PYTHONPATH, as pip would leave it) adds its
group without laurel.cli naming it; a broken one does not break `laurel`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from laurel.cli import ENTRY_POINT_GROUP, command_groups
from laurel.cli_intake import STATUSES
from laurel.config import PROJECT_ROOT

PLUGIN = '''
import typer

app = typer.Typer(no_args_is_help=True)


@app.command()
def greet(name: str = "auditor") -> None:
    """Say hello."""
    print(f"hello {name}")
'''


def install(site: Path, distribution: str, module: str, source: str, entry: str) -> None:
    (site / f"{module}.py").write_text(source, "utf-8")
    info = site / f"{distribution}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n", "utf-8")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry}\n", "utf-8")


def laurel(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "laurel.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_laurel_core_registers_its_own_groups() -> None:
    groups = command_groups()
    assert groups["audit"].value == "laurel.audit.cli:app"
    assert groups["topics"].value == "laurel.cli_topics:app"


def test_another_distribution_adds_its_group_and_a_broken_one_is_one_line(
    tmp_path: Path,
) -> None:
    install(tmp_path, "laurel_greeter", "laurel_greeter_cli", PLUGIN,
            "greeter = laurel_greeter_cli:app")
    install(tmp_path, "laurel_broken", "laurel_broken_cli", "raise ImportError('no wheel')",
            "broken = laurel_broken_cli:app")

    listed = laurel(tmp_path, "--help")
    assert listed.returncode == 0, listed.stderr
    assert "greeter" in listed.stdout and "audit" in listed.stdout

    greeted = laurel(tmp_path, "greeter", "greet", "--name", "王芳")
    assert greeted.returncode == 0, greeted.stderr
    assert greeted.stdout == "hello 王芳\n"

    for args in (["broken"], ["broken", "verify", "--strict"]):
        broken = laurel(tmp_path, *args)
        assert broken.returncode == 2 and "Traceback" not in broken.stderr
        assert broken.stderr.splitlines() == [
            "laurel: the `broken` commands could not be loaded: ImportError: no wheel"]


def test_list_offers_exactly_the_statuses_the_api_documents() -> None:
    """`laurel list --status` accepts what GetNominationResponse.status may be."""
    proto = (PROJECT_ROOT / "proto/laurel/intake/v1/intake.proto").read_text("utf-8")
    documented = re.search(r"//\s*(draft(?:\s*\|\s*\w+)+)\s*\n\s*string status", proto)
    assert documented, "the status comment of GetNominationResponse moved"
    assert set(STATUSES) == {s.strip() for s in documented.group(1).split("|")}
