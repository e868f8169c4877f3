"""The demo campaign `laurel up` runs: sample nominations through the real stack."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import grpc
import yaml
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.client import LaurelClient
from laurel.envelope import Actor
from laurel.intake.v1 import intake_pb2

SAMPLES = Path(__file__).parent / "nominations"
ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")
T = TypeVar("T")
# henan-2021's nomination stage ran in November-December 2021; the demo and the
# tests move the campaign's clock (a recorded event) into it.
DEMO_NOW = datetime(2021, 11, 25, 9, 0, tzinfo=timezone(timedelta(hours=8)))


def campaign_clock_request(campaign_id: str = "henan-2021",
                           now: datetime = DEMO_NOW) -> intake_pb2.SetCampaignClockRequest:
    moment = Timestamp()
    moment.FromDatetime(now)
    return intake_pb2.SetCampaignClockRequest(campaign_id=campaign_id, now=moment)


def load_sample(name: str) -> dict[str, Any]:
    return yaml.safe_load((SAMPLES / name).read_text(encoding="utf-8"))


def demo_organizations() -> list[dict[str, Any]]:
    """The Henan tree of organizations.yaml, parents before children."""
    data = yaml.safe_load((Path(__file__).parent / "organizations.yaml").read_text("utf-8"))
    center = data["center"]
    orgs = [{"organization_id": center["id"], "kind": "center", "name": center["name"]}]
    for commission in data["commissions"]:
        orgs.append({"organization_id": commission["id"], "kind": "commission",
                     "name": commission["name"]})
        templates = (data["tcm_bureau_hospitals"] if commission["kind"] == "tcm_bureau"
                     else data["hospitals_per_commission"])
        for template in templates:
            orgs.append({
                "organization_id": f"{commission['id']}-{template['suffix']}",
                "kind": "hospital",
                "name": template["name"].format(place=commission["place"]),
                "jurisdiction_id": commission["id"],
            })
    for hospital in data["provincial_hospitals"]:
        orgs.append({"organization_id": hospital["id"], "kind": "hospital",
                     "name": hospital["name"], "provincial_level": True})
    return orgs


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.2)
    raise TimeoutError(f"gave up waiting after {timeout}s")


def seed_organizations(client: LaurelClient) -> int:
    """Register the demo organizations that are not registered yet."""
    registered = 0
    for org in demo_organizations():
        try:
            client.intake.RegisterOrganization(intake_pb2.Organization(**org),
                                               metadata=client.md(), timeout=10)
            registered += 1
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
    return registered


def run_demo(endpoints: Mapping[str, str]) -> None:
    organizer = LaurelClient(endpoints, ORGANIZER)
    try:
        count = seed_organizations(organizer)
        organizer.intake.SetCampaignClock(campaign_clock_request(),
                                          metadata=organizer.md(), timeout=10)
        print(f"\n0. the organizer registered {count} organizations: the provincial "
              "center, Henan's 29 local commissions and their hospitals.")
    finally:
        organizer.close()
    sample = load_sample("henan-2021-ten-measures.yaml")
    nominator = Actor(**sample.pop("submitted_by"))
    client = LaurelClient(endpoints, nominator)
    try:
        reply = client.submit(sample)
        print(f"\n1. {nominator.id} submitted nomination {reply.nomination_id} "
              f"(version {reply.version}) over gRPC to intake.")
        nomination = client.nomination(reply.nomination_id)
        print(f"2. intake folds its stream: status={nomination.status}, "
              f"category={nomination.category}, nominee={nomination.nominee.name}, "
              f"{len(nomination.fields)} form fields, submitted_at="
              f"{nomination.submitted_at.ToJsonString()}")
        receipts = wait_for(lambda: client.notifications(reply.nomination_id))
        for note in receipts:
            print(f"3. notification received the event over Kafka and told "
                  f"{note.recipient_id}: [{note.kind}] {note.title}\n   {note.body}")
    finally:
        client.close()
