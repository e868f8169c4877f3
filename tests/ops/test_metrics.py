"""The outbox backlog, as Prometheus sees it, follows the broker: an intake
process's /metrics shows events committed while the broker is down piling up
and ageing, and draining to zero once the broker is back.
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest

from laurel.auth import call_metadata
from laurel.client import flatten
from laurel.demo import ORGANIZER, campaign_clock_request, demo_organizations, load_sample
from laurel.envelope import Actor
from laurel.intake.v1 import intake_pb2, intake_pb2_grpc

NOMINATIONS = 5


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
