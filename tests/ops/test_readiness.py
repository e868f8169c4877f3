"""Readiness tells the truth: a service whose database or broker does not
answer reports NOT_SERVING for its service name within seconds, and SERVING
again once it answers, while liveness (the server as a whole) stays SERVING.

The outages are real: on PostgreSQL the service's own database refuses
connections (`ALLOW_CONNECTIONS false`) and its sessions are terminated; on
SQLite the store's file is moved away (as root, making it unreadable does not
stop the service's user); the
broker process is stopped and started again on its port.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# Readiness is checked every second; the probe's timeout is two.
WITHIN_S = 8.0


def readiness_records(log: Path) -> list[dict[str, Any]]:
    found = []
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if record["logger"] == "laurel.readiness":
            found.append(record)
    return found


@pytest.mark.slow
def test_readiness_follows_the_database(
    processes: Any, kafka_broker: Any, database_url: str, ops: Any
) -> None:
    intake = processes.start("intake", processes.environment(
        LAUREL_KAFKA_BOOTSTRAP=kafka_broker.bootstrap, LAUREL_DATABASE_URL=database_url))
    assert intake.ready() == "SERVING"

    with ops.database_down(database_url):
        ops.wait_until(lambda: intake.ready() == "NOT_SERVING",
                       "readiness to see the database gone", timeout=WITHIN_S)
        assert ops.health(intake.address) == "SERVING"  # alive: not to be restarted
    ops.wait_until(lambda: intake.ready() == "SERVING",
                   "readiness to see the database back", timeout=WITHIN_S)

    said = readiness_records(intake.log)
    [gone] = [r for r in said if r["level"] == "WARNING"]
    assert gone["message"].startswith("not ready: database: "), gone
    assert [r["message"] for r in said if r["level"] == "INFO"][-1].startswith("ready:")
    assert processes.stop(intake) == 0


@pytest.mark.slow
def test_readiness_follows_the_broker(processes: Any, own_broker: Any, ops: Any) -> None:
    scoring = processes.start("scoring", processes.environment(
        LAUREL_KAFKA_BOOTSTRAP=own_broker.bootstrap))
    ops.wait_until(lambda: scoring.ready() == "SERVING", "scoring to be ready")

    own_broker.stop()
    ops.wait_until(lambda: scoring.ready() == "NOT_SERVING",
                   "readiness to see the broker gone", timeout=WITHIN_S)
    assert ops.health(scoring.address) == "SERVING"
    own_broker.start()
    ops.wait_until(lambda: scoring.ready() == "SERVING",
                   "readiness to see the broker back", timeout=30)
    gone = [r for r in readiness_records(scoring.log) if r["level"] == "WARNING"]
    assert gone and "broker: " in gone[0]["message"], gone
