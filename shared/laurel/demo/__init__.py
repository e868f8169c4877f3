"""The demo campaign `laurel up` runs: henan-2021 through the real stack.

The campaign itself is `laurel.demo.campaign` (shared with the full-system
test); this module holds the demo's data helpers and narrates the run.
"""

from __future__ import annotations

import json
import sys
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
CAMPAIGN_ID = "henan-2021"
DEMO_MARKER = "demo.json"  # what a finished demo left, in the data folder
AUDITOR = Actor("auditor-1", "auditor", "henan-audit")
ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")
# henan-2021's nomination stage ran in November-December 2021; the demo and the
# tests move the campaign's clock (a recorded event) into it.
DEMO_NOW = datetime(2021, 11, 25, 9, 0, tzinfo=timezone(timedelta(hours=8)))
# Its expert evaluation (2021-12: panels, rounds, scores, decisions) and its
# forums and awards (2022-01: results, invitations), where the demo moves the
# clock next.
EVALUATION_NOW = datetime(2021, 12, 10, 9, 0, tzinfo=timezone(timedelta(hours=8)))
FORUMS_NOW = datetime(2022, 1, 10, 9, 0, tzinfo=timezone(timedelta(hours=8)))
# The first nominations of demo/campaign.yaml: enough for every category, a
# return, a complaint, a conflict, a recusal, trimming and a tie.
DEMO_SIZE = 8


def campaign_clock_request(campaign_id: str = "henan-2021",
                           now: datetime = DEMO_NOW) -> intake_pb2.SetCampaignClockRequest:
    moment = Timestamp()
    moment.FromDatetime(now)
    return intake_pb2.SetCampaignClockRequest(campaign_id=campaign_id, now=moment)


def load_sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((SAMPLES / name).read_text(encoding="utf-8"))
    return loaded


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


def run_demo(endpoints: Mapping[str, str], data_dir: Path | None = None,
             size: int = DEMO_SIZE) -> int:
    """A henan-2021 campaign over the running services, narrated as it goes.

    The demo recognizes its own earlier run in the same data (`laurel up
    --keep`): when the campaign already has nominations it is not run again
    (it would collide with what it did before) and what it left is shown.
    Returns 0, or 1 when the demo stopped on an error (the services keep
    serving, so the error can be looked into)."""
    import asyncio

    import grpc

    try:
        return asyncio.run(_demo(endpoints, data_dir, size))
    except (grpc.RpcError, TimeoutError, OSError) as error:
        if isinstance(error, grpc.aio.AioRpcError):
            reason = f"{error.code().name}: {error.details()}"
        else:
            reason = f"{type(error).__name__}: {error}"
        print(f"laurel: the demo stopped: {' '.join(reason.split())}", file=sys.stderr,
              flush=True)
        return 1


async def _demo(endpoints: Mapping[str, str], data_dir: Path | None, size: int) -> int:
    from laurel.demo.campaign import connect

    async with connect(endpoints) as apis:
        earlier = await apis.intake.ListNominations(intake_pb2.ListNominationsRequest(
            campaign_id=CAMPAIGN_ID, page_size=1), metadata=call_metadata(ORGANIZER),
            timeout=10)
    marker = _read_marker(data_dir)
    if earlier.nominations:
        if marker:
            print(f"\nThe demo campaign ran here before ({marker['finished_at']}: "
                  f"{marker['nominations']} nominations, {marker['reviews']} reviews, "
                  f"{marker['rounds']} rounds published); it is not run again.")
        else:
            from laurel.cli import command_hint

            print("\nThis data already holds henan-2021 nominations from an earlier demo "
                  "that did not finish; the demo is not run again. For a clean one, run "
                  f"`{command_hint('up')}` without --keep (a fresh folder).")
        _next_steps(marker.get("tracked", ""), marker.get("hospital", ""), data_dir)
        return 0
    tracked, hospital = await _narrated_campaign(endpoints, size, data_dir)
    _next_steps(tracked, hospital, data_dir)
    return 0


def _read_marker(data_dir: Path | None) -> dict[str, Any]:
    try:
        found = json.loads((data_dir / DEMO_MARKER).read_text()) if data_dir else {}
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


async def _narrated_campaign(endpoints: Mapping[str, str], size: int,
                             data_dir: Path | None) -> tuple[str, str]:
    from laurel.cli import progress
    from laurel.demo.campaign import STEPS, connect, nominator, run_campaign

    print(f"\nThe demo campaign: henan-2021 (2021年度河南省提升医疗服务标杆单位和优秀个人评选), "
          f"{size} nominations, every step a gRPC call with the actor's own token.")
    with progress(STEPS + 1, "the demo campaign") as step:
        def say(line: str) -> None:
            if not line.startswith(" "):
                step(line)
            print(line if line.startswith(" ") else f"\n{line}", flush=True)

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
            step("the auditor's view")
            await _audited(endpoints["audit"], run.tracked)
    print(f"\nDone: {len(run.ids)} nominations, {run.reviews_submitted} reviews, "
          f"{len(run.published)} rounds published, {len(run.deliveries)} e-mails "
          f"delivered.")
    if data_dir is not None:
        (data_dir / DEMO_MARKER).write_text(json.dumps({
            "campaign_id": run.plan.campaign_id, "tracked": run.tracked,
            "hospital": entry.hospital, "nominations": len(run.ids),
            "reviews": run.reviews_submitted, "rounds": len(run.published),
            "finished_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        }, ensure_ascii=False, indent=2))
    return run.tracked, entry.hospital


def _next_steps(tracked: str, hospital: str, data_dir: Path | None) -> None:
    """What to try next, as commands that work as typed from here."""
    from laurel.cli import command_hint
    from laurel.client import default_data_dir

    organizer = f"--as organizer:{ORGANIZER.id}:{ORGANIZER.organization_id}"
    lines = [command_hint(f"{organizer} list --campaign {CAMPAIGN_ID}")]
    if tracked:
        lines += [
            command_hint(f"{organizer} history {tracked}"),
            command_hint(f"--as nominator:nominator-{hospital}:{hospital} notifications "
                         f"--nomination {tracked}"),
            command_hint(f"audit timeline --nomination {tracked}"),
        ]
    lines += [command_hint("topics tail --from-beginning --max 5"),
              command_hint("audit verify")]
    if data_dir is not None and default_data_dir().resolve() != data_dir.resolve():
        lines.insert(0, f"export LAUREL_DATA_DIR={data_dir}")
    print("\nTry, in another terminal from this folder (README: \"Your first hour\"):")
    for line in lines:
        print(f"   {line}")
    if data_dir is not None:
        from laurel.devstack import shown

        print(f"Logs are in {shown(data_dir / 'logs')}; the data in {shown(data_dir)}.")


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
