"""A synchronous client for the CLI and the demo: one channel per service.

It speaks the same public gRPC API as any portal would, with the caller's
token in the metadata of every call.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc

from laurel.auth import call_metadata
from laurel.config import DEFAULT_PORTS, PROJECT_ROOT, SERVICES
from laurel.envelope import Actor
from laurel.intake.v1 import intake_pb2, intake_pb2_grpc
from laurel.notification.v1 import notification_pb2, notification_pb2_grpc


def default_endpoints() -> dict[str, str]:
    """Addresses from `laurel up`'s endpoints file, env overrides, else defaults."""
    data_dir = Path(os.environ.get("LAUREL_DATA_DIR", PROJECT_ROOT / "var"))
    endpoints = {s: f"127.0.0.1:{DEFAULT_PORTS[s]}" for s in SERVICES}
    written = data_dir / "endpoints.json"
    if written.exists():
        endpoints.update(json.loads(written.read_text()))
    for service in SERVICES:
        endpoints[service] = os.environ.get(f"LAUREL_{service.upper()}_ADDR",
                                            endpoints[service])
    return endpoints


class LaurelClient:
    def __init__(self, endpoints: Mapping[str, str], actor: Actor) -> None:
        self.actor = actor
        self._channels = {s: grpc.insecure_channel(endpoints[s]) for s in SERVICES}
        self.intake = intake_pb2_grpc.IntakeServiceStub(self._channels["intake"])
        self.notification = notification_pb2_grpc.NotificationServiceStub(
            self._channels["notification"]
        )

    def md(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(self.actor)

    def submit(self, nomination: Mapping[str, Any]) -> intake_pb2.SubmitNominationResponse:
        nominee = nomination["nominee"]
        request = intake_pb2.SubmitNominationRequest(
            campaign_id=nomination["campaign_id"],
            category=nomination["category"],
            nominee=intake_pb2.Nominee(
                kind=nominee["kind"], name=nominee["name"],
                organization_id=nominee["organization_id"],
            ),
            fields=flatten(nomination.get("fields", {})),
            nomination_id=nomination.get("nomination_id", ""),
        )
        return self.intake.SubmitNomination(request, metadata=self.md(), timeout=10)

    def nomination(self, nomination_id: str, as_of: datetime | None = None
                   ) -> intake_pb2.GetNominationResponse:
        request = intake_pb2.GetNominationRequest(nomination_id=nomination_id)
        if as_of is not None:
            request.as_of.FromDatetime(as_of if as_of.tzinfo else as_of.astimezone())
        return self.intake.GetNomination(request, metadata=self.md(), timeout=10)

    def notifications(self, nomination_id: str = "", recipient_id: str = "") -> list[Any]:
        reply = self.notification.ListNotifications(
            notification_pb2.ListNotificationsRequest(
                nomination_id=nomination_id, recipient_id=recipient_id
            ),
            metadata=self.md(), timeout=10,
        )
        return list(reply.notifications)

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()


def flatten(fields: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested YAML groups to the API's dotted keys; lists joined by commas."""
    flat: dict[str, str] = {}
    for key, value in fields.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = ",".join(str(v) for v in value)
        else:
            flat[name] = "" if value is None else str(value)
    return flat
