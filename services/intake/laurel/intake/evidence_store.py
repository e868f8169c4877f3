"""Evidence bytes in intake's own database, keyed by their SHA-256.

In the database rather than on a disk beside the process: every replica sees
every file, a file is written in the transaction of the event that names it
(on the unit of work's connection, so a refused or failed attach leaves
nothing behind), and backups of the store carry the evidence with it.

Not a read model: the bytes are not in the log and cannot be rebuilt from
it, so this table has a metadata of its own and no projection ever drops it;
intake's migration chain creates it (laurel/intake/migrations).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    select,
)

from laurel.intake.domain.evidence import sha256_of
from laurel.projections import upsert

METADATA = MetaData()

EVIDENCE = Table(
    "intake_evidence", METADATA,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
)


def keep(conn: Connection, content: bytes) -> None:
    """Store the bytes under their hash, once (the same file twice is one row)."""
    upsert(conn, EVIDENCE, {"sha256": sha256_of(content)}, {},
           insert_only={"size": len(content), "content": content})


def fetch(conn: Connection, digest: str) -> bytes | None:
    row = conn.execute(select(EVIDENCE.c.content).where(EVIDENCE.c.sha256 == digest)).first()
    return None if row is None else bytes(row.content)
