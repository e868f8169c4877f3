"""Evidence files, known by their content: events carry the SHA-256, never the bytes.

A file's name says nothing about its content, so the declared type must
match the file's own signature before any event names it; the bytes are
kept by the handler in intake's database (`laurel.intake.evidence_store`)
and checked against the recorded hash whenever they are read back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from laurel.errors import FieldViolation, InvalidArgument, LaurelError

MAX_BYTES = 5 * 1024 * 1024
KINDS = ("case", "photo", "document", "article")
# Stage-2 reporting (AttachReport): what journalists make.
REPORT_KINDS = ("article", "report")
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "text/plain": (),
}


@dataclass(frozen=True)
class Attachment:
    sha256: str
    filename: str
    media_type: str
    size: int
    kind: str


class DataLoss(LaurelError):
    """Stored bytes no longer match the hash an event recorded for them."""

    code = "DATA_LOSS"


def describe(content: bytes, filename: str, media_type: str, kind: str,
             kinds: tuple[str, ...] = KINDS) -> Attachment:
    """The attachment an event will carry, once the file passes every check
    (its kind one of `kinds`)."""
    check_evidence(content, filename, media_type, kind, kinds)
    return Attachment(sha256_of(content), filename.strip(), media_type, len(content), kind)


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def verified(content: bytes, digest: str) -> bytes:
    """The bytes, if they still are the ones the event recorded."""
    if sha256_of(content) != digest:
        raise DataLoss(f"evidence {digest[:12]}… does not match its hash")
    return content


def check_evidence(content: bytes, filename: str, media_type: str, kind: str,
                   kinds: tuple[str, ...] = KINDS) -> None:
    problems = []
    if not content:
        problems.append(FieldViolation("content", "the file is empty"))
    if len(content) > MAX_BYTES:
        problems.append(FieldViolation(
            "content", f"{len(content)} bytes; files may be at most {MAX_BYTES} bytes"))
    if not filename.strip() or "/" in filename or len(filename) > 200:
        problems.append(FieldViolation("filename", "a plain file name of 1-200 characters"))
    if kind not in kinds:
        problems.append(FieldViolation("kind", f"expected one of {kinds}"))
    if media_type not in SIGNATURES:
        problems.append(FieldViolation("media_type",
                                       f"accepted types: {sorted(SIGNATURES)}"))
    elif content and not _matches(content, media_type):
        problems.append(FieldViolation(
            "content", f"the file's content is not {media_type}"))
    if problems:
        raise InvalidArgument("the evidence file was refused; nothing was stored", problems)


def _matches(content: bytes, media_type: str) -> bool:
    signatures = SIGNATURES[media_type]
    if not signatures:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    return any(content.startswith(s) for s in signatures)
