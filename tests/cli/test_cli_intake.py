"""The `laurel` CLI as a nominator, an endorser and the center would use it.

Each command is a real process speaking gRPC to a running intake service.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import yaml

from laurel.campaigns import SHIPPED_DIR, load_catalog
from laurel.campaigns.specimen import specimen_fields

NOMINATOR = "nominator:wang-fang:zhengzhou-peoples"
ENDORSER = "endorser:li-wei:zhengzhou"
CENTER = "organizer:zhao-min:henan-center"


async def laurel(address: str, actor: str, *args: str, ok: bool = True,
                 data_dir: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}
    env.update(LAUREL_INTAKE_ADDR=address, LAUREL_ACTOR=actor, LANG="C", LC_ALL="C",
               COLUMNS="200")
    if data_dir is not None:
        env["LAUREL_DATA_DIR"] = str(data_dir)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "laurel.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert (process.returncode == 0) == ok, out.decode() + err.decode()
    return (out if ok else err).decode("utf-8")


def nomination_file(tmp_path: Path, **overrides: str) -> Path:
    category = load_catalog(SHIPPED_DIR)["henan-2021"].category("ten_measures_benchmark")
    document = {
        "campaign_id": "henan-2021", "category": "ten_measures_benchmark",
        "nominee": {"kind": "hospital", "name": "郑州市人民医院",
                    "organization_id": "zhengzhou-peoples"},
        "fields": specimen_fields(category, overrides=overrides),
    }
    path = tmp_path / "nomination.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


async def test_a_nomination_goes_through_intake_from_the_command_line(
    intake_address: str, tmp_path: Path,
) -> None:
    reply = json.loads(await laurel(intake_address, NOMINATOR, "submit", "--json",
                                    str(nomination_file(tmp_path))))
    nomination_id = reply["nomination_id"]

    listing = await laurel(intake_address, ENDORSER, "list", "--status", "submitted")
    assert nomination_id in listing and "郑州市人民医院" in listing

    await laurel(intake_address, ENDORSER, "return", nomination_id,
                 "--reason", "联系人手机号码有误")
    await laurel(intake_address, NOMINATOR, "resubmit", nomination_id,
                 "--set", "contact.mobile=13912345678")
    await laurel(intake_address, ENDORSER, "endorse", nomination_id, "--opinion", "同意推荐")
    await laurel(intake_address, ENDORSER, "forward", nomination_id)
    assert "version 6" in await laurel(intake_address, CENTER, "receive", nomination_id)

    history = await laurel(intake_address, CENTER, "history", nomination_id)
    assert "NominationReturned" in history and "联系人手机号码有误" in history
    assert "contact.mobile: 13800000000 → 13912345678" in history
    shown = json.loads(await laurel(intake_address, NOMINATOR, "show", "--json",
                                    nomination_id))
    assert shown["status"] == "received"
    panel = await laurel(intake_address, NOMINATOR, "show", nomination_id)
    assert "received" in panel and "contact.mobile" in panel and "13912345678" in panel


async def test_the_command_line_shows_a_refusal_with_its_fields(
    intake_address: str, tmp_path: Path,
) -> None:
    error = await laurel(intake_address, NOMINATOR, "submit", str(nomination_file(
        tmp_path, **{"president.mobile": "12345"})), ok=False)
    assert "INVALID_ARGUMENT" in error
    assert "fields[president.mobile]" in error
    error = await laurel(intake_address, ENDORSER, "endorse", "not-a-uuid",
                         "--opinion", "x", ok=False)
    assert "INVALID_ARGUMENT" in error


async def test_two_people_amending_at_once_cannot_overwrite_each_other(
    intake_address: str, tmp_path: Path,
) -> None:
    """Each `show`s version 1; the first amend goes through, the second is
    refused with both versions named, and nothing is overwritten."""
    first, second = NOMINATOR, "nominator:li-na:zhengzhou-peoples"
    reply = json.loads(await laurel(intake_address, first, "submit", "--json",
                                    str(nomination_file(tmp_path)), data_dir=tmp_path))
    nomination_id = reply["nomination_id"]
    for person in (first, second):
        assert "version" in await laurel(intake_address, person, "show", nomination_id,
                                         data_dir=tmp_path)

    done = await laurel(intake_address, first, "amend", nomination_id,
                        "--set", "hospital_profile=王芳改的简介", data_dir=tmp_path)
    assert "now at version 2" in done
    error = await laurel(intake_address, second, "amend", nomination_id,
                         "--set", "hospital_profile=李娜改的简介", data_dir=tmp_path, ok=False)
    assert "ABORTED" in error and "version 1" in error and "version 2" in error

    # The first person acts on from the version their own amend made.
    assert "now at version 3" in await laurel(
        intake_address, first, "amend", nomination_id, "--set", "hospital_profile=再改",
        data_dir=tmp_path)
    # An explicit --expect-version wins over the remembered one.
    error = await laurel(intake_address, first, "withdraw", nomination_id, "--reason", "x",
                         "--expect-version", "2", data_dir=tmp_path, ok=False)
    assert "ABORTED" in error
    history = await laurel(intake_address, CENTER, "history", nomination_id,
                           data_dir=tmp_path)
    assert history.count("NominationAmended") == 2 and "李娜改的简介" not in history
