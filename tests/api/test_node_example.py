"""examples/node: a Node client built from proto/ alone submits a nomination,
reads it back, prints a bad request's rich error details and withdraws it,
against intake on a real socket. Skipped only where `node` is not installed;
`npm ci` installs the pinned packages of its package-lock.json (from npm's
cache when it has them)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil

import pytest

from laurel.auth import call_metadata
from laurel.client import flatten
from laurel.demo import ORGANIZER, campaign_clock_request, demo_organizations, load_sample
from laurel.grpcutil import client_channel
from laurel.intake.v1 import intake_pb2 as ip
from laurel.intake.v1 import intake_pb2_grpc

from .conftest import ROOT, Stack

EXAMPLE = ROOT / "examples" / "node"
NODE, NPM = shutil.which("node"), shutil.which("npm")


def test_the_examples_nomination_is_the_demo_sample_flattened() -> None:
    """nomination.json is the YAML sample `laurel submit` takes, in the API's
    dotted keys, so the two cannot drift apart."""
    sample = load_sample("henan-2021-ten-measures.yaml")
    shipped = json.loads((EXAMPLE / "nomination.json").read_text(encoding="utf-8"))
    assert shipped == {"campaign_id": sample["campaign_id"], "category": sample["category"],
                       "nominee": sample["nominee"], "fields": flatten(sample["fields"])}


def test_the_packages_are_pinned_exactly() -> None:
    package = json.loads((EXAMPLE / "package.json").read_text())
    lock = json.loads((EXAMPLE / "package-lock.json").read_text())
    assert all(re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", v)
               for v in package["dependencies"].values())
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
    assert {"@grpc/grpc-js", "@grpc/proto-loader"} <= set(package["dependencies"])


async def _run(*command: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=EXAMPLE, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode is not None
    return process.returncode, output.decode()


@pytest.mark.slow
@pytest.mark.skipif(NODE is None or NPM is None, reason="node is not installed")
async def test_the_node_example_submits_reads_back_and_prints_the_rich_error(
    stack: Stack,
) -> None:
    assert NODE is not None and NPM is not None
    async with client_channel(stack.address("intake")) as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        organizer = call_metadata(ORGANIZER)
        for org in demo_organizations():
            if org["organization_id"] in {"henan-center", "henan-provincial-peoples"}:
                await intake.RegisterOrganization(ip.RegisterOrganizationRequest(**org),
                                                  metadata=organizer)
        await intake.SetCampaignClock(campaign_clock_request(), metadata=organizer)

        code, output = await _run(NPM, "ci", "--prefer-offline", "--no-audit", "--no-fund")
        assert code == 0, output
        code, output = await _run(NODE, "client.js", env={
            **os.environ, "LAUREL_INTAKE_ADDRESS": stack.address("intake")})
        assert code == 0, output

        lines = output.splitlines()
        submitted = re.fullmatch(r"submitted ([0-9a-f-]{36}) \(version 1\)", lines[0])
        assert submitted, output
        fields = len(flatten(load_sample("henan-2021-ten-measures.yaml")["fields"]))
        assert lines[1] == ("read back: status=submitted route=center:henan-center "
                            f"nominee=河南省人民医院 fields={fields}")
        assert lines[2].startswith("bad request refused: INVALID_ARGUMENT (3): "
                                   "campaign_id, nominee.organization_id: required")
        assert lines[3:6] == [
            "  ErrorInfo reason=InvalidArgument domain=laurel.health",
            "  BadRequest campaign_id: required: this method needs it set (not empty or zero)",
            "  BadRequest nominee.organization_id: required: this method needs it set "
            "(not empty or zero)",
        ]
        assert lines[6:] == ["withdrawn (version 2)"]

        # What the example did happened in intake: submitted, then withdrawn.
        stored = await intake.GetNomination(
            ip.GetNominationRequest(nomination_id=submitted.group(1)), metadata=organizer)
        assert (stored.status, stored.version, stored.nominee.name) == (
            "withdrawn", 2, "河南省人民医院")
