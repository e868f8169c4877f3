"""Schema migrations: Alembic chains, one per owner of tables, in one database.

A service's database holds two chains: `core` (the store's own tables:
events, outbox, processed marks; laurel/migrations/versions/) and the
service's (its read models and any table of its own;
laurel/<service>/migrations/versions/). Each chain keeps its revision in its
own version table, `laurel_schema_<chain>`, so the chains coexist and grow
independently (a helper adding a store table adds a `core` revision; a
service changing a read model adds one to its chain).

`upgrade` brings chains to their head, `check` says whether they are there.
Both run in one transaction per database behind a lock (a transaction-level
advisory lock on PostgreSQL; SQLite's write lock, taken by BEGIN IMMEDIATE),
so processes starting together on an empty database create each table once:
the first does the work, the others wait and find it done.

A database made before there were migrations (the previous release's
create_all schema, no version table) is adopted: when a chain's first
revision's tables all exist with the columns, nullability and primary keys
that revision gives them, the chain is stamped at that revision and then
upgraded. Anything else (some of the tables, or different ones) is refused
with the tables named.

Read models can always be rebuilt from the log, so a read-model revision
may change a table any way at all and then ask for a refill
(`request_refill("<projection name>")`): the service refills that read model
from the log when it next opens its store, in one transaction with removing
the request (see laurel.runtime.open_store). Tables that are not rebuildable
(intake's evidence bytes) need ordinary data-preserving revisions.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, inspect, text

from laurel.config import ConfigError

CORE = "core"
VERSION_TABLE = "laurel_schema_{}"
REFILLS_TABLE = "laurel_refills"
# Alembic says at INFO which dialect it runs on, twice per chain and start;
# what moved is logged (and printed by `laurel migrate`) here instead.
logging.getLogger("alembic").setLevel(logging.WARNING)
# Distinct from laurel.unit_of_work.PG_APPEND_LOCK: appends go on while a
# process checks the schema.
PG_MIGRATION_LOCK = 0x4C41_5552_4D49  # "LAURMI"


class SchemaMismatch(ConfigError):
    """The database's schema is not the one this code needs: one line saying
    what to run (a ConfigError, so start-up stops with that line)."""


@dataclass(frozen=True)
class Chain:
    """A line of Alembic revisions with its own version table."""

    name: str
    directory: Path

    @property
    def version_table(self) -> str:
        return VERSION_TABLE.format(self.name)

    def script(self) -> ScriptDirectory:
        return _script(self.directory)

    def head(self) -> str:
        head = self.script().get_current_head()
        assert head is not None, f"chain {self.name} has no revisions"
        return head

    def base(self) -> str:
        [base] = self.script().get_bases()
        return base


@cache
def _script(directory: Path) -> ScriptDirectory:
    return ScriptDirectory(str(directory), version_locations=[str(directory / "versions")])


def chain(name: str) -> Chain | None:
    """`core`, or the chain of service `name` (package laurel.<name>.migrations)."""
    package = "laurel.migrations" if name == CORE else f"laurel.{name}.migrations"
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Chain(name, Path(next(iter(spec.submodule_search_locations))))


def chains_for(service: str | None) -> list[Chain]:
    """The chains of a service's database: the store's, then the service's own."""
    found = [chain(CORE)]
    if service:
        found.append(chain(service))
    return [c for c in found if c is not None]


def owning_chain(projection: object) -> Chain | None:
    """The chain of the service whose package defines `projection`'s class
    (laurel.<service>.…), if that service has one."""
    parts = type(projection).__module__.split(".")
    return chain(parts[1]) if len(parts) > 2 and parts[0] == "laurel" else None


# -- reading and moving versions ----------------------------------------------------


def _context(conn: Connection, chain: Chain) -> MigrationContext:
    return MigrationContext.configure(conn, opts={"version_table": chain.version_table})


def _current(conn: Connection, chain: Chain) -> str | None:
    return _context(conn, chain).get_current_revision()


def versions(engine: Engine, chains: Sequence[Chain]) -> dict[str, tuple[str | None, str]]:
    """chain -> (the database's revision or None, this code's head)."""
    with engine.connect() as conn:
        return {c.name: (_current(conn, c), c.head()) for c in chains}


def _known(chain: Chain, revision: str) -> bool:
    try:
        return chain.script().get_revision(revision) is not None
    except CommandError:
        return False


def mismatch(chain: Chain, current: str | None, command: str) -> str | None:
    """Why a database at `current` cannot be used by this code, or None."""
    head = chain.head()
    if current == head:
        return None
    if current is None:
        return (f"the database has no `{chain.name}` schema version (new, or made "
                f"before migrations): run `{command}` first")
    if not _known(chain, current):
        return (f"the database's `{chain.name}` schema is at {current}, newer than this "
                f"release knows (head {head}): run the release that migrated it, or newer")
    return (f"the database's `{chain.name}` schema is at {current}, older than this "
            f"release's {head}: run `{command}` first")


def check(engine: Engine, chains: Sequence[Chain], command: str) -> None:
    """Raise SchemaMismatch (one line naming `command`) unless every chain is at head."""
    for name, (current, _head) in versions(engine, chains).items():
        problem = mismatch(next(c for c in chains if c.name == name), current, command)
        if problem is not None:
            raise SchemaMismatch(problem)


# -- upgrading ------------------------------------------------------------------------


def locked(engine: Engine) -> Any:
    """A connection in a write transaction that holds the migration lock
    (close it to commit or roll back: `with locked(engine) as conn, conn.begin()`
    is not enough, the lock is taken by the first statement here)."""
    return engine.connect().execution_options(laurel_write=True)


def take_lock(conn: Connection) -> None:
    """On PostgreSQL, the transaction-level advisory lock; on SQLite, BEGIN
    IMMEDIATE (the connection's laurel_write option) already holds the write lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})


def upgrade(
    engine: Engine,
    chains: Sequence[Chain],
    *,
    then: Callable[[Connection, set[str]], None] | None = None,
    targets: Mapping[str, str] | None = None,
) -> dict[str, tuple[str | None, str]]:
    """Bring every chain to its head (or to `targets[chain]`), in one
    transaction behind the lock.

    Returns chain -> (revision before, revision after). `then(conn,
    tables_before)` runs in the same transaction afterwards (refills)."""
    moved: dict[str, tuple[str | None, str]] = {}
    with locked(engine) as conn, conn.begin():
        take_lock(conn)
        before = set(inspect(conn).get_table_names())
        for item in chains:
            target = (targets or {}).get(item.name, "head")
            moved[item.name] = _upgrade_chain(conn, item, before, target)
        if then is not None:
            then(conn, before)
    return moved


def _upgrade_chain(conn: Connection, chain: Chain, tables: set[str],
                   target: str) -> tuple[str | None, str]:
    context = _context(conn, chain)
    script = chain.script()
    current = context.get_current_revision()
    if current is None and chain.version_table not in tables:
        adopted = _adoptable(conn, chain, tables)
        if adopted:
            context.stamp(script, chain.base())
            current = chain.base()
    if current is not None and not _known(chain, current):
        raise SchemaMismatch(mismatch(chain, current, "laurel migrate"))
    steps = list(script.iterate_revisions(target, current or "base"))
    with Operations.context(context):
        for revision in reversed(steps):
            if revision.revision == current:
                continue
            assert revision.module is not None
            revision.module.upgrade()
            context.stamp(script, revision.revision)
    return current, context.get_current_revision() or "base"


def _adoptable(conn: Connection, chain: Chain, tables: set[str]) -> bool:
    """True when the first revision's tables are all here, as it makes them;
    False when none is; SchemaMismatch for anything between."""
    expected = base_shape(chain)
    present = set(expected) & tables
    if not present:
        return False
    missing = sorted(set(expected) - tables)
    if missing:
        raise SchemaMismatch(
            f"the database has some of the `{chain.name}` tables but not "
            f"{', '.join(missing)}, and no version table: not a Laurel schema this "
            "release can adopt")
    actual = shape(conn, expected)
    different = sorted(t for t in expected if expected[t] != actual[t])
    if different:
        raise SchemaMismatch(
            f"the `{chain.name}` tables {', '.join(different)} differ from the ones "
            "the previous release made, and there is no version table: not a Laurel "
            "schema this release can adopt")
    return True


Shape = tuple[tuple[tuple[str, bool], ...], tuple[str, ...]]


def shape(conn: Connection, tables: Iterable[str]) -> dict[str, Shape]:
    """Each table's (column, nullable) pairs and primary key: what adoption
    compares (portable across SQLite and PostgreSQL, unlike type names)."""
    inspector = inspect(conn)
    found: dict[str, Shape] = {}
    for table in tables:
        columns = tuple(sorted((c["name"], bool(c["nullable"]))
                               for c in inspector.get_columns(table)))
        key = tuple(inspector.get_pk_constraint(table)["constrained_columns"])
        found[table] = (columns, key)
    return found


@cache
def base_shape(chain: Chain) -> dict[str, Shape]:
    """The tables of the chain's first revision, as it makes them (run into an
    in-memory SQLite database and read back)."""
    scratch = create_engine("sqlite://")
    script = chain.script()
    base = script.get_revision(chain.base())
    assert base is not None and base.module is not None
    with scratch.begin() as conn:
        with Operations.context(MigrationContext.configure(conn)):
            base.module.upgrade()
        result = shape(conn, inspect(conn).get_table_names())
    scratch.dispose()
    return result


# -- read-model refills ----------------------------------------------------------------


def request_refill(projection: str) -> None:
    """In a revision: ask for read model `projection` to be refilled from the
    log when its service next opens the store (after this revision changed or
    recreated its tables). Idempotent."""
    from alembic import op

    conn = op.get_bind()
    conn.execute(text(f"CREATE TABLE IF NOT EXISTS {REFILLS_TABLE} "
                      "(projection VARCHAR(100) PRIMARY KEY)"))
    conn.execute(text(f"DELETE FROM {REFILLS_TABLE} WHERE projection = :p"),
                 {"p": projection})
    conn.execute(text(f"INSERT INTO {REFILLS_TABLE} (projection) VALUES (:p)"),
                 {"p": projection})


def refills_requested(conn: Connection) -> set[str]:
    if not inspect(conn).has_table(REFILLS_TABLE):
        return set()
    return set(conn.execute(text(f"SELECT projection FROM {REFILLS_TABLE}")).scalars())


def refilled(conn: Connection, projection: str) -> None:
    conn.execute(text(f"DELETE FROM {REFILLS_TABLE} WHERE projection = :p"),
                 {"p": projection})
