"""The whole API on real sockets, in process, as tests/e2e starts it: the four
services (real SQLite stores, the session's Tansu broker) and the
AuditService over their stores, each on its own port."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from laurel.audit.server import AuditServer, build_server
from laurel.config import SERVICES, load_settings
from laurel.intake.bootstrap import build as build_intake
from laurel.notification.bootstrap import build_notification
from laurel.review.bootstrap import build_review
from laurel.runtime import ServiceRuntime
from laurel.scoring.bootstrap import build as build_scoring

AUDIT = "audit"
ROOT = Path(__file__).resolve().parents[2]


def load_tool(name: str) -> ModuleType:
    """A module of tools/api (not a package), loaded by path."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / "api" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while loading
    spec.loader.exec_module(module)
    return module


@dataclass
class Stack:
    services: dict[str, ServiceRuntime]
    audit: AuditServer

    def address(self, server: str) -> str:
        port = self.audit.port if server == AUDIT else self.services[server].grpc.port
        return f"127.0.0.1:{port}"

    @property
    def servers(self) -> list[str]:
        return [*self.services, AUDIT]


@pytest.fixture
async def stack(service_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Stack]:
    env = {**service_env, "LAUREL_REVIEW_REMINDER_POLL_S": "0"}
    services: dict[str, ServiceRuntime] = {
        "intake": await build_intake(load_settings("intake", env)),
        "scoring": await build_scoring(load_settings("scoring", env)),
        "review": await build_review(load_settings("review", env), env),
        "notification": await build_notification(load_settings("notification", env), env),
    }
    assert set(services) == set(SERVICES)
    for runtime in services.values():
        await runtime.start()
    audit = build_server(
        {s: f"sqlite:///{tmp_path / f'{s}.sqlite'}" for s in SERVICES}, port=0,
        env={"LAUREL_ENV": "development", "LAUREL_GRPC_HOST": "127.0.0.1",
             "LAUREL_DATA_DIR": str(tmp_path)})
    await audit.start()
    try:
        yield Stack(services, audit)
    finally:
        await audit.stop()
        for runtime in reversed(list(services.values())):
            await runtime.stop()
