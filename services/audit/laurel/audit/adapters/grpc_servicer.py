"""AuditService over gRPC: requests to the audit use cases, answers back.

Every answer comes from the stores themselves (timeline, verification,
checkpoints, evidence packages, state as of a time), so an auditor does not
have to trust the running services. Only translation and argument checks
live here; who may call (the auditor role only) is `laurel.policy`'s table,
checked before any method runs. Store work is blocking SQL and runs in a
worker thread, off the server's event loop.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeAlias, TypeVar

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.audit import handlers
from laurel.audit.domain.checkpoints import Checkpoint, CheckpointRefused
from laurel.audit.domain.package import Package
from laurel.audit.domain.timeline import TimelineEntry
from laurel.audit.settings import AuditSettings
from laurel.audit.v1 import audit_pb2 as pb
from laurel.audit.v1 import audit_pb2_grpc
from laurel.chain import ChainBreak
from laurel.envelope import canonical_json, format_time, parse_time, utcnow
from laurel.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from laurel.eventstore import EventStore, Projection

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["AuditService"].full_name
C = TypeVar("C", pb.Checkpoint, pb.GetCheckpointResponse)
SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{2,127}$")
Context: TypeAlias = grpc.aio.ServicerContext


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(
        self,
        stores: Mapping[str, EventStore],
        key: Ed25519PrivateKey | None,
        projections_of: Callable[[str], Sequence[Projection]],
    ) -> None:
        self.stores = dict(stores)
        self.key = key
        self.projections_of = projections_of

    async def GetNominationTimeline(
        self, request: pb.GetNominationTimelineRequest, context: Context
    ) -> pb.GetNominationTimelineResponse:
        nomination_id = _nomination_id(request.nomination_id)
        as_of = _moment(request, "as_of")
        recorded_as_of = _moment(request, "recorded_as_of")
        entries = await asyncio.to_thread(
            handlers.nomination_timeline, self.stores, nomination_id, as_of=as_of,
            recorded_as_of=recorded_as_of,
        )
        if not entries:
            cut = as_of is not None or recorded_as_of is not None
            ever = (
                await asyncio.to_thread(handlers.nomination_timeline, self.stores, nomination_id)
                if cut
                else []
            )
            if ever:  # it did not exist yet at the time asked for
                first = ever[0].event
                if as_of is not None:
                    raise NotFound(
                        f"nomination {nomination_id} did not exist yet at "
                        f"{format_time(as_of)} (campaign time); its first event counts at "
                        f"{first.metadata.get('campaign_time') or first.recorded_at}",
                        field="as_of",
                    )
                assert recorded_as_of is not None
                raise NotFound(
                    f"nomination {nomination_id} did not exist yet at "
                    f"{format_time(recorded_as_of)} (recorded time); its first event was "
                    f"recorded at {first.recorded_at}",
                    field="recorded_as_of",
                )
            raise NotFound(
                f"no store holds an event of nomination {nomination_id}; check the "
                f"id (stores searched: {', '.join(sorted(self.stores))})",
                field="nomination_id",
            )
        return pb.GetNominationTimelineResponse(
            nomination_id=nomination_id, entries=[_entry(e) for e in entries]
        )

    async def GetStateAsOf(
        self, request: pb.GetStateAsOfRequest, context: Context
    ) -> pb.GetStateAsOfResponse:
        subject_id = _subject_id(request.subject_id, "subject_id")
        as_of = _moment(request, "as_of") or utcnow()
        state = await asyncio.to_thread(
            handlers.state_as_of, self.stores, subject_id, as_of, self.projections_of
        )
        if not state.rows:  # nothing named it yet (or ever): not an empty answer
            unread = (
                f"; not rebuilt: {', '.join(sorted(state.unavailable))}"
                if state.unavailable
                else ""
            )
            raise NotFound(
                f"no read model names {subject_id} as of {format_time(as_of)} "
                f"(recorded time){unread}",
                field="subject_id",
            )
        return pb.GetStateAsOfResponse(
            subject_id=subject_id,
            as_of=_timestamp(as_of),
            rows=[
                pb.StateRow(
                    store=r.store,
                    projection=r.projection,
                    table=r.table,
                    row_json=r.row_json(),
                )
                for r in state.rows
            ],
            unavailable=state.unavailable,
        )

    async def VerifyStores(
        self, request: pb.VerifyStoresRequest, context: Context
    ) -> pb.VerifyStoresResponse:
        reports = await asyncio.to_thread(self._verify)
        return pb.VerifyStoresResponse(
            ok=all(r.ok and not r.checkpoint_problems for r in reports),
            stores=reports,
        )

    async def CheckCompleteness(
        self, request: pb.CheckCompletenessRequest, context: Context
    ) -> pb.CheckCompletenessResponse:
        through = dict(request.through_positions)
        for name, position in through.items():
            self._store_name(name, f"through_positions[{name}]")
            if position < 0:
                raise InvalidArgument("a position is 0 or more", [FieldViolation(
                    f"through_positions[{name}]", f"{position} is negative")])
        accounts = await asyncio.to_thread(handlers.completeness, self.stores, through)
        return pb.CheckCompletenessResponse(
            complete=all(a.complete for a in accounts),
            accounts=[pb.ConsumerAccount(
                consumer=a.consumer, upstream=a.upstream, through_position=a.through,
                applied_count=a.applied, ignored_count=a.ignored,
                missing=[pb.MissingEvent(position=m.event.position,
                                         event_id=m.event.event_id, type=m.event.type,
                                         stream_id=m.event.stream_id, reason=m.reason)
                         for m in a.missing])
                for a in accounts])

    async def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: Context
    ) -> pb.GetCheckpointResponse:
        name = self._store_name(request.store, "store")
        checkpoints = await asyncio.to_thread(handlers.recorded_checkpoints, self.stores[name])
        if not checkpoints:
            raise NotFound(
                f"store {name} has recorded no checkpoint yet; call SignCheckpoint "
                "or run `laurel audit checkpoint`",
                field="store",
            )
        return _checkpoint(max(checkpoints, key=lambda c: c.up_to_position),
                           pb.GetCheckpointResponse)

    async def SignCheckpoint(
        self, request: pb.SignCheckpointRequest, context: Context
    ) -> pb.SignCheckpointResponse:
        names = [self._store_name(n, "stores") for n in request.stores] or sorted(
            self.stores
        )
        key = self._signing_key()
        with _refusal():
            signed = await asyncio.to_thread(
                lambda: [handlers.create_checkpoint(self.stores[n], n, key) for n in names]
            )
        return pb.SignCheckpointResponse(
            checkpoints=[_checkpoint(c, pb.Checkpoint) for c in signed]
        )

    async def ExportNomination(
        self, request: pb.ExportNominationRequest, context: Context
    ) -> pb.ExportNominationResponse:
        key = self._signing_key()
        with _refusal():
            return await self._package(request, key)

    async def _package(
        self, request: pb.ExportNominationRequest, key: Ed25519PrivateKey
    ) -> pb.ExportNominationResponse:
        """Signed but not recorded (the API only reads); the files inline."""
        package: Package
        if request.WhichOneof("scope") == "campaign_id":
            campaign_id = _subject_id(request.campaign_id, "campaign_id")
            package = await asyncio.to_thread(
                handlers.package_campaign, self.stores, campaign_id, key,
                record_checkpoints=False)
            if not any(package.manifest["stores"].values()):
                raise NotFound(f"no events of campaign {campaign_id}", "campaign_id")
        else:
            nomination_id = _nomination_id(request.nomination_id)
            package = await asyncio.to_thread(
                handlers.package_nomination, self.stores, nomination_id, key,
                record_checkpoints=False)
            if not any(package.manifest["stores"].values()):
                raise NotFound(
                    f"no events of nomination {nomination_id}", "nomination_id"
                )
        return pb.ExportNominationResponse(
            key_id=package.manifest["key_id"],
            events_per_store=package.manifest["stores"],
            files=[pb.PackageFile(name=n, content=c)
                   for n, c in sorted(package.files.items())],
        )

    # -- helpers -------------------------------------------------------------

    def _verify(self) -> list[pb.StoreVerification]:
        reports = []
        public_key = self.key.public_key() if self.key is not None else None
        for name, store in sorted(self.stores.items()):
            report, problems = handlers.verify_store(store, public_key)
            breaks = [_link(b) for b in report.breaks]
            reports.append(
                pb.StoreVerification(
                    store=name,
                    ok=report.ok,
                    events_checked=report.events_checked,
                    streams_checked=report.streams_checked,
                    last_position=report.last_position,
                    first_broken_link=breaks[0] if breaks else None,
                    also_broken=breaks[1:],
                    checkpoint_problems=problems,
                )
            )
        return reports

    def _store_name(self, name: str, field: str) -> str:
        if name not in self.stores:
            raise InvalidArgument(
                f"unknown store {name!r}",
                [FieldViolation(field, f"one of {', '.join(sorted(self.stores))}")],
            )
        return name

    def _signing_key(self) -> Ed25519PrivateKey:
        if self.key is None:
            raise FailedPrecondition(
                "checkpoint-key-configured",
                "this audit server has no signing key: start it with "
                f"{AuditSettings.variable('checkpoint_key_file')} or --key",
            )
        return self.key


@contextmanager
def _refusal() -> Iterator[None]:
    """A broken log is not signed: the caller learns where it broke."""
    try:
        yield
    except CheckpointRefused as error:
        raise FailedPrecondition(
            "log-intact", f"refused to sign a broken log: {error}"
        ) from None


def _nomination_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument(
            f"nomination_id {value!r} is not a nomination id",
            [FieldViolation("nomination_id", "a UUID, as SubmitNomination returns")],
        ) from None


def _subject_id(value: str, field: str) -> str:
    if not SLUG.match(value):
        raise InvalidArgument(
            f"{field} {value!r} is not an id",
            [
                FieldViolation(
                    field, "3 to 128 letters, digits, '.', '_', ':' or '-'"
                )
            ],
        )
    return value


def _moment(request: Any, field: str) -> datetime | None:
    """A Timestamp field as an aware time, None when not set."""
    if not request.HasField(field):
        return None
    stamp: Timestamp = getattr(request, field)
    return stamp.ToDatetime(tzinfo=UTC)


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _entry(entry: TimelineEntry) -> pb.TimelineEntry:
    event = entry.event
    actor = event.metadata.get("actor", {})
    return pb.TimelineEntry(
        store=entry.store,
        position=event.position,
        stream_id=event.stream_id,
        version=event.version,
        type=event.type,
        schema_version=event.schema_version,
        event_id=event.event_id,
        recorded_at=_timestamp(parse_time(event.recorded_at)),
        actor_role=actor.get("role", ""),
        actor_id=actor.get("id", ""),
        caused_by=entry.caused_by,
        payload_json=json.dumps(event.payload, ensure_ascii=False, sort_keys=True),
        metadata_json=json.dumps(event.metadata, ensure_ascii=False, sort_keys=True),
        hash=event.hash,
    )


def _link(broken: ChainBreak) -> pb.BrokenLink:
    return pb.BrokenLink(
        stream_id=broken.stream_id,
        version=broken.version,
        position=broken.position,
        reason=broken.reason,
    )


def _checkpoint(checkpoint: Checkpoint, message: type[C]) -> C:
    data = checkpoint.to_dict()
    return message(**data, json=canonical_json(data))


def add_to_server(servicer: AuditServicer, server: grpc.aio.Server) -> None:
    """Register the servicer (through a typed name: the generated function
    carries no annotations)."""
    register: Callable[[Any, Any], None] = audit_pb2_grpc.add_AuditServiceServicer_to_server
    register(servicer, server)
