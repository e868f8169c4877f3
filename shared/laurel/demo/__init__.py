"""The demo campaign `laurel up` runs: henan-2021 through the real stack.

The campaign itself is `laurel.demo.campaign` (shared with the full-system
test); this module holds the demo's data helpers and narrates the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.auth import call_metadata
from laurel.envelope import Actor
from laurel.intake.v1 import intake_pb2
from laurel.notification.v1 import notification_pb2

SAMPLES = Path(__file__).parent / "nominations"
AUDITOR = Actor("auditor-1", "auditor", "henan-audit")
ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")
# henan-2021's nomination stage ran in November-December 2021; the demo and the
# tests move the campaign's clock (a recorded event) into it.
DEMO_NOW = datetime(2021, 11, 25, 9, 0, tzinfo=timezone(timedelta(hours=8)))
# The first nominations of demo/campaign.yaml: enough for every category, a
# return, a complaint, a conflict, a recusal, trimming and a tie.
DEMO_SIZE = 8


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


def run_demo(endpoints: Mapping[str, str], size: int = DEMO_SIZE) -> None:
    """A henan-2021 campaign over the running services, narrated as it goes."""
    import asyncio

    asyncio.run(_narrated_campaign(endpoints, size))


async def _narrated_campaign(endpoints: Mapping[str, str], size: int) -> None:
    from laurel.demo.campaign import connect, nominator, run_campaign

    def say(line: str) -> None:
        print(line if line.startswith(" ") else f"\n{line}", flush=True)

    print(f"\nThe demo campaign: henan-2021 (2021年度河南省提升医疗服务标杆单位和优秀个人评选), "
          f"{size} nominations, every step a gRPC call with the actor's own token.")
    async with connect(endpoints) as apis:
        run = await run_campaign(apis, size, say)
        nomination = await apis.intake.GetNomination(
            intake_pb2.GetNominationRequest(nomination_id=run.tracked),
            metadata=call_metadata(ORGANIZER), timeout=10)
        entry = run.entry_of(run.tracked)
        print(f"\nOne nomination's life: {entry.nominee} ({run.tracked})\n"
              f"   intake folds its stream: status={nomination.status}, "
              f"category={nomination.category}, version={nomination.version}, "
              f"{len(nomination.fields)} form fields, submitted_at="
              f"{nomination.submitted_at.ToJsonString()}")
        inbox = await apis.notification.ListNotifications(
            notification_pb2.ListNotificationsRequest(nomination_id=run.tracked),
            metadata=call_metadata(nominator(entry.hospital)), timeout=10)
        for note in reversed(inbox.notifications):
            print(f"   notification received the events over Kafka and told "
                  f"{note.recipient_id}: [{note.kind}] {note.title}")
    if "audit" in endpoints:
        await _audited(endpoints["audit"], run.tracked)
    print(f"\nDone: {len(run.ids)} nominations, {run.reviews_submitted} reviews, "
          f"{len(run.published)} rounds published, {len(run.deliveries)} e-mails "
          f"delivered. Try `laurel audit timeline --nomination {run.tracked}`.")


async def _audited(address: str, nomination_id: str) -> None:
    """What an auditor sees over the AuditService, without trusting the services."""
    from laurel.audit.v1 import audit_pb2, audit_pb2_grpc
    from laurel.grpcutil import client_channel

    auditor = call_metadata(AUDITOR)
    async with client_channel(address) as channel:
        audit = audit_pb2_grpc.AuditServiceStub(channel)
        timeline = await audit.GetNominationTimeline(audit_pb2.GetNominationTimelineRequest(
            nomination_id=nomination_id), metadata=auditor, timeout=30)
        stores = sorted({e.store for e in timeline.entries})
        print(f"\nThe auditor's view (AuditService): the timeline of {nomination_id} holds "
              f"{len(timeline.entries)} events from {', '.join(stores)}, in causal order.")
        verified = await audit.VerifyStores(audit_pb2.VerifyStoresRequest(),
                                            metadata=auditor, timeout=60)
        for store in verified.stores:
            print(f"   {store.store}: hash chains and positions "
                  f"{'hold' if store.ok else 'BROKEN'} over {store.events_checked} events")
