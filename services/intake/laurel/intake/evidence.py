"""Evidence files, stored by content: events carry the SHA-256, never the bytes.

The same file attached twice is stored once; a file's name says nothing about
its content, so the declared type must match the file's own signature.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    select,
)

from laurel.errors import FieldViolation, InvalidArgument, LaurelError, NotFound
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
    """Evidence bytes in intake's own database, keyed by their SHA-256.

    In the database rather than on a disk beside the process: every replica
    sees every file, a file is written in the transaction of the event that
    names it (a refused or failed attach leaves nothing behind), and backups
    of the store carry the evidence with it.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.metadata = MetaData()
        self.blobs = Table(
            "intake_evidence", self.metadata,
            Column("sha256", String(64), primary_key=True),
            Column("size", Integer, nullable=False),
            Column("content", LargeBinary, nullable=False),
        )
        self.metadata.create_all(engine)

    def keep(self, conn: Connection, content: bytes) -> None:
        """Store the bytes under their hash, once (the same file twice is one row)."""
        digest = hashlib.sha256(content).hexdigest()
        known = conn.execute(select(self.blobs.c.sha256).where(
            self.blobs.c.sha256 == digest)).first()
        if known is None:
            conn.execute(self.blobs.insert(), {"sha256": digest, "size": len(content),
                                               "content": content})

    def get(self, digest: str) -> bytes:
        with self.engine.connect() as conn:
            row = conn.execute(select(self.blobs.c.content).where(
                self.blobs.c.sha256 == digest)).first()
        if row is None:
            raise NotFound(f"the bytes of evidence {digest[:12]}… are missing",
                           field="sha256")
        content = bytes(row.content)
        if hashlib.sha256(content).hexdigest() != digest:
            raise DataLoss(f"evidence {digest[:12]}… does not match its hash")
        return content


class DataLoss(LaurelError):
    """Stored bytes no longer match the hash an event recorded for them."""

    code = "DATA_LOSS"


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
