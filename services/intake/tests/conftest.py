"""Intake built by its bootstrap, on a real database, without a broker.

`intake` is the service as `python -m laurel.intake` builds it (settings,
store, campaign catalog, recorded definitions, gRPC wiring), with two
overrides: no outbox relay (there is no broker here; the outbox rows are
still written), a wall clock inside henan-2021's nomination stage and the
shipped campaigns parsed once for the session. Tests
call the handlers the way the gRPC adapter does, `Intake.handle(command)`,
with each actor's `Caller` on the command.

Each test runs on SQLite, and on PostgreSQL too when LAUREL_TEST_POSTGRES_URL
names a server (a fresh schema per test).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from laurel.campaigns import SHIPPED_DIR, load_catalog
from laurel.campaigns.specimen import specimen_fields
from laurel.demo import DEMO_NOW, ORGANIZER, demo_organizations
from laurel.envelope import Actor, Caller
from laurel.intake.bootstrap import build
from laurel.intake.domain.campaigns import CampaignCatalog
from laurel.intake.domain.commands import (
    GetNomination,
    NominationForm,
    Nominee,
    RegisterOrganization,
    SubmitNomination,
)
from laurel.intake.domain.nomination import Nomination
from laurel.intake.domain.organizations import Organization
from laurel.intake.handlers import Intake
from laurel.intake.settings import IntakeSettings
from laurel.runtime import ServiceRuntime

POSTGRES_URL = os.environ.get("LAUREL_TEST_POSTGRES_URL", "")
SHIPPED = load_catalog(SHIPPED_DIR)
# Parsed once for the session: building intake otherwise reads the YAML again.
CATALOG = CampaignCatalog(SHIPPED)
HENAN = SHIPPED["henan-2021"]
NOMINEE_KIND = {c.key: c.nominee_kind for c in HENAN.categories}
COUNTY = "zhengzhou-peoples"  # under the Zhengzhou commission
PROVINCIAL = "henan-provincial-peoples"  # straight to the center
REGISTERED = {"henan-center", "zhengzhou", "kaifeng", COUNTY, "kaifeng-peoples", PROVINCIAL}
CENTER = ORGANIZER


def nominator(organization: str) -> Actor:
    return Actor(f"nominator-{organization}", "nominator", organization)


def endorser(commission: str) -> Actor:
    return Actor(f"endorser-{commission}", "endorser", commission)


def caller(actor: Actor) -> Caller:
    return Caller(actor, correlation_id=str(uuid.uuid4()))


def form(hospital: str, category: str, name: str = "", **overrides: str) -> NominationForm:
    return NominationForm(
        str(uuid.uuid4()), "henan-2021", category,
        Nominee(NOMINEE_KIND[category], name or f"{hospital} 被推荐", hospital),
        specimen_fields(HENAN.category(category), overrides=overrides))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'intake.sqlite'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not requested: set LAUREL_TEST_POSTGRES_URL (CI does)")
    schema = f"intake_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def settings_for(database_url: str, data_dir: Any, **more: str) -> IntakeSettings:
    env: Mapping[str, str] = {
        "LAUREL_ENV": "development", "LAUREL_GRPC_HOST": "127.0.0.1",
        "LAUREL_GRPC_PORT": "0", "LAUREL_DATA_DIR": str(data_dir),
        "LAUREL_DATABASE_URL": database_url,
        "LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9",  # never dialled: no relay, no consumers
        **more,
    }
    return IntakeSettings.load(env)


class Harness:
    """The built service and the few steps most tests take (the helpers above
    are here too: test modules reach them through the fixture)."""

    campaign = HENAN
    nominator = staticmethod(nominator)
    endorser = staticmethod(endorser)
    caller = staticmethod(caller)
    form = staticmethod(form)

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.app: Intake = runtime.app

    def handle(self, message: Any) -> Any:
        return self.app.handle(message)

    def events(self) -> int:
        return self.store.last_position()

    def submit(self, hospital: str, category: str, name: str = "", **overrides: str) -> str:
        stated = form(hospital, category, name, **overrides)
        self.handle(SubmitNomination(caller(nominator(hospital)), stated))
        return stated.nomination_id

    def get(self, nomination_id: str, actor: Actor = CENTER) -> Nomination:
        found: Nomination = self.handle(GetNomination(caller(actor), nomination_id))
        return found

    def register(self, organization_ids: set[str]) -> None:
        for org in demo_organizations():
            if org["organization_id"] in organization_ids:
                self.handle(RegisterOrganization(caller(ORGANIZER), Organization(**org)))


Builder = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def build_intake(database_url: str, tmp_path: Any) -> AsyncIterator[Builder]:
    """Build intake on this test's database: `env` adds variables, the other
    keywords override the bootstrap's adapters (`store`, `clock`, `catalog`)."""
    runtimes: list[ServiceRuntime] = []

    async def make(env: Mapping[str, str] | None = None, **overrides: Any) -> Harness:
        overrides.setdefault("clock", lambda: DEMO_NOW)
        overrides.setdefault("catalog", CATALOG)
        runtime = await build(settings_for(database_url, tmp_path, **(env or {})),
                              with_relay=False, **overrides)
        runtimes.append(runtime)
        return Harness(runtime)

    yield make
    for runtime in runtimes:
        await runtime.stop()


@pytest.fixture
async def intake(build_intake: Builder) -> Harness:
    harness = await build_intake()
    harness.register(REGISTERED)
    return harness
