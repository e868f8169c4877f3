"""The peer: the same nomination streams in the `eventsourcing` library (9.5.6).

One aggregate per nomination, created by a `NominationSubmitted` event and
changed by one generic `Recorded` event per later command (carrying the same
type, payload and metadata Laurel stores); saved with `Application.save`, one
transaction per command; rebuilt with `repository.get` (fold one aggregate)
and by reading the application's notification log in order (replay).
eventsourcing keeps no hash chain, so "verify" has no peer.
"""

from __future__ import annotations

import sqlite3
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from laurel_bench.common import postgres_admin_url


class EsNomination(Aggregate):
    @staticmethod
    def create_id(nomination_id: str) -> UUID:
        return UUID(nomination_id)

    @event("NominationSubmitted")
    def __init__(self, nomination_id: str, payload: dict[str, Any],
                 metadata: dict[str, Any]) -> None:
        self.nomination_id = nomination_id
        self.campaign_id = payload["campaign_id"]
        self.category = payload["category"]
        self.nominee = payload["nominee"]
        self.fields = dict(payload["fields"])
        self.status = "submitted"
        self.submitted_by = metadata["actor"]["id"]

    @event("Recorded")
    def record(self, type: str, payload: dict[str, Any],  # noqa: A002
               metadata: dict[str, Any]) -> None:
        self.last_type = type


class NominationsApp(Application[UUID]):
    name = "LaurelBench"


def es_env(backend: str, target: str) -> dict[str, str]:
    """`target` is a SQLite file path or a SQLAlchemy PostgreSQL URL."""
    if backend == "sqlite":
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": target}
    from sqlalchemy.engine import make_url

    url = make_url(target)
    admin = make_url(postgres_admin_url())
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.database or "",
        "POSTGRES_HOST": url.host or admin.host or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_POOL_SIZE": "2",
    }


def make_app(backend: str, target: str) -> NominationsApp:
    return NominationsApp(env=es_env(backend, target))


def sqlite_settings(path: str) -> dict[str, Any]:
    """The pragmas eventsourcing's SQLite connections end up with."""
    conn = sqlite3.connect(path)
    try:
        return {
            "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
            "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
                conn.execute("PRAGMA synchronous").fetchone()[0]
            ],
        }
    finally:
        conn.close()
