"""Where each service's event store lives, and its projections, for auditors.

The audit tools read the stores directly rather than ask the services, so
they must be told where the stores are. In order of precedence:
  1. `--database STORE=URL` arguments (the CLI and `audit serve`);
  2. LAUREL_DATABASE_URL_<SERVICE> (e.g. LAUREL_DATABASE_URL_INTAKE), the
     URL that service runs with as its LAUREL_DATABASE_URL (`AuditSettings`);
  3. in LAUREL_DATA_DIR (default ./var of the source tree): the URLs in
     databases.json, which `laurel up --database postgresql://…` writes,
     else the `<service>.sqlite` files, which is where `laurel up` and each
     service's defaults put them.

Projections (for replay and state as of a time) are a declared interface:
each service's distribution names a factory of its projections as an entry
point of the group `laurel.projections` (name = the store, value = e.g.
`laurel.intake.bootstrap:projections`), so audit never imports a service by
name. An operator may name another factory (`--projection STORE=MODULE:
FACTORY`), which is imported as given.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from laurel.audit.settings import AuditSettings
from laurel.config import PROJECT_ROOT, SERVICES, ConfigError
from laurel.eventstore import EventStore, Projection, events_table
from laurel.runtime import opening_store

PROJECTIONS_GROUP = "laurel.projections"
URL_SETTING = "LAUREL_DATABASE_URL_{}"
DATABASES_FILE = "databases.json"


class ProjectionsUnavailable(LookupError):
    """A store's service declares no projections (or they cannot be loaded)."""


def store_urls(
    named: Mapping[str, str],
    env: Mapping[str, str] | None = None,
    *,
    settings: AuditSettings | None = None,
) -> dict[str, str]:
    """Each store's URL: `named` first, else the per-service settings (read
    from `settings`, else from `env`, default the environment), else files."""
    if named:
        return dict(named)
    settings = settings or AuditSettings.load(env)
    configured = settings.configured_stores()
    if configured:
        return configured
    data_dir = (settings.data_dir if "data_dir" in settings.model_fields_set
                else PROJECT_ROOT / "var")
    databases = data_dir / DATABASES_FILE  # `laurel up --database`'s PostgreSQL stores
    if databases.is_file():
        return {str(k): str(v) for k, v in json.loads(databases.read_text()).items()}
    return {
        s: f"sqlite:///{data_dir / f'{s}.sqlite'}"
        for s in SERVICES
        if (data_dir / f"{s}.sqlite").is_file()
    }


def open_stores(urls: Mapping[str, str]) -> dict[str, EventStore]:
    """Open every store, refusing a URL that holds no event store."""
    if not urls:
        raise ConfigError(
            "no store given: pass --database STORE=URL, set "
            f"{URL_SETTING.format('<SERVICE>')} or point LAUREL_DATA_DIR at "
            "the services' SQLite files"
        )
    stores: dict[str, EventStore] = {}
    try:
        for name, url in urls.items():
            parsed = make_url(url)
            if (
                parsed.get_backend_name() == "sqlite"
                and not Path(parsed.database or "").is_file()
            ):
                raise ConfigError(f"{name}: no SQLite file at {parsed.database}")
            with opening_store(url, f"the {name} store"):  # corrupt: one line
                store = EventStore(url)
                stores[name] = store
                found = inspect(store.engine).has_table(events_table.name)
            if not found:
                raise ConfigError(f"{name}: no event store at {shown(url)}")
    except BaseException:
        for store in stores.values():
            store.close()
        raise
    return stores


def shown(url: str) -> str:
    """A URL fit to print: no password."""
    return make_url(url).render_as_string(hide_password=True)


def load_projections(store_name: str, spec: str | None = None) -> list[Projection]:
    """The projections of a store: from the `laurel.projections` entry point
    its service declares, or from `MODULE:FACTORY` when one is given."""
    factory = _named_factory(store_name, spec) if spec else _declared_factory(store_name)
    made = factory()
    return list(made) if isinstance(made, list | tuple) else [made]


def projections_with(
    specs: Mapping[str, str],
) -> Callable[[str], list[Projection]]:
    """`load_projections`, with an operator's `STORE=MODULE:FACTORY` choices."""
    return lambda store_name: load_projections(store_name, specs.get(store_name))


def _declared_factory(store_name: str) -> Callable[[], Any]:
    try:
        entry = entry_points(group=PROJECTIONS_GROUP)[store_name]
    except KeyError:
        raise ProjectionsUnavailable(
            f"{store_name}: no installed distribution declares its projections "
            f"(an entry point {store_name!r} in the {PROJECTIONS_GROUP!r} group); "
            f"install that service or pass --projection {store_name}=MODULE:FACTORY"
        ) from None
    try:
        factory: Callable[[], Any] = entry.load()
    except (ImportError, AttributeError) as error:
        raise ProjectionsUnavailable(
            f"{store_name}: its declared projections {entry.value} do not load "
            f"({error}); pass --projection {store_name}=MODULE:FACTORY"
        ) from None
    return factory


def _named_factory(store_name: str, spec: str) -> Callable[[], Any]:
    module_name, _, attribute = spec.partition(":")
    try:
        factory: Callable[[], Any] = getattr(import_module(module_name),
                                             attribute or "projections")
    except (ImportError, AttributeError) as error:
        raise ProjectionsUnavailable(
            f"{store_name}: no projections at {spec} ({error}); "
            f"pass --projection {store_name}=MODULE:FACTORY"
        ) from None
    return factory
