"""A service's own published log over gRPC, and the client that reads it.

Kafka carries each published event fast; the store keeps it for good. Every
service that publishes serves its published log (`EventLogService.ReadLog`,
service role only) from its store, so a consumer that Kafka failed (a broker
that came back empty, a skipped offset) catches up from the source: see
`laurel.catchup`. The events are sent as the same bytes the outbox relay
puts on Kafka, the stored envelope with its hash.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from laurel.auth import call_metadata, service_actor
from laurel.envelope import RecordedEvent
from laurel.errors import FieldViolation, InvalidArgument
from laurel.eventlog.v1 import eventlog_pb2 as pb
from laurel.eventlog.v1 import eventlog_pb2_grpc
from laurel.eventstore import EventStore
from laurel.outbox import message_value

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["EventLogService"].full_name
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
CALL_TIMEOUT_S = 10.0


class EventLogServicer(eventlog_pb2_grpc.EventLogServiceServicer):
    """ReadLog from one store (`name` is the store's, its service's)."""

    def __init__(self, name: str, store: EventStore) -> None:
        self.name = name
        self.store = store

    async def ReadLog(self, request: pb.ReadLogRequest,
                      context: grpc.aio.ServicerContext) -> pb.ReadLogResponse:
        violations = []
        if request.from_position < 0:
            violations.append(FieldViolation(
                "from_position", f"{request.from_position} is negative; 1 is the first "
                                 "position (0 reads from the start too)"))
        if not 0 <= request.limit <= MAX_LIMIT:
            violations.append(FieldViolation(
                "limit", f"{request.limit} is not between 0 (the default, "
                         f"{DEFAULT_LIMIT}) and {MAX_LIMIT}"))
        if violations:
            raise InvalidArgument("ReadLog: fix the fields named", violations)
        page = await asyncio.to_thread(
            self.store.read_published, request.from_position, request.limit or DEFAULT_LIMIT)
        return pb.ReadLogResponse(
            events=[pb.LogEvent(position=e.event.position,
                                envelope_json=message_value(e.event).decode("utf-8"),
                                topic=e.topic, key=e.key)
                    for e in page.entries],
            next_position=page.next_position, head_position=page.head_position,
            store=self.name)


def register(name: str, store: EventStore) -> Callable[[grpc.aio.Server], None]:
    servicer = EventLogServicer(name, store)
    return lambda server: eventlog_pb2_grpc.add_EventLogServiceServicer_to_server(
        servicer, server)


# -- reading an upstream's log ------------------------------------------------------


@dataclass(frozen=True)
class LogPage:
    """A page of an upstream's published log, decoded."""

    events: list[tuple[RecordedEvent, str]]  # (event, topic)
    next_position: int
    head_position: int


class EventLogClient:
    """A blocking ReadLog client for one upstream (called from worker threads).

    It presents the consuming service's own identity: a bearer token read
    from `token_file` (outside development), else a development token of the
    service role. TLS when `ca_file` is given (the upstreams' CA), with
    `client_cert` (certificate, key) for upstreams that require one."""

    def __init__(self, upstream: str, address: str, consumer: str, *,
                 token_file: Path | None = None, ca_file: Path | None = None,
                 client_cert: tuple[Path, Path] | None = None) -> None:
        self.upstream = upstream
        self.address = address
        self._consumer = consumer
        self._token_file = token_file
        if ca_file is not None:
            cert, key = client_cert or (None, None)  # for upstreams asking mutual TLS
            credentials = grpc.ssl_channel_credentials(
                ca_file.read_bytes(),
                private_key=key.read_bytes() if key else None,
                certificate_chain=cert.read_bytes() if cert else None)
            self._channel = grpc.secure_channel(address, credentials)
        else:
            self._channel = grpc.insecure_channel(address)
        self._stub: Any = eventlog_pb2_grpc.EventLogServiceStub(self._channel)

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        if self._token_file is not None:
            token = self._token_file.read_text(encoding="utf-8").strip()
            return (("authorization", f"Bearer {token}"),)
        return call_metadata(service_actor(self._consumer))

    def read(self, from_position: int, limit: int = DEFAULT_LIMIT) -> LogPage:
        reply = self._stub.ReadLog(
            pb.ReadLogRequest(from_position=from_position, limit=limit),
            metadata=self._metadata(), timeout=CALL_TIMEOUT_S)
        return LogPage(
            [(RecordedEvent.from_dict(json.loads(e.envelope_json)), e.topic)
             for e in reply.events],
            reply.next_position, reply.head_position)

    def close(self) -> None:
        self._channel.close()
