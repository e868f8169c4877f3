"""Alembic chains on real SQLite files and a real PostgreSQL: from empty, from
the previous release's schema (e96f14f's create_all, kept as DDL in
e96f14f/), refusal of a schema that is not ours or is older or newer, and
three processes starting at once on an empty database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, inspect, text

from laurel import migrator
from laurel.cli import main as laurel
from laurel.config import SERVICES, load_settings
from laurel.eventstore import engine_for, store_metadata
from laurel.runtime import open_store

FIXTURES = Path(__file__).parent / "e96f14f"


def dialect_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def create_previous_release(engine: Engine, service: str) -> None:
    """The tables e96f14f's create_all made in `service`'s database."""
    ddl = (FIXTURES / f"{service}.{engine.dialect.name}.sql").read_text()
    statements = [s.strip() for s in ddl.split(";\n") if s.strip()]
    with engine.connect().execution_options(laurel_write=True) as conn, conn.begin():
        for statement in statements:
            body = "\n".join(line for line in statement.splitlines()
                             if not line.startswith("--"))
            if body.strip():
                conn.exec_driver_sql(body.rstrip(";"))


def schema(engine: Engine) -> dict[str, Any]:
    """Everything reflection sees of every table but the version tables."""
    inspector = inspect(engine)
    found: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        if table.startswith("laurel_schema_"):
            continue
        found[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default"))
                        for c in inspector.get_columns(table)],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted((f["constrained_columns"], f["referred_table"],
                           f["referred_columns"]) for f in inspector.get_foreign_keys(table)),
            "indexes": sorted((i["name"], i["column_names"], bool(i["unique"]))
                              for i in inspector.get_indexes(table)),
            "unique": sorted((u["column_names"]) for u in inspector.get_unique_constraints(table)),
        }
    return found


def second_url(url: str, tmp_path: Path) -> str:
    """Another empty database beside `url` (SQLite: a file; PostgreSQL: a schema)."""
    if url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'other.sqlite'}"
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA other"))
    engine.dispose()
    return url + "?options=-csearch_path%3Dother"


def settings_for(service: str, url: str, tmp_path: Path, **env: str) -> Any:
    """A service's settings on a free port (a built service binds its port at
    once; the usual one may be another test's or a running stack's)."""
    return load_settings(service, {"LAUREL_DATABASE_URL": url, "LAUREL_DATA_DIR": str(tmp_path),
                                   "LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:1",
                                   "LAUREL_GRPC_PORT": "0", **env})


@pytest.mark.parametrize("service", SERVICES)
def test_first_revisions_make_exactly_the_previous_release_schema(
    service: str, database_url: str, tmp_path: Path
) -> None:
    """Each chain's first revision reproduces what the release before
    migrations made (e96f14f's create_all)."""
    chains = migrator.chains_for(service)
    migrated = engine_for(database_url)
    migrator.upgrade(migrated, chains, targets={c.name: c.base() for c in chains})
    previous = engine_for(second_url(database_url, tmp_path))
    create_previous_release(previous, service)
    try:
        assert schema(migrated) == schema(previous)
    finally:
        migrated.dispose()
        previous.dispose()


def code_metadata(service: str) -> list[MetaData]:
    """The tables today's code declares for `service`'s database."""
    found = [store_metadata, *(p.metadata for p in import_module(
        f"laurel.{service}.bootstrap").projections())]
    if service == "intake":
        found.append(import_module("laurel.intake.evidence_store").METADATA)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_head_is_the_schema_the_code_declares(
    service: str, database_url: str, tmp_path: Path
) -> None:
    """Migrating from empty gives the tables the code's metadata declares, no
    more and no less (a table added to the code needs a revision)."""
    migrated = engine_for(database_url)
    moved = migrator.upgrade(migrated, migrator.chains_for(service))
    assert {name: after for name, (_before, after) in moved.items()} == {
        c.name: c.head() for c in migrator.chains_for(service)}
    declared = engine_for(second_url(database_url, tmp_path))
    for metadata in code_metadata(service):
        metadata.create_all(declared)
    try:
        assert schema(migrated) == schema(declared)
    finally:
        migrated.dispose()
        declared.dispose()


@pytest.mark.parametrize("service", ["intake", "notification"])
def test_previous_release_database_is_adopted_with_its_data(
    service: str, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = engine_for(database_url)
    create_previous_release(engine, service)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO events (position, event_id, stream_id, version, type, "
            "schema_version, payload, metadata, recorded_at, prev_hash, hash) VALUES "
            "(1, 'e1', 's1', 1, 'T', 1, '{}', '{}', '2026-01-01T00:00:00.000000Z', "
            "'0', 'h')"))
    assert laurel(["migrate", "--service", service, "--database", database_url]) == 0
    out = capsys.readouterr().out
    assert f"{service}: core empty ->" not in out  # adopted, then carried on
    assert f"{service}: core core_0001 -> " in out
    assert laurel(["migrate", "--check", "--service", service,
                   "--database", database_url]) == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT event_id FROM events")).scalars().all() == ["e1"]
        assert conn.execute(text("SELECT version_num FROM laurel_schema_core")
                            ).scalar_one() == migrator.chain("core").head()
    engine.dispose()


def test_a_schema_that_is_not_ours_is_refused(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = engine_for(database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE events (position BIGINT PRIMARY KEY, body TEXT)"))
    engine.dispose()
    assert laurel(["migrate", "--service", "scoring", "--database", database_url]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("laurel: scoring: the database has some of the `core` tables "
                           "but not outbox, processed_events")


@pytest.mark.postgres
def test_production_refuses_an_unmigrated_older_or_newer_schema(
    postgres_url: str, tmp_path: Path
) -> None:
    """Outside development, on PostgreSQL, a service only checks: one line
    naming the command to run."""
    settings = settings_for("review", postgres_url, tmp_path, LAUREL_ENV="production")
    with pytest.raises(migrator.SchemaMismatch) as refused:
        open_store(settings)
    assert "run `laurel migrate --service review` first" in str(refused.value.code)
    engine = engine_for(postgres_url)
    create_previous_release(engine, "review")  # the release before: no versions
    with pytest.raises(migrator.SchemaMismatch, match="no `core` schema version"):
        open_store(settings)
    assert laurel(["migrate", "--service", "review", "--database", postgres_url]) == 0
    open_store(settings).close()
    with engine.begin() as conn:  # a later release's migration
        conn.execute(text("UPDATE laurel_schema_review SET version_num = 'review_0099'"))
    with pytest.raises(migrator.SchemaMismatch) as refused:
        open_store(settings)
    assert str(refused.value.code) == (
        "the database's `review` schema is at review_0099, newer than this release knows "
        f"(head {migrator.chain('review').head()}): run the release that migrated it, or newer")
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("service", ["intake", "scoring"])
def test_three_processes_start_at_once_on_an_empty_database(
    service: str, database_url: str, service_env: dict[str, str], tmp_path: Path
) -> None:
    """Three replicas of a service (development settings, so each migrates at
    start) on one empty database: all serve, each table is made once."""
    ports = [_free_port() for _ in range(3)]
    processes = []
    for index, port in enumerate(ports):
        env = {**os.environ, **service_env, "LAUREL_DATABASE_URL": database_url,
               "LAUREL_GRPC_PORT": str(port)}  # one security log file for all three
        log = (tmp_path / f"{service}-{index}.log").open("w")
        processes.append(subprocess.Popen([sys.executable, "-m", f"laurel.{service}"],
                                          env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        deadline = time.monotonic() + 60
        waiting = set(ports)
        while waiting and time.monotonic() < deadline:
            for process in processes:
                assert process.poll() is None, _logs(tmp_path)
            for port in list(waiting):
                check = subprocess.run(
                    [sys.executable, "-m", "laurel.healthcheck", "--address",
                     f"127.0.0.1:{port}", "--timeout", "1"], capture_output=True)
                if check.returncode == 0:
                    waiting.discard(port)
            time.sleep(0.2)
        assert not waiting, _logs(tmp_path)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    engine = engine_for(database_url)
    assert all(current == head for current, head in
               migrator.versions(engine, migrator.chains_for(service)).values())
    engine.dispose()


def _logs(folder: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in folder.glob("*.log"))


REFILL_REVISION = '''"""organizations re-made (as a change of shape would), refilled from the log.

Revision ID: intake_9001
Revises: {head}
"""

import sqlalchemy as sa
from alembic import op

from laurel.migrator import request_refill

revision = "intake_9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("organizations")
    op.create_table(
        "organizations",
        sa.Column("organization_id", sa.String(length=100), primary_key=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.String(length=100), nullable=False),
        sa.Column("jurisdiction_id", sa.String(length=100), nullable=False),
        sa.Column("provincial_level", sa.Boolean(), nullable=False),
    )
    request_refill("intake")
'''


async def test_a_revision_that_remakes_a_read_model_gets_it_refilled_from_the_log(
    database_url: str, tmp_path: Path
) -> None:
    """A read-model revision drops and re-creates a table and asks for a
    refill; the next open of the store (in production: the first replica to
    start after the hook ran) refills it from the log, once."""
    import shutil

    from laurel.demo import ORGANIZER, demo_organizations
    from laurel.envelope import Caller
    from laurel.eventstore import EventStore
    from laurel.intake.bootstrap import build, projections
    from laurel.intake.domain.commands import RegisterOrganization
    from laurel.intake.domain.events import UPCASTERS
    from laurel.intake.domain.organizations import Organization
    from laurel.runtime import prepare_schema

    settings = settings_for("intake", database_url, tmp_path, LAUREL_ENV="development")
    runtime = await build(settings, with_relay=False)
    for org in demo_organizations()[:4]:
        runtime.app.handle(RegisterOrganization(Caller(ORGANIZER, correlation_id="t"),
                                                Organization(**org)))
    runtime.store.close()
    shipped = migrator.chain("intake")
    copy = tmp_path / "intake-chain"
    shutil.copytree(shipped.directory, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "versions" / "intake_9001_refill.py").write_text(
        REFILL_REVISION.format(head=shipped.head()))
    chains = [migrator.chain("core"), migrator.Chain("intake", copy)]

    def organizations(store: EventStore) -> int:
        with store.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM organizations")).scalar_one()

    store = EventStore(database_url, projections=projections(), upcasters=UPCASTERS)
    before = organizations(store)
    assert before >= 4
    migrator.upgrade(store.engine, chains)  # what the hook does: the table is empty now
    assert organizations(store) == 0
    with store.engine.connect() as conn:
        assert migrator.refills_requested(conn) == {"intake"}
    prepare_schema(store, "intake", migrate=False, chains=chains)  # a replica starts
    assert organizations(store) == before
    with store.engine.connect() as conn:
        assert migrator.refills_requested(conn) == set()
    prepare_schema(store, "intake", migrate=True, chains=chains)  # and the next: nothing
    assert organizations(store) == before
    store.close()


@pytest.mark.postgres
def test_a_production_process_on_an_unmigrated_database_stops_with_one_line(
    postgres_url: str, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = tmp_path / "issuer.pem"
    key.write_bytes(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}
    env.update({"LAUREL_ENV": "production", "LAUREL_DATABASE_URL": postgres_url,
                "LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9", "LAUREL_DATA_DIR": str(tmp_path),
                "LAUREL_JWT_PUBLIC_KEY_FILE": str(key), "LAUREL_JWT_ISSUER": "i",
                "LAUREL_JWT_AUDIENCE": "a"})
    done = subprocess.run([sys.executable, "-m", "laurel.review"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "run `laurel migrate --service review` first" in lines[0]
