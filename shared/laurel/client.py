"""A synchronous client for the CLI: one channel per service, and the files
it reads (nomination documents, the endpoints `laurel up` wrote).

It speaks the same public gRPC API as any portal would, with the caller's
token in the metadata of every call. A document that cannot become a
request raises InvalidDocument with one line naming the file and the
problem; what the service refuses comes back as its own gRPC status.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import yaml

from laurel.auth import call_metadata
from laurel.config import DEFAULT_PORTS, PROJECT_ROOT, SERVICES
from laurel.envelope import Actor
from laurel.intake.v1 import intake_pb2, intake_pb2_grpc
from laurel.notification.v1 import notification_pb2, notification_pb2_grpc

# `laurel up` keeps each run in DATA_ROOT/runs/<time> and points
# DATA_ROOT/latest at the newest; the CLI reads the latest unless told.
DATA_ROOT = PROJECT_ROOT / "var"
LATEST = "latest"
ENDPOINTS_FILE = "endpoints.json"
CALL_TIMEOUT_S = 10
NOMINATION_KEYS = ("campaign_id", "category", "nominee", "fields", "nomination_id")
NOMINEE_KEYS = ("kind", "name", "organization_id")
IGNORED_KEYS = ("submitted_by",)  # older sample files carry it; the token says who


class InvalidDocument(ValueError):
    """A file the CLI was given cannot be read as what it should be."""


def default_data_dir() -> Path:
    """Where the CLI finds the suite: LAUREL_DATA_DIR, else the last `laurel up`
    run (var/latest), else var itself (older layouts)."""
    configured = os.environ.get("LAUREL_DATA_DIR", "").strip()
    if configured:
        return Path(configured)
    latest = DATA_ROOT / LATEST
    return latest if latest.exists() else DATA_ROOT


def default_endpoints() -> dict[str, str]:
    """Addresses from `laurel up`'s endpoints file, env overrides, else defaults."""
    endpoints = {s: f"127.0.0.1:{DEFAULT_PORTS[s]}" for s in (*SERVICES, "audit")}
    written = default_data_dir() / ENDPOINTS_FILE
    if written.exists():
        found = read_document(written)
        endpoints.update({k: str(v) for k, v in found.items()})
    for service in (*SERVICES, "audit"):
        endpoints[service] = os.environ.get(f"LAUREL_{service.upper()}_ADDR",
                                            endpoints[service])
    return endpoints


def read_document(path: Path) -> dict[str, Any]:
    """A YAML or JSON file holding a mapping, or InvalidDocument in one line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidDocument(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidDocument(f"{path}: is a folder, not a file") from None
    except UnicodeDecodeError:
        raise InvalidDocument(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise InvalidDocument(f"{path}: {error.strerror}") from None
    if path.suffix.lower() == ".json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidDocument(f"{path}: not valid JSON: {error.msg} at line "
                                  f"{error.lineno}, column {error.colno}") from None
    else:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise InvalidDocument(f"{path}: not valid YAML: {_yaml_problem(error)}") from None
    if not isinstance(document, Mapping):
        found = "nothing" if document is None else f"a {type(document).__name__}"
        raise InvalidDocument(f"{path}: expected a mapping of keys to values, found {found}")
    return dict(document)


def _yaml_problem(error: yaml.YAMLError) -> str:
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{problem}{where}"


def nomination_request(document: Mapping[str, Any], source: str = "the document"
                       ) -> intake_pb2.SubmitNominationRequest:
    """The SubmitNominationRequest a document describes.

    The shape is checked here (a nominee must be a mapping, no unknown keys);
    what a nomination must contain is the service's to say, so a missing key
    is sent empty and comes back as INVALID_ARGUMENT naming the field."""
    unknown = sorted(set(document) - set(NOMINATION_KEYS) - set(IGNORED_KEYS))
    if unknown:
        raise InvalidDocument(f"{source}: unknown key(s) {', '.join(unknown)}; "
                              f"expected {', '.join(NOMINATION_KEYS)}")
    nominee = document.get("nominee") or {}
    if not isinstance(nominee, Mapping):
        raise InvalidDocument(f"{source}: nominee must be a mapping of "
                              f"{', '.join(NOMINEE_KEYS)}")
    unknown = sorted(set(nominee) - set(NOMINEE_KEYS))
    if unknown:
        raise InvalidDocument(f"{source}: unknown nominee key(s) {', '.join(unknown)}; "
                              f"expected {', '.join(NOMINEE_KEYS)}")
    fields = document.get("fields") or {}
    if not isinstance(fields, Mapping):
        raise InvalidDocument(f"{source}: fields must be a mapping of form fields")
    return intake_pb2.SubmitNominationRequest(
        campaign_id=_text(document.get("campaign_id")),
        category=_text(document.get("category")),
        nominee=intake_pb2.Nominee(**{k: _text(nominee.get(k)) for k in NOMINEE_KEYS}),
        fields=flatten(fields),
        nomination_id=_text(document.get("nomination_id")),
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class LaurelClient:
    def __init__(self, endpoints: Mapping[str, str], actor: Actor) -> None:
        self.actor = actor
        self._channels = {s: grpc.insecure_channel(endpoints[s]) for s in SERVICES}
        # The generated stubs are untyped; the messages they carry are typed.
        self.intake: Any = intake_pb2_grpc.IntakeServiceStub(
            self._channels["intake"])
        self.notification: Any = notification_pb2_grpc.NotificationServiceStub(
            self._channels["notification"])

    def md(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(self.actor)

    def submit(self, nomination: Mapping[str, Any], source: str = "the document"
               ) -> intake_pb2.SubmitNominationResponse:
        reply: intake_pb2.SubmitNominationResponse = self.intake.SubmitNomination(
            nomination_request(nomination, source), metadata=self.md(),
            timeout=CALL_TIMEOUT_S)
        return reply

    def nomination(self, nomination_id: str, as_of: datetime | None = None,
                   recorded_as_of: datetime | None = None
                   ) -> intake_pb2.GetNominationResponse:
        """Now; as of a campaign time; or as recorded by a wall-clock time."""
        request = intake_pb2.GetNominationRequest(nomination_id=nomination_id)
        if as_of is not None:
            request.as_of.FromDatetime(as_of if as_of.tzinfo else as_of.astimezone())
        if recorded_as_of is not None:
            request.recorded_as_of.FromDatetime(
                recorded_as_of if recorded_as_of.tzinfo else recorded_as_of.astimezone())
        reply: intake_pb2.GetNominationResponse = self.intake.GetNomination(
            request, metadata=self.md(), timeout=CALL_TIMEOUT_S)
        return reply

    def notifications(self, nomination_id: str = "", recipient_id: str = "") -> list[Any]:
        reply = self.notification.ListNotifications(
            notification_pb2.ListNotificationsRequest(
                nomination_id=nomination_id, recipient_id=recipient_id
            ),
            metadata=self.md(), timeout=CALL_TIMEOUT_S,
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
