"""An evidence package on disk: one folder, one file per package file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def fresh_folder(out_dir: Path) -> Path:
    """An empty folder to write a package into (made if missing): a new
    package is never mixed into an old one's files."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def write_package(out_dir: Path, files: Mapping[str, bytes]) -> None:
    for name, content in files.items():
        (out_dir / name).write_bytes(content)


def read_package(directory: Path) -> dict[str, bytes | None]:
    """Every entry of the folder: a regular file's bytes, else None (a
    folder, or a file that cannot be read), for the verification to name."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}
    files: dict[str, bytes | None] = {}
    for path in directory.iterdir():
        try:
            files[path.name] = path.read_bytes() if path.is_file() else None
        except OSError:
            files[path.name] = None
    return files
