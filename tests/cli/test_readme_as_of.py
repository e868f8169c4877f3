"""The README's as-of examples run as written (issue 16, item 2).

Every README line that runs `laurel` against intake with `--as-of` or
`--recorded-as-of` is run through bash from the repository's root, as a
reader would paste it, against a running intake whose henan-2021 clock the
demo's way (2021-11-25 09:00 +08:00), with a nomination submitted then;
`<nomination-id>` / `ID` become its id and `[…]` optional parts are given.
Each must succeed and show that nomination or campaign. (`laurel audit …
--as-of` reads the audit's stores and is the audit's tests' to check.)
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

from laurel.auth import call_metadata
from laurel.campaigns import SHIPPED_DIR, load_catalog
from laurel.campaigns.specimen import specimen_fields
from laurel.config import PROJECT_ROOT
from laurel.envelope import Actor
from laurel.grpcutil import client_channel
from laurel.intake.v1 import intake_pb2 as pb
from laurel.intake.v1 import intake_pb2_grpc

README = PROJECT_ROOT / "README.md"
HENAN = load_catalog(SHIPPED_DIR)["henan-2021"]
ORGANIZER = "organizer:organizer-henan-1:henan-center"  # as the README's block exports


def as_of_examples() -> list[str]:
    """The README's command lines with an as-of option, for intake's commands."""
    found = []
    for line in README.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not re.match(r"^(\.venv/bin/)?laurel ", line):
            continue
        if ("--as-of" in line or "--recorded-as-of" in line) and line.split()[1] != "audit":
            found.append(line)
    return found


def as_run(line: str, nomination_id: str) -> str:
    """The line as a reader runs it: the venv's laurel, their nomination's
    id, each optional part given."""
    line = re.sub(r"^laurel ", f"{sys.executable} -m laurel.cli ", line)
    line = re.sub(r"^\.venv/bin/laurel ", f"{sys.executable} -m laurel.cli ", line)
    line = line.replace("<nomination-id>", nomination_id)
    line = re.sub(r"\bID\b", nomination_id, line)
    return line.replace("[", "").replace("]", "")


async def test_the_readmes_as_of_examples_run_as_written(intake_address: str,
                                                          tmp_path: Path) -> None:
    examples = as_of_examples()
    assert len(examples) >= 4, examples  # show and campaigns show, each clock
    assert any("show <nomination-id> --as-of 2021-11-26T10:00:00+08:00" in e
               for e in examples)
    channel = client_channel(intake_address)
    stub = intake_pb2_grpc.IntakeServiceStub(channel)
    reply = await stub.SubmitNomination(pb.SubmitNominationRequest(
        campaign_id="henan-2021", category="ten_measures_benchmark",
        nominee=pb.Nominee(kind="hospital", name="郑州市人民医院",
                           organization_id="zhengzhou-peoples"),
        fields=specimen_fields(HENAN.category("ten_measures_benchmark"))),
        metadata=call_metadata(Actor("nominator-zz", "nominator", "zhengzhou-peoples")))
    await channel.close()

    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}
    env.update(LAUREL_INTAKE_ADDR=intake_address, LAUREL_ACTOR=ORGANIZER,
               LAUREL_DATA_DIR=str(tmp_path), COLUMNS="200")
    for line in examples:
        command = as_run(line, reply.nomination_id)
        process = await asyncio.create_subprocess_exec(
            "bash", "-c", command, cwd=PROJECT_ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        assert process.returncode == 0, (line, err.decode())
        text = out.decode()
        expected = "henan-2021" if " campaigns " in line else reply.nomination_id
        assert expected in text, (line, text)
        if "--json" in line and " campaigns " not in line:
            assert json.loads(text)["status"] == "submitted"
