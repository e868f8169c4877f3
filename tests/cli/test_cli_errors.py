"""Every mistake a person makes with `laurel` comes back as one line.

Each case runs the real console script in its own process and reads its
stderr: exactly one line starting with `laurel:` (plus one indented line per
rejected field when a service refused a request), a non-zero exit code, and
never a traceback. A closed pipe (`laurel list | head`) is the exception
that proves the rule: nothing at all on stderr, as with any Unix tool.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from laurel.broker import free_port

LAUREL = [sys.executable, "-m", "laurel.cli"]
NOMINATOR = "nominator:wang-fang:zhengzhou-peoples"


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    """No LAUREL_* from outside; an empty data folder unless told otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}
    env.update(LAUREL_DATA_DIR=str(data_dir), LAUREL_ACTOR=NOMINATOR, LANG="C",
               LC_ALL="C", COLUMNS="200")
    env.update(extra)
    return env


def laurel(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LAUREL, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def assert_one_line(done: subprocess.CompletedProcess[str], *, field_lines: bool = False
                    ) -> str:
    """The error line, after checking the shape of stderr and the exit code."""
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.splitlines()
    assert lines and lines[0].startswith("laurel: "), done.stderr
    if field_lines:
        assert all(line.startswith("  - ") for line in lines[1:]), done.stderr
    else:
        assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "malformed.yaml").write_text("campaign_id: [henan-2021\nnominee: {", "utf-8")
    (tmp_path / "list.yaml").write_text("- campaign_id: henan-2021\n- category: x\n", "utf-8")
    (tmp_path / "malformed.json").write_text('{"campaign_id": "henan-2021",', "utf-8")
    (tmp_path / "unknown.yaml").write_text("campaign_id: henan-2021\nnomine: {}\n", "utf-8")
    (tmp_path / "nominee-text.yaml").write_text("nominee: 郑州市人民医院\n", "utf-8")
    (tmp_path / "latin1.yaml").write_bytes("name: caf\u00e9".encode("latin-1"))
    (tmp_path / "data").mkdir()
    return tmp_path


# (arguments, words the one line must contain); {tmp} is the files folder.
OFFLINE = [
    (["submit", "{tmp}/missing.yaml"], ["missing.yaml", "no such file"]),
    (["submit", "{tmp}/malformed.yaml"], ["malformed.yaml", "not valid YAML", "line"]),
    (["submit", "{tmp}/list.yaml"], ["list.yaml", "expected a mapping", "list"]),
    (["submit", "{tmp}/malformed.json"], ["malformed.json", "not valid JSON", "line 1"]),
    (["submit", "{tmp}/unknown.yaml"], ["unknown key", "nomine"]),
    (["submit", "{tmp}/nominee-text.yaml"], ["nominee must be a mapping"]),
    (["submit", "{tmp}/latin1.yaml"], ["not UTF-8"]),
    (["submit", "{tmp}"], ["is a folder"]),
    (["list", "--status", "bogus"], ["--status", "'bogus' is not one of", "submitted"]),
    (["list", "--page-size", "0"], ["--page-size"]),
    (["show", "x", "--as-of", "yesterday"], ["--as-of", "ISO 8601"]),
    (["show"], ["NOMINATION_ID"]),
    (["resubmit", "x", "--set", "no-equals-sign"], ["--set", "KEY=VALUE"]),
    (["no-such-command"], ["No such command"]),
    (["--as", "nobody", "list"], ["say who you are"]),
    (["--as", "mayor:li", "list"], ["unknown role 'mayor'"]),
    (["migrate", "--service", "bogus"], ["--service", "'bogus' is not one of"]),
    (["audit", "verify", "--package", "{tmp}/no-such-package"],
     ["no-such-package", "no such folder"]),
    (["audit", "verify", "--package", "{tmp}", "--public-key", "{tmp}/none.pem"],
     ["none.pem", "No such file"]),
    (["audit", "verify"], ["no store given"]),
    (["audit", "timeline", "--nomination", "n", "--as-of", "2021-11-25T09:00"],
     ["--as-of", "no time zone"]),
    (["audit", "export", "--out", "{tmp}/package"],
     ["exactly one of --nomination, --campaign or --all"]),
    (["audit", "replay", "--database", "::"], ["--database", "neither STORE=VALUE"]),
    (["topics", "tail"], ["no Kafka to talk to"]),
]


@pytest.mark.parametrize(("args", "words"), OFFLINE, ids=[" ".join(a) for a, _ in OFFLINE])
def test_a_mistake_is_one_line_and_a_non_zero_exit(
    files: Path, args: list[str], words: list[str],
) -> None:
    done = laurel(environment(files / "data"), *[a.format(tmp=files) for a in args])
    line = assert_one_line(done)
    for word in words:
        assert word in line, line


def test_without_an_actor_the_cli_says_how_to_give_one(files: Path) -> None:
    env = environment(files / "data")
    del env["LAUREL_ACTOR"]
    line = assert_one_line(laurel(env, "list"))
    assert "--as ROLE:ID[:ORGANIZATION] or LAUREL_ACTOR" in line


def test_a_malformed_endpoints_file_is_named(files: Path) -> None:
    (files / "data" / "endpoints.json").write_text('{"intake": ', "utf-8")
    line = assert_one_line(laurel(environment(files / "data"), "list"))
    assert "endpoints.json" in line and "not valid JSON" in line


def test_an_unreachable_service_is_one_line(files: Path) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    env = environment(files / "data", LAUREL_INTAKE_ADDR=nobody,
                      LAUREL_NOTIFICATION_ADDR=nobody)
    for args in (["list"], ["show", "00000000-0000-0000-0000-000000000000"],
                 ["notifications"]):
        line = assert_one_line(laurel(env, *args))
        assert "UNAVAILABLE" in line and "is the suite running (`make run`" in line


def test_help_is_not_an_error(files: Path) -> None:
    for args in (["--help"], ["audit", "--help"], ["topics", "tail", "-h"]):
        done = laurel(environment(files / "data"), *args)
        assert done.returncode == 0 and not done.stderr, done.stderr
        assert "Usage: laurel" in done.stdout


# -- against a running service -------------------------------------------------------


async def test_a_refused_request_is_one_line_and_its_fields(
    intake_address: str, files: Path,
) -> None:
    env = environment(files / "data", LAUREL_INTAKE_ADDR=intake_address)
    no_nominee = files / "no-nominee.json"
    no_nominee.write_text(json.dumps({"campaign_id": "henan-2021",
                                      "category": "ten_measures_benchmark"}), "utf-8")
    done = await _run(env, "submit", str(no_nominee))
    line = assert_one_line(done, field_lines=True)
    assert "INVALID_ARGUMENT" in line and done.returncode == 1
    fields = done.stderr.splitlines()[1:]
    assert fields and all("nominee" in f for f in fields), done.stderr

    done = await _run(env, "--as", "endorser:li-wei:zhengzhou", "endorse", "not-a-uuid",
                      "--opinion", "同意推荐")
    assert "INVALID_ARGUMENT" in assert_one_line(done, field_lines=True)

    done = await _run(env, "--as", "endorser:li-wei:zhengzhou", "receive",
                      "00000000-0000-0000-0000-000000000000")
    assert "PERMISSION_DENIED" in assert_one_line(done, field_lines=True)


async def test_a_closed_pipe_ends_the_command_quietly(
    intake_address: str, files: Path,
) -> None:
    """`laurel list | head`: the reader is gone before the output is written.
    Rich's tables (list) and plain lines (audit verify) both stop quietly."""
    env = environment(files / "data", LAUREL_INTAKE_ADDR=intake_address,
                      LAUREL_DATABASE_URL_INTAKE=f"sqlite:///{files / 'intake.sqlite'}")
    assert (files / "intake.sqlite").is_file()  # the running intake's store
    for args in (["list"], ["audit", "verify"], ["--help"]):
        code, err = await asyncio.to_thread(_with_reader_gone, env, *args)
        assert code != 0, args
        assert err == "", (args, err)


async def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """In a thread: the service answering runs on this test's event loop."""
    return await asyncio.to_thread(laurel, env, *args)


def _with_reader_gone(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = subprocess.Popen([*LAUREL, *args], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader went away before anything was written
    err = process.stderr.read()
    return process.wait(timeout=120), err
