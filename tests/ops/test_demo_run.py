"""A short `laurel up` run, as an operator sees it: every process serves the
metrics the chart's alerts and dashboard use, and every line of every
service's log is one JSON record with no e-mail address or phone number in it.

The metrics contract is deploy/README.md's table ("Metrics and alerts"): the
dev stack (broker, four services, the AuditService, an SMTP sink) runs the
demo campaign and each process's /metrics is scraped over HTTP.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from laurel.config import SERVICES
from laurel.demo import demo_organizations
from laurel.devstack import CHECKPOINT_KEY

ROOT = Path(__file__).resolve().parents[2]
# Every process with a gRPC server.
CALLS = {"laurel_grpc_requests_total", "laurel_grpc_request_duration_seconds"}
# Every service that owns a store and publishes its events.
STORE = {"laurel_events_appended_total", "laurel_outbox_backlog_events",
         "laurel_outbox_oldest_unpublished_age_seconds", "laurel_outbox_relay_leader"}
# Every service that consumes another's events.
LAG = {"laurel_consumer_lag_positions", "laurel_parked_messages"}
EXPECTED = {
    "intake": CALLS | STORE,
    "scoring": CALLS | STORE | LAG,
    "review": CALLS | STORE | LAG,
    "notification": CALLS | STORE | LAG | {"laurel_emails_sent_total",
                                           "laurel_emails_failed_total"},
    "audit": CALLS | {"laurel_audit_last_checkpoint_timestamp_seconds"},
}
PENDING: set[str] = set()  # series of the contract no process serves yet


def contract() -> set[str]:
    guide = (ROOT / "deploy" / "README.md").read_text()
    section = guide.split("## Metrics and alerts", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(laurel_[a-z_]+)` \|", section, re.MULTILINE))


@pytest.mark.slow
def test_each_process_of_the_dev_stack_serves_its_series_of_the_contract(
    demo_run: Any, ops: Any
) -> None:
    assert demo_run.code == 0, demo_run.output[-3000:]
    stack = demo_run.stack
    served: dict[str, str] = {name: ops.scrape(port)
                              for name, port in stack.metrics_ports.items()}
    assert sorted(served) == sorted((*SERVICES, "audit"))
    assert len(set(stack.metrics_ports.values())) == 5  # a port each
    for name, text in served.items():
        missing = EXPECTED[name] - ops.series(text)
        assert not missing, f"{name} does not serve {sorted(missing)}"
    found = set().union(*(ops.series(text) for text in served.values()))
    assert contract() - found <= PENDING, sorted(contract() - found - PENDING)

    # What the demo did shows: its calls by method and code, the events each
    # service committed by type, the e-mails the sink accepted, the
    # checkpoints the AuditService signed at start.
    intake = served["intake"]
    assert (ops.sample(intake, "laurel_grpc_requests_total",
                       method="laurel.intake.v1.IntakeService/RegisterOrganization",
                       code="OK") or 0) >= len(demo_organizations())
    assert (ops.sample(intake, "laurel_grpc_request_duration_seconds_count",
                       method="laurel.intake.v1.IntakeService/RegisterOrganization")
            or 0) >= len(demo_organizations())
    assert (ops.sample(intake, "laurel_events_appended_total",
                       type="OrganizationRegistered") or 0) >= len(demo_organizations())
    assert (ops.sample(served["notification"], "laurel_emails_sent_total") or 0) > 0
    assert ops.sample(served["notification"], "laurel_emails_failed_total") == 0
    assert ops.sample(served["intake"], "laurel_outbox_relay_leader") == 1
    for consumer in ("scoring", "review", "notification"):  # a position count per upstream
        assert ops.sample(served[consumer], "laurel_consumer_lag_positions",
                          upstream="intake") is not None, consumer

    # The checkpoint CronJob's command signs every store; the AuditService
    # reads when each store's last checkpoint was recorded at each scrape.
    signed = subprocess.run(
        [sys.executable, "-m", "laurel.audit", "checkpoint"], capture_output=True, text=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")},
             "LAUREL_DATA_DIR": str(stack.data_dir),
             "LAUREL_CHECKPOINT_KEY_FILE": str(stack.data_dir / CHECKPOINT_KEY)},
        timeout=120)
    assert signed.returncode == 0, signed.stderr
    audit = ops.scrape(stack.metrics_ports["audit"])
    for service in SERVICES:
        when = ops.sample(audit, "laurel_audit_last_checkpoint_timestamp_seconds",
                          store=service)
        assert when is not None and abs(when - time.time()) < 120, (service, when)

    # Everything committed reaches the broker: the backlogs drain to zero.
    for service in SERVICES:
        port = stack.metrics_ports[service]
        ops.wait_until(
            lambda port=port: ops.sample(ops.scrape(port), "laurel_outbox_backlog_events") == 0,
            f"{service}'s outbox to drain")
        assert ops.sample(ops.scrape(port),
                          "laurel_outbox_oldest_unpublished_age_seconds") == 0




# Anything shaped like an e-mail address, or a phone number as the demo's
# people write them (mobiles, landlines with an area code).
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?<![\w-])(?:1[3-9]\d{9}|0\d{2,3}-\d{7,8})(?![\w-])")
DEMO_DATA = ROOT / "shared" / "laurel" / "demo"


def personal_data(folder: Path) -> set[str]:
    """The e-mail addresses and phone numbers the demo used: in its data files
    and in the e-mails it sent (the SMTP sink's spool)."""
    texts = [p.read_text() for p in DEMO_DATA.rglob("*.yaml")]
    texts += [p.read_text(errors="replace") for p in (folder / "mail").glob("*.eml")]
    found = set()
    for text in texts:
        found |= set(EMAIL.findall(text)) | set(PHONE.findall(text))
    return found


@pytest.mark.slow
def test_every_log_line_is_one_json_record_without_personal_data(demo_run: Any) -> None:
    stack = demo_run.stack
    folder = stack.data_dir
    sent = personal_data(folder)
    assert len(sent) > 10 and any("@" in s for s in sent) and any("@" not in s for s in sent)
    demo_run.stop()  # the stopping lines too

    records: dict[str, list[dict[str, Any]]] = {}
    for log in sorted(stack.logs.glob("*.log")):
        if log.stem == "broker":  # Tansu's own log, not ours
            continue
        lines = log.read_text(errors="replace").splitlines()
        assert lines, log.name
        parsed = []
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except ValueError:
                pytest.fail(f"{log.name}:{number} is not JSON: {line[:300]}")
            assert {"time", "level", "logger", "message"} <= record.keys(), line
            parsed.append(record)
            leaked = [s for s in sent if s in line] + EMAIL.findall(line) + PHONE.findall(line)
            assert not leaked, f"{log.name}:{number} holds {leaked}: {line[:300]}"
        records[log.stem] = parsed
    assert set(records) == {*SERVICES, "audit"}

    # One request line a call, with the trace and span of the call; the
    # consumers' lines carry the event (and nomination) they were handling.
    requests = [r for r in records["intake"] if r["logger"] == "laurel.grpc.requests"]
    assert requests and all({"grpc_method", "grpc_code", "duration_ms", "trace_id",
                             "span_id"} <= r.keys() for r in requests)
    assert any(r.get("nomination_id") for r in requests)
    for consumer in ("scoring", "review", "notification"):
        handled = [r for r in records[consumer] if r.get("event_id")]
        assert handled, consumer
        assert all(r.get("trace_id") for r in handled), consumer
        assert any(r.get("nomination_id") for r in handled), consumer
    assert not [r for name in records for r in records[name]
                if r["level"] in ("ERROR", "CRITICAL")]
