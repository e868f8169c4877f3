"""`laurel migrate`: the stores' schemas, for operators and the chart's hook.

Which database: `--database URL`, else the service's settings
(LAUREL_DATABASE_URL_<SERVICE>, then LAUREL_DATABASE_URL with `--service`,
then the development default `<LAUREL_DATA_DIR>/<service>.sqlite`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from laurel.cli import EXIT_REFUSED, CliError, choice, fail, new_app
from laurel.config import SERVICES

Service = Annotated[str, typer.Option(
    "--service", help=f"the service whose database: {', '.join(SERVICES)} [default: all]",
    callback=lambda value: choice(value, SERVICES, "--service"), show_default=False)]
Database = Annotated[str, typer.Option(
    "--database", help="the database URL (with --service) [default: the service's settings]",
    show_default=False)]


def store_url(service: str, env: Mapping[str, str] | None = None) -> str:
    """The URL of `service`'s store as the service itself would open it."""
    from laurel.config import load_settings

    env = dict(os.environ if env is None else env)
    specific = env.get(f"LAUREL_DATABASE_URL_{service.upper()}", "").strip()
    if specific:
        env["LAUREL_DATABASE_URL"] = specific
    env.setdefault("LAUREL_KAFKA_BOOTSTRAP", "unused:0")  # not needed to reach a store
    return load_settings(service, env).database_url


def stores(service: str, database: str) -> Iterator[tuple[str, str]]:
    """(service, URL) of each store named by the options."""
    if database and not service:
        fail("--database needs --service: which service's chains to apply")
    if service:
        yield service, database or store_url(service)
        return
    if os.environ.get("LAUREL_DATABASE_URL", "").strip():
        fail("LAUREL_DATABASE_URL is set: say whose database it is with --service "
             "(or set LAUREL_DATABASE_URL_<SERVICE> per service)")
    for name in SERVICES:
        yield name, store_url(name)


def shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database or "")
    return None


def _missing_file(url: str) -> bool:
    path = _sqlite_file(url)
    return path is not None and not path.is_file()


def _engine(url: str) -> Engine:
    from laurel.eventstore import engine_for

    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return engine_for(url)


migrate_app = new_app("Bring the stores' schemas to this release (Alembic chains).")
migrate_app.info.no_args_is_help = False


@migrate_app.callback(invoke_without_command=True)
def migrate(
    service: Service = "",
    database: Database = "",
    check: Annotated[bool, typer.Option(
        "--check", help="change nothing: exit 1 unless every chain is at this "
                        "release's revision")] = False,
) -> None:
    """Apply the store's (`core`) and the service's migration chains to each
    service's database, or with --check only compare. Safe to run while the
    services run, and from several places at once."""
    from sqlalchemy.exc import SQLAlchemyError

    from laurel import migrator
    from laurel.runtime import migrate_command

    behind: list[str] = []
    for name, url in stores(service, database):
        if check and _missing_file(url):
            print(f"{name}: no database at {shown(url)}")
            behind.append(name)
            continue
        engine = _engine(url)
        chains = migrator.chains_for(name)
        try:
            if check:
                found = migrator.versions(engine, chains)
                for item in chains:
                    current, head = found[item.name]
                    problem = migrator.mismatch(item, current, migrate_command(name))
                    state = "current" if problem is None else problem
                    print(f"{name}: {item.name} at {current or 'none'} (head {head}): {state}")
                    if problem is not None:
                        behind.append(f"{name}/{item.name}")
            else:
                moved = migrator.upgrade(engine, chains)
                for chain_name, (before, after) in moved.items():
                    change = "current" if before == after else f"{before or 'empty'} -> {after}"
                    print(f"{name}: {chain_name} {change} at {shown(url)}")
        except migrator.SchemaMismatch as error:
            fail(f"{name}: {error.code}")
        except SQLAlchemyError as error:
            cause = str(getattr(error, "orig", None) or error).splitlines()[0]
            fail(f"{name}: {shown(url)}: {cause}")
        finally:
            engine.dispose()
    if behind:
        raise CliError(f"not at this release's schema: {', '.join(behind)}",
                       code=EXIT_REFUSED)


# -- backup and restore ------------------------------------------------------------


def _one(service: str, database: str) -> str:
    """The one store a backup, restore or republish works on."""
    if not service:
        fail("name the service whose store: --service")
    return database or store_url(service)


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as pg_dump and pg_restore read it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run_tool(argv: list[str], what: str) -> None:
    import shutil
    import subprocess

    if shutil.which(argv[0]) is None:
        fail(f"{argv[0]} is not installed here: install the PostgreSQL client tools "
             f"(the same major version as the server) to {what}")
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        fail(f"{argv[0]} failed: {lines[-1] if lines else f'exit {done.returncode}'}")


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy while writers go on."""
    import sqlite3

    target.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


backup_app = new_app("Copy a service's store (events, outbox, read models, checkpoints).")
backup_app.info.no_args_is_help = False


@backup_app.callback(invoke_without_command=True)
def backup(
    out: Annotated[Path, typer.Option("--out", help="the backup file to write")],
    service: Service = "",
    database: Database = "",
) -> None:
    """Back up a service's store while it runs: SQLite with its online backup
    API, PostgreSQL with pg_dump (custom format, one consistent snapshot).
    Checkpoints are events in the store, so they are in the backup."""
    url = _one(service, database)
    path = _sqlite_file(url)
    if path is not None:
        if not path.is_file():
            fail(f"{service}: no database at {shown(url)}")
        _sqlite_copy(path, out)
    else:
        _run_tool(["pg_dump", "--format=custom", "--no-owner", "--file", str(out),
                   "--dbname", libpq_url(url)], "back up PostgreSQL")
    print(f"{service}: {shown(url)} backed up to {out}")


restore_app = new_app("Put a backup back, and prove it whole.")
restore_app.info.no_args_is_help = False


@restore_app.callback(invoke_without_command=True)
def restore(
    source: Annotated[Path, typer.Option("--from", help="a file `laurel backup` wrote")],
    service: Service = "",
    database: Database = "",
) -> None:
    """Restore a service's store from a backup, into a database holding no
    events (stop the service first; for PostgreSQL create the database
    empty), then check its schema version and its hash chain."""
    from laurel import migrator
    from laurel.eventstore import EventStore, events_table

    url = _one(service, database)
    if not source.is_file():
        fail(f"no backup at {source}")
    path = _sqlite_file(url)
    engine = _engine(url) if path is None or path.is_file() else None
    if engine is not None:
        from sqlalchemy import func, inspect, select

        with engine.connect() as conn:
            held = (conn.execute(select(func.count()).select_from(events_table)).scalar_one()
                    if inspect(conn).has_table(events_table.name) else 0)
        engine.dispose()
        if held:
            fail(f"{service}: {shown(url)} already holds {held} events; restore into an "
                 "empty database (a new one, or this one dropped and created again)")
    if path is not None:
        for leftover in (path, path.with_name(path.name + "-wal"),
                         path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        _sqlite_copy(source, path)
    else:
        _run_tool(["pg_restore", "--no-owner", "--exit-on-error", "--dbname",
                   libpq_url(url), str(source)], "restore into PostgreSQL")
    store = EventStore(url)
    try:
        for item in migrator.chains_for(service):
            current, head = migrator.versions(store.engine, [item])[item.name]
            state = "current" if current == head else f"at {current}, head {head}: run " \
                f"`laurel migrate --service {service}`"
            print(f"{service}: {item.name} schema {state}")
        report = store.verify()
    finally:
        store.close()
    if not report.ok:
        raise CliError(f"{service}: restored, but the hash chain does not hold: "
                       f"{report.first_break}", code=EXIT_REFUSED)
    print(f"{service}: restored {report.events_checked} events from {source}; "
          "hash chain holds")


# -- the outbox ------------------------------------------------------------------------

outbox_app = new_app("The outbox: what a service has sent to Kafka.")


@outbox_app.command()
def republish(
    position: Annotated[int, typer.Option("--from", min=1, help="the first position "
                                          "to send again")],
    service: Service = "",
    database: Database = "",
) -> None:
    """Mark the outbox rows from a position on as unpublished, so the running
    service's relay sends those events again (after a topic was lost or
    truncated). Safe: consumers apply each event id once."""
    from sqlalchemy import update

    from laurel.eventstore import outbox_table

    url = _one(service, database)
    if _missing_file(url):
        fail(f"{service}: no database at {shown(url)}")
    engine = _engine(url)
    try:
        with engine.connect().execution_options(laurel_write=True) as conn, conn.begin():
            count = conn.execute(update(outbox_table)
                                 .where(outbox_table.c.position >= position)
                                 .values(published_at=None)).rowcount
    finally:
        engine.dispose()
    print(f"{service}: {count} event(s) from position {position} on will be published "
          "again by the service's outbox relay")
