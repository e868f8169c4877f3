"""Copy the google.rpc and google.api protos Laurel's API uses into proto/google/.

A client in any language then finds everything it needs under proto/: the
rich error model (google/rpc/status.proto, error_details.proto, code.proto)
and the field_behavior option that marks required fields. The files come
unmodified, with their Apache-2.0 licence, from the googleapis-common-protos
distribution pinned in the lock - the same files the Python runtime loads, so
the descriptors clients compile and the ones the services serve agree
(tests/api/test_protos.py checks the copies still match the installed ones).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIST = "googleapis-common-protos"
FILES = (
    "google/rpc/status.proto",
    "google/rpc/error_details.proto",
    "google/rpc/code.proto",
    "google/api/field_behavior.proto",
)
TARGET = ROOT / "proto" / "google"


def sources() -> dict[str, bytes]:
    """The vendored files' bytes as the installed distribution has them,
    keyed by their path under proto/ (LICENSE included)."""
    dist = metadata.distribution(DIST)
    by_name = {str(f).replace("\\", "/"): f for f in dist.files or ()}
    found = {name: Path(str(dist.locate_file(by_name[name]))).read_bytes() for name in FILES}
    licence = next(f for name, f in by_name.items() if name.endswith("LICENSE"))
    found["google/LICENSE"] = Path(str(dist.locate_file(licence))).read_bytes()
    found["google/README.md"] = readme(dist.version).encode()
    return found


def readme(version: str) -> str:
    listed = "\n".join(f"- `{name}`" for name in FILES)
    return (
        "# Vendored Google API protos\n\n"
        f"Copied unmodified from {DIST} {version} (the version in the lock) by\n"
        "`make proto-vendor`; licensed under the Apache License 2.0 (LICENSE here).\n"
        "They let a client compile Laurel's API from this repository alone:\n\n"
        f"{listed}\n\n"
        "`google/protobuf/*` (the well-known types) come with every protobuf\n"
        "compiler and are not copied.\n"
    )


def main() -> int:
    for name, content in sources().items():
        path = ROOT / "proto" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        print(f"proto/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
