"""AuditService over a real gRPC socket, on real stores (SQLite and PostgreSQL).

The server is built by the audit service's bootstrap and reads the stores
directly, as `python -m laurel.audit serve` does; the client sends
development tokens like any portal. Refusals are checked for
their status code and their field-level details, not just for failing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import types
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import Column, Connection, MetaData, String, Table, text

from laurel.audit import (
    Checkpoint,
    generate_key_file,
    load_public_key,
    recorded_checkpoints,
    verify_checkpoint,
    verify_package,
)
from laurel.audit.adapters.stores import open_stores, projections_with
from laurel.audit.bootstrap import AuditRuntime, build
from laurel.audit.handlers import checkpoint_pass
from laurel.audit.settings import AuditSettings
from laurel.audit.v1 import audit_pb2 as pb
from laurel.audit.v1 import audit_pb2_grpc
from laurel.auth import call_metadata
from laurel.broker import free_port
from laurel.envelope import Actor, EventMetadata, NewEvent, RecordedEvent
from laurel.eventstore import EventStore
from laurel.grpcutil import violations_of

# The audit reads any hash-chained log: these stores hold events of the tests' making.
pytestmark = pytest.mark.any_events

NOMINATION = "5f0c2a9e-1b7d-4c1e-9a41-3d2f6b8e0c11"
OTHER = "0b7e4d3c-2a1f-4e5d-8c9b-7a6f5e4d3c2b"
CAMPAIGN = "henan-2021"
AUDITOR = Actor("a-1", "auditor")
PROJECTIONS_MODULE = "laurel_audit_service_test_projections"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2021, 11, 10, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def at(self, hour: int, minute: int) -> None:
        self.now = datetime(2021, 11, 10, hour, minute, tzinfo=UTC)


class NominationStatus:
    """A stand-in read model: each nomination's latest event type."""

    name = "status"

    def __init__(self) -> None:
        self.metadata = MetaData()
        self.table = Table(
            "audit_test_status",
            self.metadata,
            Column("nomination_id", String(36), primary_key=True),
            Column("status", String(40), nullable=False),
        )

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        nomination_id = event.payload.get("nomination_id")
        if not nomination_id:
            return
        table = self.table
        conn.execute(table.delete().where(table.c.nomination_id == nomination_id))
        conn.execute(
            table.insert(), {"nomination_id": nomination_id, "status": event.type}
        )


@pytest.fixture(autouse=True)
def projections_module(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType(PROJECTIONS_MODULE)
    module.projections = lambda: [NominationStatus()]
    monkeypatch.setitem(sys.modules, PROJECTIONS_MODULE, module)


def meta(actor: Actor, causation_id: str = "") -> EventMetadata:
    return EventMetadata(actor, "corr-1", causation_id=causation_id)


def fill(intake: EventStore, notification: EventStore, clock: Clock) -> None:
    """A nomination submitted at 10:00, its receipt at 10:01, endorsed at 11:00."""
    nominator = Actor("u-1", "nominator", "hospital-1")
    nom = f"nomination-{NOMINATION}"
    facts = {"nomination_id": NOMINATION, "campaign_id": CAMPAIGN}
    clock.at(10, 0)
    [submitted] = intake.append(nom, 0, [NewEvent("NominationSubmitted", facts)],
                                meta(nominator))
    intake.append(f"nomination-{OTHER}", 0, [NewEvent(
        "NominationSubmitted", {"nomination_id": OTHER, "campaign_id": "other-2022"}
    )], meta(nominator))
    clock.at(10, 1)
    notification.append(
        f"notifications-{NOMINATION}", 0,
        [NewEvent("ReceiptIssued", {"nomination_id": NOMINATION, "to": "u-1"})],
        meta(Actor("notification", "service"), causation_id=submitted.event_id),
    )
    clock.at(11, 0)
    intake.append(nom, 1, [NewEvent("NominationEndorsed", facts)],
                  meta(Actor("c-1", "endorser", "commission-1")))


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "checkpoint.pem"
    generate_key_file(path)
    return path


@pytest.fixture
def store_urls(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Two services' SQLite stores with one nomination across both."""
    services = ("intake", "notification")
    urls = {s: f"sqlite:///{tmp_path / f'{s}.sqlite'}" for s in services}
    yield from _filled(urls)


def _filled(urls: dict[str, str]) -> Iterator[dict[str, str]]:
    clock = Clock()
    intake = EventStore(urls["intake"], clock=clock)
    notification = EventStore(urls["notification"], clock=clock)
    for store in (intake, notification):
        store.create_schema()
    fill(intake, notification, clock)
    intake.close()
    notification.close()
    yield urls


def settings(key_file: Path | None, data_dir: Path, **values: str) -> AuditSettings:
    """Development settings on any free port, the key file (if any) named."""
    env = {"LAUREL_ENV": "development", "LAUREL_GRPC_HOST": "127.0.0.1",
           "LAUREL_AUDIT_GRPC_PORT": "0", "LAUREL_DATA_DIR": str(data_dir), **values}
    if key_file is not None:
        env["LAUREL_CHECKPOINT_KEY_FILE"] = str(key_file)
    return AuditSettings.load(env)


async def _server(
    urls: dict[str, str], key_file: Path | None, data_dir: Path, **values: str
) -> AuditRuntime:
    """The service as its bootstrap builds it, over these stores, with an
    operator's projection choices (one of which does not exist)."""
    return await build(
        settings(key_file, data_dir, **values),
        stores=open_stores(urls),
        projections_of=projections_with({
            "intake": f"{PROJECTIONS_MODULE}:projections",
            "notification": "laurel_audit_no_such_module:projections",
        }),
    )


@pytest.fixture
async def audit(
    store_urls: dict[str, str], key_file: Path, tmp_path: Path
) -> AsyncIterator[tuple[audit_pb2_grpc.AuditServiceStub, AuditRuntime]]:
    server = await _server(store_urls, key_file, tmp_path)
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield audit_pb2_grpc.AuditServiceStub(channel), server
    await server.stop()


def as_(actor: Actor = AUDITOR) -> tuple[tuple[str, str], ...]:
    return call_metadata(actor)


def stamp(hour: int, minute: int) -> Timestamp:
    moment = Timestamp()
    moment.FromDatetime(datetime(2021, 11, 10, hour, minute, tzinfo=UTC))
    return moment


# -- answers ---------------------------------------------------------------------


async def test_timeline_merges_stores_in_causal_order_and_cuts_at_a_time(audit) -> None:
    stub, _ = audit
    timeline = await stub.GetNominationTimeline(
        pb.GetNominationTimelineRequest(nomination_id=NOMINATION), metadata=as_()
    )
    assert [(e.store, e.type) for e in timeline.entries] == [
        ("intake", "NominationSubmitted"),
        ("notification", "ReceiptIssued"),
        ("intake", "NominationEndorsed"),
    ]
    receipt = timeline.entries[1]
    assert receipt.caused_by == "intake:1" and receipt.actor_role == "service"
    assert json.loads(receipt.payload_json)["to"] == "u-1"

    earlier = await stub.GetNominationTimeline(
        pb.GetNominationTimelineRequest(nomination_id=NOMINATION, as_of=stamp(10, 30)),
        metadata=as_(),
    )
    assert [e.type for e in earlier.entries] == ["NominationSubmitted", "ReceiptIssued"]

    # issue 16, item 9: before the nomination existed there is nothing to show
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetNominationTimeline(
            pb.GetNominationTimelineRequest(nomination_id=NOMINATION, as_of=stamp(9, 30)),
            metadata=as_(),
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert [f for f, _ in violations_of(refused.value)] == ["as_of"]
    assert "did not exist yet" in (refused.value.details() or "")


async def test_state_as_of_a_time_is_rebuilt_from_the_events_before_it(audit) -> None:
    stub, _ = audit

    async def status_at(hour: int, minute: int) -> tuple[list[dict], dict]:
        state = await stub.GetStateAsOf(
            pb.GetStateAsOfRequest(subject_id=NOMINATION, as_of=stamp(hour, minute)),
            metadata=as_(),
        )
        return [json.loads(r.row_json) for r in state.rows], dict(state.unavailable)

    rows, unavailable = await status_at(10, 30)
    assert rows == [{"nomination_id": NOMINATION, "status": "NominationSubmitted"}]
    assert "laurel_audit_no_such_module" in unavailable["notification"]
    rows, _ = await status_at(11, 30)
    assert rows == [{"nomination_id": NOMINATION, "status": "NominationEndorsed"}]
    with pytest.raises(grpc.aio.AioRpcError) as refused:  # before it existed
        await status_at(9, 30)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert [f for f, _ in violations_of(refused.value)] == ["subject_id"]


async def test_checkpoints_are_signed_recorded_and_read_back(
    audit, store_urls: dict[str, str], key_file: Path
) -> None:
    stub, _ = audit
    public = load_public_key(key_file.read_bytes())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetCheckpoint(
            pb.GetCheckpointRequest(store="intake"), metadata=as_()
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND

    signed = await stub.SignCheckpoint(pb.SignCheckpointRequest(), metadata=as_())
    assert [c.store_name for c in signed.checkpoints] == ["intake", "notification"]
    assert [c.up_to_position for c in signed.checkpoints] == [3, 1]

    latest = await stub.GetCheckpoint(pb.GetCheckpointRequest(store="intake"),
                                      metadata=as_())
    published = Checkpoint.from_dict(json.loads(latest.json))
    assert verify_checkpoint(published, public) is None
    store = EventStore(store_urls["intake"])
    assert recorded_checkpoints(store) == [published]
    store.close()


@pytest.fixture
def mixed_urls(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """intake on each backend (SQLite file, PostgreSQL), notification on SQLite."""
    yield from _filled({
        "intake": database_url,
        "notification": f"sqlite:///{tmp_path / 'notification.sqlite'}",
    })


async def test_verify_stores_names_the_first_broken_link(
    mixed_urls: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    server = await _server(mixed_urls, key_file, tmp_path)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            await _verify_then_tamper(audit_pb2_grpc.AuditServiceStub(channel),
                                      mixed_urls["intake"])
    finally:
        await server.stop()


async def _verify_then_tamper(stub: audit_pb2_grpc.AuditServiceStub, url: str) -> None:
    report = await stub.VerifyStores(pb.VerifyStoresRequest(), metadata=as_())
    assert report.ok and [s.events_checked for s in report.stores] == [3, 1]

    store = EventStore(url)
    with store.engine.begin() as conn:  # an insider's edit behind the store's back
        conn.execute(text("UPDATE events SET payload = '{}' WHERE position = 3"))
    store.close()

    report = await stub.VerifyStores(pb.VerifyStoresRequest(), metadata=as_())
    intake = report.stores[0]
    assert not report.ok and not intake.ok and report.stores[1].ok
    assert (intake.first_broken_link.stream_id, intake.first_broken_link.version,
            intake.first_broken_link.position) == (f"nomination-{NOMINATION}", 2, 3)
    assert "edited after commit" in intake.first_broken_link.reason
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.SignCheckpoint(pb.SignCheckpointRequest(stores=["intake"]),
                                  metadata=as_())
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"nomination-{NOMINATION}" in refused.value.details()


@pytest.mark.parametrize("scope", ["nomination_id", "campaign_id"])
async def test_an_exported_package_verifies_offline_and_one_byte_breaks_it(
    audit, key_file: Path, tmp_path: Path, scope: str
) -> None:
    stub, _ = audit
    subject = NOMINATION if scope == "nomination_id" else CAMPAIGN
    package = await stub.ExportNomination(
        pb.ExportNominationRequest(**{scope: subject}), metadata=as_()
    )
    assert dict(package.events_per_store) == {"intake": 2, "notification": 1}
    out = tmp_path / "package"
    out.mkdir()
    for file in package.files:
        (out / file.name).write_bytes(file.content)
    trusted = load_public_key(key_file.read_bytes())
    assert verify_package(out, trusted_key=trusted).ok

    events = out / "events.intake.jsonl"
    data = bytearray(events.read_bytes())
    data[data.index(b"NominationEndorsed")] = ord("n")
    events.write_bytes(bytes(data))
    result = verify_package(out, trusted_key=trusted)
    assert not result.ok
    assert any("events.intake.jsonl line 2" in str(p) for p in result.problems)


# -- refusals ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["nominator", "organizer", "reviewer"])
async def test_only_auditors_are_answered(audit, role: str) -> None:
    stub, _ = audit
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetNominationTimeline(
            pb.GetNominationTimelineRequest(nomination_id=NOMINATION),
            metadata=as_(Actor("x-1", role, "hospital-1")),
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "auditor" in refused.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as unsigned:
        await stub.VerifyStores(pb.VerifyStoresRequest())
    assert unsigned.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_bad_and_unknown_ids_are_refused_with_the_field(audit) -> None:
    stub, _ = audit
    calls = [
        (stub.GetNominationTimeline(
            pb.GetNominationTimelineRequest(nomination_id="not-a-uuid"),
            metadata=as_()),
         grpc.StatusCode.INVALID_ARGUMENT, "nomination_id"),
        (stub.GetNominationTimeline(
            pb.GetNominationTimelineRequest(nomination_id=str(uuid.uuid4())),
            metadata=as_()),
         grpc.StatusCode.NOT_FOUND, "nomination_id"),
        (stub.GetCheckpoint(pb.GetCheckpointRequest(store="payroll"), metadata=as_()),
         grpc.StatusCode.INVALID_ARGUMENT, "store"),
        (stub.GetStateAsOf(pb.GetStateAsOfRequest(subject_id="x"), metadata=as_()),
         grpc.StatusCode.INVALID_ARGUMENT, "subject_id"),
        (stub.ExportNomination(
            pb.ExportNominationRequest(campaign_id="no-such-campaign"), metadata=as_()),
         grpc.StatusCode.NOT_FOUND, "campaign_id"),
    ]
    for call, code, field in calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == code, refused.value.details()
        assert [f for f, _ in violations_of(refused.value)] == [field]


async def test_without_a_key_signing_is_a_failed_precondition(
    store_urls: dict[str, str], tmp_path: Path
) -> None:
    server = await _server(store_urls, None, tmp_path)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = audit_pb2_grpc.AuditServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.SignCheckpoint(pb.SignCheckpointRequest(), metadata=as_())
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "LAUREL_CHECKPOINT_KEY_FILE" in refused.value.details()
    finally:
        await server.stop()


# -- periodic checkpoints and the command -----------------------------------------


async def test_periodic_checkpoints_cover_new_events_only(
    store_urls: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    store = EventStore(store_urls["notification"])
    server = await _server(store_urls, key_file, tmp_path,
                           LAUREL_AUDIT_CHECKPOINT_INTERVAL_S="0.05")
    passes: list[list[str]] = []
    signing = server.checkpoint_pass
    server.checkpoint_pass = lambda: passes.append(signing()) or passes[-1]
    await server.start()
    try:
        await _until(lambda: len(recorded_checkpoints(store)) == 1)
        seen = len(passes)
        await _until(lambda: len(passes) >= seen + 3)  # more passes, nothing new: no more
        assert [c.up_to_position for c in recorded_checkpoints(store)] == [1]
        assert not any(passes[seen:])  # every later pass signed nothing
        store.append("notifications-x", 0, [NewEvent("ReceiptIssued", {})],
                     meta(Actor("notification", "service")))
        await _until(lambda: len(recorded_checkpoints(store)) == 2)
        assert [c.up_to_position for c in recorded_checkpoints(store)] == [1, 3]
    finally:
        await server.stop()
    assert checkpoint_pass({"notification": store}, server.key) == []
    store.append("notifications-y", 0, [NewEvent("ReceiptIssued", {})],
                 meta(Actor("notification", "service")))
    assert checkpoint_pass({"notification": store}, server.key) == ["notification"]
    store.close()


async def _until(condition, timeout: float = 5.0) -> None:  # noqa: ANN001
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.02)


def test_laurel_audit_serve_answers_over_a_socket_and_stops_on_sigterm(
    store_urls: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}
    env.update({
        "LAUREL_ENV": "development",
        "LAUREL_GRPC_HOST": "127.0.0.1",
        "LAUREL_DATA_DIR": str(tmp_path),  # intake.sqlite, notification.sqlite
        "LAUREL_CHECKPOINT_KEY_FILE": str(key_file),
    })
    process = subprocess.Popen(
        [sys.executable, "-m", "laurel.audit", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=20)
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="laurel.audit.v1.AuditService"),
                timeout=5,
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            report = audit_pb2_grpc.AuditServiceStub(channel).VerifyStores(
                pb.VerifyStoresRequest(), metadata=as_(), timeout=10
            )
        assert report.ok and [s.store for s in report.stores] == [
            "intake", "notification"
        ]
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 0, output
    assert "audit serving gRPC" in output


# -- the `laurel audit` commands through the main CLI --------------------------------


def test_laurel_audit_timeline_export_campaign_and_replay_via_the_main_cli(
    store_urls: dict[str, str],
    key_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from laurel.cli import main

    databases = sum([["--database", f"{n}={u}"] for n, u in store_urls.items()], [])
    assert main(["audit", "timeline", "--nomination", NOMINATION, "--json",
                 *databases]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["store"], e["type"]) for e in lines] == [
        ("intake", "NominationSubmitted"),
        ("notification", "ReceiptIssued"),
        ("intake", "NominationEndorsed"),
    ]

    out = tmp_path / "campaign"
    assert main(["audit", "export", "--campaign", CAMPAIGN, "--out", str(out),
                 "--key", str(key_file), *databases]) == 0
    assert "intake: 2 events, notification: 1 events" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scope"] == {"kind": "campaign", "campaign_id": CAMPAIGN}
    assert main(["audit", "verify", "--package", str(out)]) == 0
    capsys.readouterr()

    code = main(["audit", "replay", "--database", f"archive={store_urls['intake']}",
                 "--database", f"intake={store_urls['intake']}",
                 "--projection", f"intake={PROJECTIONS_MODULE}:projections"])
    report = capsys.readouterr().out
    assert code == 1
    assert "archive: cannot replay" in report
    assert "'archive' in the 'laurel.projections' group" in report
    assert "intake: status: DIFFERS" in report  # no live status table: never built


async def test_state_as_of_uses_the_projections_the_service_declares(
    tmp_path: Path, key_file: Path
) -> None:
    """No override: intake's projections are the factory its distribution
    declares as the `intake` entry point of `laurel.projections`."""
    from laurel.intake.domain import organizations as orgs

    clock = Clock()
    url = f"sqlite:///{tmp_path / 'intake.sqlite'}"
    store = EventStore(url, clock=clock)
    store.create_schema()
    known: dict = {}
    for hour, candidate in (
        (9, orgs.Organization("commission-1", "commission", "郑州市卫生健康委员会")),
        (10, orgs.Organization("hospital-1", "hospital", "郑州大学第一附属医院",
                               "commission-1", "commission-1")),
    ):
        clock.at(hour, 0)
        events = orgs.register_organization(None, candidate, known)
        store.append(orgs.stream_id(candidate.organization_id), 0, events,
                     meta(Actor("o-1", "organizer")))
        known[candidate.organization_id] = candidate
    store.close()
    server = await build(settings(key_file, tmp_path), stores=open_stores({"intake": url}))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = audit_pb2_grpc.AuditServiceStub(channel)

            async def rows_naming_hospital(hour: int) -> list[tuple[str, dict]]:
                state = await stub.GetStateAsOf(pb.GetStateAsOfRequest(
                    subject_id="hospital-1", as_of=stamp(hour, 30)), metadata=as_())
                assert dict(state.unavailable) == {}
                return [(r.table, json.loads(r.row_json)) for r in state.rows]

            with pytest.raises(grpc.aio.AioRpcError) as refused:  # not registered yet
                await rows_naming_hospital(9)
            assert refused.value.code() == grpc.StatusCode.NOT_FOUND
            [(table, row)] = await rows_naming_hospital(10)
            assert table == "organizations"
            assert (row["organization_id"], row["parent_id"]) == (
                "hospital-1", "commission-1")
    finally:
        await server.stop()
