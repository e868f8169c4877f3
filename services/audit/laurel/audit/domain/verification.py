"""Offline verification of evidence packages: the files, and nothing else.

`verify_files` needs the package's files (name -> content; None for a name
that is there but is not a regular file) and nothing else: no database, no
service, no network. It reports every problem it finds, each as precisely as
the data allows (file, line, stream, version, position), so an auditor can
point at the exact altered event rather than at "the package".

Trust: a package carries its signer's public key, but a forger could replace
it with their own. Pass the key you trust (`trusted_key`) and the checkpoints
published earlier (`published`) to check the package against them; without a
trusted key the result says the key was not pinned.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from laurel.audit.domain.checkpoints import Checkpoint, verify_checkpoint
from laurel.audit.domain.keys import key_id, load_public_key
from laurel.audit.domain.lines import decode_line
from laurel.audit.domain.manifest import (
    MANIFEST,
    PUBLIC_KEY,
    file_sha256,
    manifest_signature_problem,
)
from laurel.audit.domain.merkle import RootAccumulator, verify_inclusion
from laurel.chain import RawEvent, verify_chain

Files = Mapping[str, bytes | None]


@dataclass(frozen=True)
class Problem:
    reason: str
    file: str = ""
    line: int | None = None
    stream_id: str = ""
    version: int | None = None
    position: int | None = None

    def __str__(self) -> str:
        where = [self.file] if self.file else []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.stream_id:
            where.append(f"stream {self.stream_id!r} version {self.version}")
        if self.position is not None:
            where.append(f"(position {self.position})")
        return f"{' '.join(where)}: {self.reason}" if where else self.reason


@dataclass
class VerificationResult:
    problems: list[Problem] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    key_id: str = ""
    key_pinned: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None


@dataclass
class _Events:
    """One events file, parsed: rows with the line each came from."""

    file: str
    rows: list[tuple[int, RawEvent]]

    def line_of(self, position: int, stream_id: str, version: int) -> int | None:
        for line, row in self.rows:
            if (row.position, row.stream_id, row.version) == (
                position,
                stream_id,
                version,
            ):
                return line
        return None

    def problem(self, row: RawEvent, line: int, reason: str) -> Problem:
        return Problem(
            reason, self.file, line, row.stream_id, row.version, row.position
        )


def verify_files(
    files: Files,
    *,
    trusted_key: Ed25519PublicKey | None = None,
    published: Sequence[Checkpoint] = (),
) -> VerificationResult:
    """Every problem of the package whose files are `files`."""
    result = VerificationResult(key_pinned=trusted_key is not None)
    manifest = _manifest(files, result)
    key = trusted_key or _package_key(files, result)
    if key is not None:
        result.key_id = key_id(key)
    if manifest is not None:
        _check_files(files, manifest, result)
        if key is not None and (reason := manifest_signature_problem(manifest, key)):
            result.problems.append(Problem(reason, MANIFEST))
    stores = _store_names(files, manifest)
    full = manifest is not None and manifest.get("scope", {}).get("kind") == "all"
    for name in stores:
        _verify_store(files, name, full, key, published, result)
    return result


# -- package parts -----------------------------------------------------------


def _content(files: Files, name: str) -> bytes:
    content = files.get(name)
    if content is None:
        raise ValueError("no such file in the package")
    return content


def _json(files: Files, name: str) -> Any:
    return json.loads(_content(files, name).decode("utf-8"))


def _manifest(files: Files, result: VerificationResult) -> dict[str, Any] | None:
    try:
        manifest = _json(files, MANIFEST)
    except ValueError as error:
        result.problems.append(Problem(f"unreadable: {error}", MANIFEST))
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        result.problems.append(Problem("not a Laurel evidence manifest", MANIFEST))
        return None
    return manifest


def _package_key(files: Files, result: VerificationResult) -> Ed25519PublicKey | None:
    try:
        return load_public_key(_content(files, PUBLIC_KEY))
    except ValueError as error:
        result.problems.append(Problem(f"no usable public key: {error}", PUBLIC_KEY))
        return None


def _check_files(
    files: Files, manifest: dict[str, Any], result: VerificationResult
) -> None:
    listed = manifest["files"]
    for name, expected in sorted(listed.items()):
        content = files.get(name)
        if "/" in name or "\\" in name or content is None:
            result.problems.append(Problem("listed in the manifest but missing", name))
        elif file_sha256(content) != expected:
            result.problems.append(
                Problem("SHA-256 differs from the manifest: the file was changed", name)
            )
    for name in sorted(files):
        if name not in listed and name != MANIFEST:
            result.problems.append(Problem("not listed in the manifest", name))
    result.checked.append(f"{MANIFEST}: {len(listed)} files hashed")


def _store_names(files: Files, manifest: dict[str, Any] | None) -> list[str]:
    if manifest is not None and isinstance(manifest.get("stores"), dict):
        return sorted(manifest["stores"])
    return sorted(
        name[len("events.") : -len(".jsonl")]
        for name in files
        if fnmatch.fnmatchcase(name, "events.*.jsonl")
    )


def _read_events(files: Files, name: str, result: VerificationResult) -> _Events:
    events = _Events(name, [])
    try:
        lines = _content(files, name).split(b"\n")
    except ValueError as error:
        result.problems.append(Problem(f"unreadable: {error}", name))
        return events
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        try:
            events.rows.append((number, decode_line(raw)))
        except ValueError as error:
            result.problems.append(Problem(str(error), name, number))
    return events


def _read_checkpoint(
    files: Files, name: str, result: VerificationResult
) -> Checkpoint | None:
    try:
        return Checkpoint.from_dict(_json(files, name))
    except (ValueError, KeyError, TypeError) as error:
        result.problems.append(Problem(f"not a readable checkpoint: {error}", name))
        return None


def _verify_store(
    files: Files,
    name: str,
    full: bool,
    key: Ed25519PublicKey | None,
    published: Sequence[Checkpoint],
    result: VerificationResult,
) -> None:
    events = _read_events(files, f"events.{name}.jsonl", result)
    report = verify_chain((row for _, row in events.rows), contiguous_positions=full)
    for broken in report.breaks:
        line = events.line_of(broken.position, broken.stream_id, broken.version)
        result.problems.append(
            Problem(
                broken.reason,
                events.file,
                line,
                broken.stream_id,
                broken.version,
                broken.position,
            )
        )
    result.checked.append(
        f"{events.file}: {report.events_checked} events in "
        f"{report.streams_checked} streams, chains checked"
    )
    checkpoint = _read_checkpoint(files, f"checkpoint.{name}.json", result)
    if checkpoint is None:
        return
    _check_checkpoint(name, checkpoint, key, result)
    for line, row in events.rows:
        if row.position > checkpoint.up_to_position:
            result.problems.append(
                events.problem(
                    row,
                    line,
                    f"after the checkpoint's position {checkpoint.up_to_position}",
                )
            )
    prefix_roots = None
    if full:
        prefix_roots = _check_full_root(events, checkpoint, published, result)
    else:
        _check_proofs(files, f"proofs.{name}.json", events, checkpoint, result)
    _compare_published(name, checkpoint, prefix_roots, published, key, result)


def _check_checkpoint(
    name: str,
    checkpoint: Checkpoint,
    key: Ed25519PublicKey | None,
    result: VerificationResult,
) -> None:
    file = f"checkpoint.{name}.json"
    if checkpoint.store_name != name:
        result.problems.append(
            Problem(f"covers store {checkpoint.store_name!r}, not {name!r}", file)
        )
    if key is not None and (reason := verify_checkpoint(checkpoint, key)):
        result.problems.append(Problem(reason, file))
    result.checked.append(
        f"{file}: positions 1..{checkpoint.up_to_position}, "
        f"root {checkpoint.merkle_root[:16]}…"
    )


def _check_full_root(
    events: _Events,
    checkpoint: Checkpoint,
    published: Sequence[Checkpoint],
    result: VerificationResult,
) -> dict[int, str] | None:
    """Recompute the root from every line; keep the roots published ones need."""
    accumulator = RootAccumulator()
    prefix_roots: dict[int, str] = {}
    wanted = {
        c.up_to_position for c in published if c.store_name == checkpoint.store_name
    }
    try:
        for _, row in events.rows:
            accumulator.add(row.recomputed_hash())
            if accumulator.count in wanted:
                prefix_roots[accumulator.count] = accumulator.root()
    except ValueError as error:
        result.problems.append(
            Problem(f"Merkle root not computable: {error}", events.file)
        )
        return None
    if (accumulator.count, accumulator.root()) != (
        checkpoint.event_count,
        checkpoint.merkle_root,
    ):
        result.problems.append(
            Problem(
                f"{accumulator.count} events with root {accumulator.root()[:16]}… "
                f"do not match the checkpoint's {checkpoint.event_count} events "
                f"with root {checkpoint.merkle_root[:16]}…",
                events.file,
            )
        )
    else:
        result.checked.append(f"{events.file}: Merkle root matches the checkpoint")
    return prefix_roots


def _check_proofs(
    files: Files,
    name: str,
    events: _Events,
    checkpoint: Checkpoint,
    result: VerificationResult,
) -> None:
    try:
        data = _json(files, name)
        size = data["tree_size"]
        proofs = {p["position"]: p for p in data["proofs"]}
    except (ValueError, KeyError, TypeError) as error:
        result.problems.append(Problem(f"unreadable proofs: {error}", name))
        return
    if (
        size != checkpoint.event_count
        or data.get("merkle_root") != checkpoint.merkle_root
    ):
        result.problems.append(
            Problem("proofs are for another tree than the checkpoint's", name)
        )
    held = 0
    for line, row in events.rows:
        proof = proofs.get(row.position)
        leaf = row.recomputed_hash()
        if proof is None:
            result.problems.append(
                events.problem(row, line, f"no inclusion proof in {name}")
            )
        elif not _included(leaf, row.position, checkpoint, proof):
            result.problems.append(
                events.problem(
                    row,
                    line,
                    "not included in the checkpoint's Merkle root "
                    f"(proof in {name})",
                )
            )
        else:
            held += 1
    result.checked.append(f"{name}: {held} inclusion proofs hold")


def _included(
    leaf: str, position: int, checkpoint: Checkpoint, proof: dict[str, Any]
) -> bool:
    path = proof.get("path")
    if not isinstance(path, list) or proof.get("event_hash") != leaf:
        return False
    return verify_inclusion(
        leaf,
        position - 1,
        checkpoint.event_count,
        [str(p) for p in path],
        checkpoint.merkle_root,
    )


def _compare_published(
    name: str,
    checkpoint: Checkpoint,
    prefix_roots: dict[int, str] | None,
    published: Sequence[Checkpoint],
    key: Ed25519PublicKey | None,
    result: VerificationResult,
) -> None:
    """Match the package against checkpoints published earlier for this store."""
    for known in published:
        if known.store_name != name:
            continue
        label = f"published checkpoint {name} up to {known.up_to_position}"
        if key is not None and (reason := verify_checkpoint(known, key)):
            result.problems.append(Problem(f"{label}: {reason}"))
        elif known.up_to_position == checkpoint.up_to_position:
            _same_root(label, known.merkle_root, checkpoint.merkle_root, result)
        elif prefix_roots is not None and known.up_to_position in prefix_roots:
            _same_root(
                label, known.merkle_root, prefix_roots[known.up_to_position], result
            )
        else:
            result.checked.append(f"{label}: not comparable with this package")


def _same_root(label: str, known: str, found: str, result: VerificationResult) -> None:
    if known == found:
        result.checked.append(f"{label}: root matches")
    else:
        result.problems.append(
            Problem(
                f"{label}: root {known[:16]}… differs from the package's {found[:16]}…"
            )
        )
