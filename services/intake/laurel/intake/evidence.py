"""Evidence files, stored by content: events carry the SHA-256, never the bytes.

The same file attached twice is stored once; a file's name says nothing about
its content, so the declared type must match the file's own signature.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from laurel.errors import FieldViolation, InvalidArgument
from laurel.intake.domain import Attachment

MAX_BYTES = 5 * 1024 * 1024
KINDS = ("case", "photo", "document", "article")
SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "text/plain": (),
}


class EvidenceStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def put(self, content: bytes, filename: str, media_type: str, kind: str) -> Attachment:
        attachment = describe(content, filename, media_type, kind)
        self.keep(content)
        return attachment

    def keep(self, content: bytes) -> None:
        """Write the bytes under their hash (once; a second copy is the same file)."""
        digest = hashlib.sha256(content).hexdigest()
        path = self.path_for(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(handle.name, path)

    def get(self, digest: str) -> bytes:
        content = self.path_for(digest).read_bytes()
        if hashlib.sha256(content).hexdigest() != digest:
            raise OSError(f"evidence {digest} is corrupt on disk")
        return content

    def path_for(self, digest: str) -> Path:
        return self.root / digest[:2] / digest


def describe(content: bytes, filename: str, media_type: str, kind: str) -> Attachment:
    """The attachment an event will carry, once the file passes every check."""
    check_evidence(content, filename, media_type, kind)
    return Attachment(hashlib.sha256(content).hexdigest(), filename.strip(), media_type,
                      len(content), kind)


def check_evidence(content: bytes, filename: str, media_type: str, kind: str) -> None:
    problems = []
    if not content:
        problems.append(FieldViolation("content", "the file is empty"))
    if len(content) > MAX_BYTES:
        problems.append(FieldViolation(
            "content", f"{len(content)} bytes; files may be at most {MAX_BYTES} bytes"))
    if not filename.strip() or "/" in filename or len(filename) > 200:
        problems.append(FieldViolation("filename", "a plain file name of 1-200 characters"))
    if kind not in KINDS:
        problems.append(FieldViolation("kind", f"expected one of {KINDS}"))
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
