"""A pytest plugin (named in pyproject's addopts) holding producers to their
contracts in every test:

- every published event is validated against its contract as it is
  appended (`laurel.contracts.CHECK_ON_APPEND`);
- after each test, every event in every service store the test left under
  its `tmp_path` (`<service>.sqlite`, as the services name their stores)
  is validated against that service's contract, published or not: a type
  without a contract, or a payload that does not match, fails the test.
  A test marked `any_events` is exempt: it stores events of its own making
  on purpose (the audit's tests: the audit reads any hash-chained log).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import laurel.contracts
from laurel.contracts import REGISTRY, ContractViolation, validate


def pytest_configure(config: Any) -> None:
    laurel.contracts.CHECK_ON_APPEND = True


def violations_in_store(service: str, path: Path) -> list[str]:
    """Every stored event of `path` that does not match `service`'s contract."""
    found = []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        try:
            rows = conn.execute(
                "SELECT position, type, schema_version, payload FROM events "
                "ORDER BY position").fetchall()
        except sqlite3.OperationalError:
            return []  # no event table: not a store (yet)
    for position, type_, version, payload in rows:
        try:
            validate(service, type_, version, json.loads(payload))
        except ContractViolation as error:
            found.append(f"{path.name} position {position}: {error}")
    return found


def service_stores(folder: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(folder.rglob("*.sqlite")):
        if path.stem in REGISTRY:
            yield path.stem, path


@pytest.fixture(autouse=True)
def _stored_events_match_their_contracts(request: pytest.FixtureRequest) -> Iterator[None]:
    exempt = request.node.get_closest_marker("any_events") is not None
    folder = (request.getfixturevalue("tmp_path")
              if "tmp_path" in request.fixturenames and not exempt else None)
    yield
    if folder is None:
        return
    found = [v for service, path in service_stores(folder)
             for v in violations_in_store(service, path)]
    if found:
        pytest.fail("events not matching their contracts:\n" + "\n".join(found[:20]),
                    pytrace=False)
