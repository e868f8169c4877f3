"""deploy/Dockerfile, read as text: no container engine runs here, so the
image's promises are checked on the file that makes them."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BASE = re.compile(r"^python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$")
BUILD_TOOLS = re.compile(
    r"\b(gcc|g\+\+|cc|clang|make|build-essential|apt-get|apt|pip install"
    r"|python3?-dev)\b"
)


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> list[Stage]:
    """Stages of a Dockerfile: continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(" ".join((pending + stripped).split()))
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_multi_stage_on_one_pinned_base(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    for stage in stages:
        assert BASE.match(stage.base), (
            f"{stage.base}: pin python:3.11.<patch>-slim-bookworm"
        )
    # The venv built in one stage runs in the other: same interpreter.
    assert len({stage.base for stage in stages}) == 1


def test_builder_installs_the_lock_and_generates_grpc_code(stages: list[Stage]) -> None:
    builder = stages[0]
    runs = " ".join(builder.args("RUN"))
    assert "-r /tmp/requirements.lock" in runs and "pip check" in runs
    makefile = (ROOT / "Makefile").read_text()
    for flag in ("-I proto", "--python_out=", "--pyi_out=", "--grpc_python_out="):
        assert flag in makefile  # the same generation as `make proto`
    assert (
        "python -m grpc_tools.protoc -I proto --python_out=gen --pyi_out=gen "
        "--grpc_python_out=gen $(find proto -name '*.proto')"
    ) in runs
    assert "cp proto/python/pyproject.toml gen/pyproject.toml" in runs


def test_image_installs_every_distribution_of_make_install(stages: list[Stage]) -> None:
    """The wheels built into the image are the Makefile's DISTS plus gen/."""
    dists = re.search(r"^DISTS\s*:=\s*(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert dists, "Makefile has no DISTS"
    for dist in dists.group(1).split():
        assert (ROOT / dist / "pyproject.toml").is_file(), dist
    [wheel] = [run for run in stages[0].args("RUN") if "pip wheel" in run]
    words = shlex.split(wheel.split("&&")[0])
    built = words[words.index("/tmp/wheels") + 1:]
    assert built == ["gen", *dists.group(1).split()]


def test_final_stage_runs_as_a_numeric_non_root_user(final: Stage) -> None:
    [user] = final.args("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 10000, user
    assert not gid or (gid.isdigit() and int(gid) > 0), user
    # USER comes after every RUN: nothing later runs as root.
    keywords = [kw for kw, _ in final.instructions]
    assert keywords.index("USER") > max(
        i for i, kw in enumerate(keywords) if kw == "RUN"
    )


def test_final_stage_has_no_build_tools(final: Stage) -> None:
    for run in final.args("RUN"):
        assert not BUILD_TOOLS.search(run), run


def test_final_stage_copies_only_the_venv(final: Stage) -> None:
    copies = final.args("COPY")
    # Laurel is installed into the venv as wheels: the venv is all it needs.
    assert copies == ["--from=builder /opt/venv /opt/venv"]
    env = " ".join(final.args("ENV"))
    assert "PATH=/opt/venv/bin:$PATH" in env


def test_healthcheck_asks_grpc_health(final: Stage) -> None:
    [healthcheck] = final.args("HEALTHCHECK")
    assert 'CMD ["python", "-m", "laurel.healthcheck"]' in healthcheck
    assert "LAUREL_GRPC_PORT=50051" in " ".join(final.args("ENV"))


def test_build_context_is_limited_to_sources() -> None:
    ignore = (ROOT / "deploy" / "Dockerfile.dockerignore").read_text().split()
    assert ignore[ignore.index("*")] == "*"  # everything excluded, then allowed back
    assert {"!requirements.lock", "!requirements-dev.lock", "!proto/", "!shared/",
            "!services/"} <= set(ignore)


def test_parser_sees_a_bad_dockerfile() -> None:
    """The checks above fail on the mistakes they are for."""
    [stage] = parse(
        "FROM python:latest\nRUN apt-get install -y gcc \\\n  make\nUSER root\n"
    )
    assert not BASE.match(stage.base)
    assert BUILD_TOOLS.search(stage.args("RUN")[0])
    assert not stage.args("USER")[0].isdigit()
