"""Every .proto of the repo compiles from the repo alone, and the vendored
googleapis files are the ones the Python runtime loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

from .conftest import ROOT, load_tool

PROTO = ROOT / "proto"


def test_every_proto_compiles_with_only_the_repo_on_the_include_path(tmp_path: Path) -> None:
    """grpc_tools.protoc with -I proto (plus its own well-known types, which
    `python -m grpc_tools.protoc` adds): no file may need anything else."""
    files = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    out = tmp_path / "all.pb"
    result = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO}", "--include_imports",
         f"--descriptor_set_out={out}", *files],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    compiled = {f.name for f in descriptor_pb2.FileDescriptorSet.FromString(
        out.read_bytes()).file}
    assert {"google/rpc/status.proto", "google/rpc/error_details.proto",
            "google/api/field_behavior.proto"} <= compiled
    assert set(files) <= compiled
    assert all(name in files or name.startswith("google/protobuf/") for name in compiled)


def test_vendored_googleapis_protos_equal_the_locked_distribution() -> None:
    """proto/google/ is googleapis-common-protos' own copy, licence included;
    after a lock bump, `make proto-vendor` refreshes it."""
    stale = [name for name, content in load_tool("vendor_googleapis").sources().items()
             if not (PROTO / name).is_file() or (PROTO / name).read_bytes() != content]
    assert stale == [], "run `make proto-vendor`"
    assert "Apache License" in (PROTO / "google" / "LICENSE").read_text()
