"""Build the API baseline `buf breaking` compares against, offline.

The protos of a released commit are read from git (no network, no registry),
built by buf into a binary image, and committed as
proto/releases/<release>.binpb, so tests/api checks every change against the
release from the repo alone. `make proto-baseline API_RELEASE=<commit>`
runs this when a new release becomes the baseline.

A release before buf.yaml existed had its protos' import root at proto/; a
later one names its modules in buf.yaml, which buf reads from the checkout.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def release_tree(release: str, into: Path) -> Path:
    """The release's proto/ (and buf.yaml, if it had one) under `into`; the
    directory buf should build."""
    names = ["proto"]
    listed = subprocess.run(["git", "ls-tree", "--name-only", release, "buf.yaml"],
                            cwd=ROOT, check=True, capture_output=True, text=True)
    if listed.stdout.strip():
        names.append("buf.yaml")
    archive = subprocess.run(["git", "archive", "--format=tar", release, "--", *names],
                             cwd=ROOT, check=True, capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into if "buf.yaml" in names else into / "proto"


def build(release: str, out: Path, buf: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = release_tree(release, Path(tmp))
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(buf), "build", "--exclude-source-info", "-o", str(out.resolve())],
                       cwd=source, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("release", help="the released commit or tag, e.g. e96f14f")
    parser.add_argument("--out", type=Path, help="default: proto/releases/<release>.binpb")
    parser.add_argument("--buf", type=Path, default=Path(sys.executable).parent / "buf")
    args = parser.parse_args(argv)
    out = args.out or ROOT / "proto" / "releases" / f"{args.release}.binpb"
    build(args.release, out, args.buf)
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"baseline of {args.release}: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
