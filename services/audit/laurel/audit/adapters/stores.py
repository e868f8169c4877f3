"""Where each service's event store lives, and its projections, for auditors.

The audit tools read the stores directly rather than ask the services, so
they must be told where the stores are. In order of precedence:
  1. `--database STORE=URL` arguments (the CLI and `audit serve`);
  2. LAUREL_DATABASE_URL_<SERVICE> (e.g. LAUREL_DATABASE_URL_INTAKE), the
     URL that service runs with as its LAUREL_DATABASE_URL;
  3. the `<service>.sqlite` files in LAUREL_DATA_DIR (default ./var), which
     is where `laurel up` and each service's defaults put them.

Projections are found by service name (`laurel.<service>.bootstrap:
projections`) with importlib, so this shared code never imports a service.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import import_module
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from laurel.config import PROJECT_ROOT, SERVICES, ConfigError
from laurel.eventstore import EventStore, Projection, events_table

URL_SETTING = "LAUREL_DATABASE_URL_{}"


class ProjectionsUnavailable(LookupError):
    """A store's service exposes no projections (or they cannot be loaded)."""


def store_urls(
    named: Mapping[str, str], env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Each store's URL: `named` first, else per-service settings, else files."""
    if named:
        return dict(named)
    env = os.environ if env is None else env
    configured = {
        s: env[URL_SETTING.format(s.upper())]
        for s in SERVICES
        if env.get(URL_SETTING.format(s.upper()), "").strip()
    }
    if configured:
        return configured
    data_dir = Path(env.get("LAUREL_DATA_DIR", PROJECT_ROOT / "var"))
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
            store = EventStore(url)
            stores[name] = store
            if not inspect(store.engine).has_table(events_table.name):
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
    """The projections of a store, from `MODULE:FACTORY` or the convention."""
    spec = spec or f"laurel.{store_name}.bootstrap:projections"
    module_name, _, attribute = spec.partition(":")
    try:
        factory = getattr(import_module(module_name), attribute or "projections")
    except (ImportError, AttributeError) as error:
        raise ProjectionsUnavailable(
            f"{store_name}: no projections at {spec} ({error}); "
            f"pass --projection {store_name}=MODULE:FACTORY"
        ) from None
    made = factory()
    return list(made) if isinstance(made, list | tuple) else [made]
