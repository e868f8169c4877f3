"""The API's shape: `buf lint` (buf.yaml's rules) and `buf breaking` against
every committed release baseline (proto/releases/*.binpb) report nothing.

buf cannot compare a renamed request or response with its old self (buf.yaml
excepts RPC_SAME_REQUEST_TYPE/RPC_SAME_RESPONSE_TYPE), so this module checks
that part itself: each RPC of a release still takes and returns messages with
the same fields on the wire and in JSON.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
BUF = Path(sys.executable).parent / "buf"
BASELINES = sorted((ROOT / "proto" / "releases").glob("*.binpb"))
FDP = descriptor_pb2.FieldDescriptorProto


def buf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BUF), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_a_release_baseline_is_committed() -> None:
    assert BASELINES, "no proto/releases/*.binpb: run `make proto-baseline`"


def test_buf_lint_reports_nothing() -> None:
    result = buf("lint")
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("baseline", BASELINES, ids=lambda p: p.stem)
def test_buf_breaking_against_the_release_reports_nothing(baseline: Path) -> None:
    result = buf("breaking", "--against", str(baseline))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def _messages(image: descriptor_pb2.FileDescriptorSet
              ) -> dict[str, descriptor_pb2.DescriptorProto]:
    found: dict[str, descriptor_pb2.DescriptorProto] = {}

    def walk(prefix: str, message: descriptor_pb2.DescriptorProto) -> None:
        name = f"{prefix}.{message.name}"
        found[name] = message
        for nested in message.nested_type:
            walk(name, nested)

    for file in image.file:
        for message in file.message_type:
            walk(f".{file.package}" if file.package else "", message)
    return found


def _methods(image: descriptor_pb2.FileDescriptorSet
             ) -> dict[str, descriptor_pb2.MethodDescriptorProto]:
    return {f"{file.package}.{service.name}/{method.name}": method
            for file in image.file for service in file.service
            for method in service.method}


def _image(path: Path) -> descriptor_pb2.FileDescriptorSet:
    # A buf image is wire-compatible with FileDescriptorSet.
    return descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())


def _differences(old_name: str, new_name: str, old: dict[str, descriptor_pb2.DescriptorProto],
                 new: dict[str, descriptor_pb2.DescriptorProto], path: str,
                 seen: set[tuple[str, str]]) -> list[str]:
    """What an old client would see differently: a field of the old message
    missing from the new one or changed in number, name, JSON name, type,
    label or oneof membership (nested messages compared the same way)."""
    if (old_name, new_name) in seen:
        return []
    seen.add((old_name, new_name))
    old_fields = {f.number: f for f in old[old_name].field}
    new_fields = {f.number: f for f in new[new_name].field}
    problems = []
    for number, before in old_fields.items():
        where = f"{path}.{before.name}" if path else before.name
        after = new_fields.get(number)
        if after is None:
            problems.append(f"{where} (#{number}) is gone")
            continue
        for attribute in ("name", "json_name", "type", "label", "proto3_optional"):
            if getattr(before, attribute) != getattr(after, attribute):
                problems.append(f"{where}: {attribute} {getattr(before, attribute)!r} -> "
                                f"{getattr(after, attribute)!r}")
        if before.HasField("oneof_index") != after.HasField("oneof_index"):
            problems.append(f"{where}: moved in or out of a oneof")
        if before.type == FDP.TYPE_MESSAGE and after.type == FDP.TYPE_MESSAGE:
            problems += _differences(before.type_name, after.type_name, old, new, where, seen)
        elif before.type == FDP.TYPE_ENUM and before.type_name != after.type_name:
            problems.append(f"{where}: enum {before.type_name} -> {after.type_name}")
    return problems


@pytest.mark.parametrize("baseline", BASELINES, ids=lambda p: p.stem)
def test_every_released_rpc_keeps_its_request_and_response_fields(
    baseline: Path, tmp_path: Path
) -> None:
    current = tmp_path / "current.binpb"
    built = buf("build", "--exclude-source-info", "-o", str(current))
    assert built.returncode == 0, built.stderr
    old, new = _image(baseline), _image(current)
    old_messages, new_messages = _messages(old), _messages(new)
    new_methods = _methods(new)
    problems = []
    for name, before in _methods(old).items():
        after = new_methods.get(name)
        if after is None:
            continue  # a deleted RPC is buf breaking's finding (RPC_NO_DELETE)
        for kind in ("input_type", "output_type"):
            problems += [f"{name} {kind}: {p}" for p in _differences(
                getattr(before, kind), getattr(after, kind), old_messages, new_messages,
                "", set())]
    assert problems == []


def test_the_field_check_notices_a_changed_field() -> None:
    """The comparison above is not vacuous: a renumbered, a retyped and a
    dropped field of a nested message are each reported."""
    old_file = descriptor_pb2.FileDescriptorProto(name="a.proto", package="p")
    inner = old_file.message_type.add(name="Inner")
    inner.field.add(name="x", number=1, json_name="x", type=FDP.TYPE_STRING,
                    label=FDP.LABEL_OPTIONAL)
    inner.field.add(name="y", number=2, json_name="y", type=FDP.TYPE_INT64,
                    label=FDP.LABEL_OPTIONAL)
    inner.field.add(name="z", number=3, json_name="z", type=FDP.TYPE_BOOL,
                    label=FDP.LABEL_OPTIONAL)
    outer = old_file.message_type.add(name="Req")
    outer.field.add(name="inner", number=1, json_name="inner", type=FDP.TYPE_MESSAGE,
                    type_name=".p.Inner", label=FDP.LABEL_OPTIONAL)
    new_file = descriptor_pb2.FileDescriptorProto()
    new_file.CopyFrom(old_file)
    new_file.message_type[1].name = "RenamedReq"
    changed = new_file.message_type[0]
    changed.field[0].number = 4
    changed.field[1].type = FDP.TYPE_INT32
    del changed.field[2]
    old = _messages(descriptor_pb2.FileDescriptorSet(file=[old_file]))
    new = _messages(descriptor_pb2.FileDescriptorSet(file=[new_file]))
    assert _differences(".p.Req", ".p.RenamedReq", old, new, "", set()) == [
        "inner.x (#1) is gone", "inner.y: type 3 -> 5", "inner.z (#3) is gone"]
