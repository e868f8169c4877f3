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
