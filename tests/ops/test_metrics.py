"""Every process serves the metrics the chart's alerts and dashboard use.

The contract is deploy/README.md's table ("Metrics and alerts"); these tests
scrape real processes over HTTP: the dev stack `laurel up` starts (after the
demo campaign ran on it), and an intake process whose broker is stopped and
started again, its outbox backlog rising while the broker is gone and
falling to zero once it is back.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest

from laurel.auth import call_metadata
from laurel.client import flatten
from laurel.config import SERVICES
from laurel.demo import ORGANIZER, campaign_clock_request, demo_organizations, load_sample
from laurel.devstack import CHECKPOINT_KEY
from laurel.envelope import Actor
from laurel.intake.v1 import intake_pb2, intake_pb2_grpc

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
NOMINATIONS = 5
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


@pytest.mark.slow
def test_the_outbox_backlog_rises_while_the_broker_is_down_and_drains_after(
    processes: Any, own_broker: Any, ops: Any
) -> None:
    intake = processes.start("intake", processes.environment(
        LAUREL_KAFKA_BOOTSTRAP=own_broker.bootstrap))
    backlog = lambda: ops.sample(intake.metrics(), "laurel_outbox_backlog_events")  # noqa: E731
    ops.wait_until(lambda: backlog() == 0, "the campaign definitions to be published")

    own_broker.stop()
    sample = load_sample("henan-2021-ten-measures.yaml")
    with grpc.insecure_channel(intake.address) as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        for org in demo_organizations():  # not published: the backlog stays
            stub.RegisterOrganization(intake_pb2.RegisterOrganizationRequest(**org),
                                      metadata=call_metadata(ORGANIZER), timeout=10)
        before = backlog()
        stub.SetCampaignClock(campaign_clock_request(), metadata=call_metadata(ORGANIZER),
                              timeout=10)
        hospitals = [o for o in demo_organizations() if o["kind"] == "hospital"]
        for hospital in hospitals[:NOMINATIONS]:  # one live nomination per hospital
            nominee = {**sample["nominee"], "organization_id": hospital["organization_id"]}
            stub.SubmitNomination(intake_pb2.SubmitNominationRequest(
                campaign_id=sample["campaign_id"], category=sample["category"],
                nominee=intake_pb2.Nominee(**nominee),
                fields=flatten(sample["fields"]), nomination_id=str(uuid.uuid4())),
                metadata=call_metadata(Actor(f"nominator-{hospital['organization_id']}",
                                             "nominator", hospital["organization_id"])),
                timeout=10)
    # Committed, and waiting: the store answers for them while Kafka cannot.
    assert backlog() >= (before or 0) + NOMINATIONS
    ops.wait_until(
        lambda: (ops.sample(intake.metrics(),
                            "laurel_outbox_oldest_unpublished_age_seconds") or 0) >= 1.0,
        "the oldest unpublished event to age")

    own_broker.start()
    ops.wait_until(lambda: backlog() == 0, "the backlog to drain once the broker is back",
                   timeout=60)
    assert ops.sample(intake.metrics(), "laurel_outbox_oldest_unpublished_age_seconds") == 0
    assert (ops.sample(intake.metrics(), "laurel_events_appended_total",
                       type="NominationSubmitted") or 0) == NOMINATIONS
