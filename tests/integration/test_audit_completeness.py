"""What the auditors' tools say about downstream completeness and cut tails.

Real parts: SQLite store files, the upstream's published log served over
real gRPC, review's own reactions taking it through its inbox, and the
`laurel audit` commands as an auditor types them. Tampering is done on
copies of the files, with raw SQL, as an insider would.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from laurel import published_log
from laurel.audit import cli as audit_cli
from laurel.audit.adapters.keyfiles import generate_key_file
from laurel.audit.domain.keys import public_pem
from laurel.audit.handlers import completeness, create_checkpoint
from laurel.catchup import Inbox, Upstream
from laurel.config import SecuritySettings
from laurel.contracts import REGISTRY, fixtures
from laurel.envelope import Actor, EventMetadata, NewEvent
from laurel.eventstore import EventStore, Publication
from laurel.published_log import EventLogClient
from laurel.review.bootstrap import projections
from laurel.review.reactions import CONSUMER, Reactions
from laurel.runtime import secured_server

TOPIC = "laurel.intake.events.completeness"
META = EventMetadata(Actor("nominator-1", "nominator", "hospital-1"), correlation_id="c")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = audit_cli.main(["audit", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def copy_store(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite store (its WAL included)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def append(store: EventStore, stream: str, type_: str, payload: dict[str, Any],
           published: bool = True) -> int:
    """`payload` over the type's golden one (intake's contract); keyed by contract."""
    full = {**fixtures.load("intake", type_, REGISTRY["intake"][type_].version).payload,
            **payload}
    publish = Publication(TOPIC) if published else None
    [recorded] = store.run(lambda uow: uow.append(stream, [NewEvent(type_, full)], META,
                                                 publish=publish))
    return recorded.position


def submitted(nomination_id: str) -> dict[str, Any]:
    return {"nomination_id": nomination_id, "campaign_id": "henan-2021",
            "category": "warm_service_post", "hospital_id": "hospital-1",
            "jurisdiction_id": "zhengzhou", "fields": {},
            "nominee": {"kind": "department", "name": "ward", "organization_id": "h-1-w"}}


@pytest.fixture
async def consumed(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """Intake's store (some events published, one kept to itself) and review's
    store after its inbox took intake's whole log over gRPC."""
    intake = EventStore(f"sqlite:///{tmp_path / 'intake.sqlite'}")
    intake.create_schema()
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for nid in ids:
        append(intake, f"nomination-{nid}", "NominationSubmitted", submitted(nid))
        append(intake, f"nomination-{nid}", "NominationReceived", {"nomination_id": nid})
    append(intake, "organization-x", "OrganizationRegistered", {}, published=False)
    append(intake, f"nomination-{ids[0]}", "NominationEndorsed", {"nomination_id": ids[0]})
    server = secured_server("intake", True, SecuritySettings(), "127.0.0.1:0",
                            published_log.register("intake", intake),
                            [published_log.SERVICE_NAME])
    await server.start()
    review = EventStore(f"sqlite:///{tmp_path / 'review.sqlite'}", projections=projections())
    review.create_schema()
    inbox = Inbox(review, CONSUMER,
                  [Upstream("intake", TOPIC, Reactions(review).on_intake_event)],
                  {"intake": EventLogClient("intake", f"127.0.0.1:{server.port}", CONSUMER)})
    await asyncio.to_thread(inbox.reconcile)
    inbox.close()
    await server.stop(0)
    yield {"intake": intake, "review": review, "ids": ids}
    intake.close()
    review.close()


async def test_completeness_names_what_a_consumer_did_not_take(
    consumed: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    intake, review = consumed["intake"], consumed["review"]
    stores = {"intake": intake, "review": review}
    [whole] = completeness(stores)
    assert (whole.consumer, whole.upstream, whole.through) == ("review", "intake", 8)
    assert (whole.applied, whole.ignored, whole.missing) == (6, 1, ())
    code, out = run_cli(capsys, "completeness", "--database", f"intake={intake.url}",
                        "--database", f"review={review.url}")
    assert code == 0, out
    assert "review <- intake: complete up to position 8 (6 applied, 1 ignored)" in out

    # A copy of review's store from which one receipt's mark and position are gone.
    withheld = next(e for e in intake.read_all() if e.type == "NominationReceived")
    copy = tmp_path / "review-copy.sqlite"
    copy_store(tmp_path / "review.sqlite", copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("DELETE FROM processed_events WHERE event_id = ?", (withheld.event_id,))
        conn.execute("DELETE FROM applied_positions WHERE position = ?", (withheld.position,))
    code, out = run_cli(capsys, "completeness", "--database", f"intake={intake.url}",
                        "--database", f"review=sqlite:///{copy}")
    assert code == 1, out
    assert "review <- intake: INCOMPLETE: 1 missing up to position 8" in out
    assert (f"missing: intake:{withheld.position} NominationReceived {withheld.event_id} "
            f"(stream {withheld.stream_id}; not recorded)") in out

    # One parked (it failed and was set aside) is named as parked.
    parked = next(e for e in intake.read_all() if e.type == "NominationReceived"
                  and e.event_id != withheld.event_id)
    with sqlite3.connect(copy) as conn:
        conn.execute("DELETE FROM processed_events WHERE event_id = ?", (parked.event_id,))
        conn.execute("UPDATE applied_positions SET outcome = 'parked' WHERE position = ?",
                     (parked.position,))
    code, out = run_cli(capsys, "completeness", "--database", f"intake={intake.url}",
                        "--database", f"review=sqlite:///{copy}")
    assert "review <- intake: INCOMPLETE: 2 missing up to position 8" in out
    assert f"missing: intake:{parked.position} NominationReceived {parked.event_id} " \
           f"(stream {parked.stream_id}; parked)" in out

    # A parked position applied later (a retry) is recorded as applied.
    from laurel.unit_of_work import APPLIED, UpstreamEvent
    copied = EventStore(f"sqlite:///{copy}")
    copied.run(lambda uow: uow.mark_position(CONSUMER, UpstreamEvent.of("intake", parked),
                                             APPLIED))
    copied.close()
    code, out = run_cli(capsys, "completeness", "--database", f"intake={intake.url}",
                        "--database", f"review=sqlite:///{copy}")
    assert "INCOMPLETE: 1 missing" in out and "; parked)" not in out

    # Up to a position before it, nothing is missing.
    code, out = run_cli(capsys, "completeness", "--database", f"intake={intake.url}",
                        "--database", f"review=sqlite:///{copy}",
                        "--through", f"intake={withheld.position - 1}")
    assert code == 0, out


def test_a_tail_cut_after_a_published_checkpoint_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from laurel.audit import load_signing_key

    key_file = tmp_path / "checkpoint.pem"
    generate_key_file(key_file)
    key = load_signing_key(key_file)
    public = tmp_path / "public.pem"
    public.write_bytes(public_pem(key.public_key()))
    path = tmp_path / "intake.sqlite"
    intake = EventStore(f"sqlite:///{path}")
    intake.create_schema()
    for i in range(5):
        append(intake, f"nomination-{i}", "NominationSubmitted", {"nomination_id": f"{i}"})
    checkpoint = create_checkpoint(intake, "intake", key)  # recorded at position 6
    published = tmp_path / "published.json"
    published.write_text(json.dumps(checkpoint.to_dict()))
    for i in range(3):
        append(intake, f"nomination-late-{i}", "NominationSubmitted",
               {"nomination_id": f"late-{i}"})
    intake.close()
    args = ["--published", str(published), "--public-key", str(public)]

    code, out = run_cli(capsys, "verify", "--database", f"intake=sqlite:///{path}", *args)
    assert code == 0, out
    assert "published: 1 checkpoint(s) match and are recorded" in out

    # The tail after the checkpoint's positions is cut: the chains still hold.
    cut = tmp_path / "intake-cut.sqlite"
    copy_store(path, cut)
    with sqlite3.connect(cut) as conn:
        conn.execute("DELETE FROM outbox WHERE position > 5")
        conn.execute("DELETE FROM events WHERE position > 5")
    code, out = run_cli(capsys, "verify", "--database", f"intake=sqlite:///{cut}", *args)
    assert code == 1, out
    assert "intake (" in out and ": ok" in out  # the chain alone sees nothing wrong
    assert ("published checkpoint up to position 5 (signed at "
            f"{checkpoint.created_at}) is not recorded in the store, which ends at "
            "position 5: events after position 5 were cut") in out

    # Cut into the checkpoint's positions: the store is shorter than it was.
    shorter = tmp_path / "intake-shorter.sqlite"
    copy_store(path, shorter)
    with sqlite3.connect(shorter) as conn:
        conn.execute("DELETE FROM outbox WHERE position > 3")
        conn.execute("DELETE FROM events WHERE position > 3")
    code, out = run_cli(capsys, "verify", "--database", f"intake=sqlite:///{shorter}", *args)
    assert code == 1, out
    assert "checkpoint up to position 5: the store has only 3 events" in out


async def test_the_audit_service_answers_completeness_over_grpc(
    consumed: dict[str, Any], tmp_path: Path,
) -> None:
    from laurel.audit.adapters.stores import open_stores
    from laurel.audit.bootstrap import build
    from laurel.audit.settings import AuditSettings
    from laurel.audit.v1 import audit_pb2, audit_pb2_grpc
    from laurel.auth import call_metadata
    from laurel.grpcutil import violations_of

    intake = consumed["intake"]
    withheld = next(e for e in intake.read_all() if e.type == "NominationSubmitted")
    copy = tmp_path / "review-copy.sqlite"
    copy_store(tmp_path / "review.sqlite", copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("DELETE FROM processed_events WHERE event_id = ?", (withheld.event_id,))
        conn.execute("DELETE FROM applied_positions WHERE position = ?", (withheld.position,))
    settings = AuditSettings.load({
        "LAUREL_ENV": "development", "LAUREL_GRPC_HOST": "127.0.0.1",
        "LAUREL_AUDIT_GRPC_PORT": "0", "LAUREL_DATA_DIR": str(tmp_path)})
    server = await build(settings, stores=open_stores(
        {"intake": intake.url, "review": f"sqlite:///{copy}"}))
    await server.start()
    auditor = call_metadata(Actor("auditor-1", "auditor"))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = audit_pb2_grpc.AuditServiceStub(channel)
            reply = await stub.CheckCompleteness(audit_pb2.CheckCompletenessRequest(),
                                                 metadata=auditor)
            assert not reply.complete
            [account] = reply.accounts
            assert (account.consumer, account.upstream, account.through_position,
                    account.applied_count, account.ignored_count) == (
                "review", "intake", 8, 5, 1)
            assert [(m.position, m.event_id, m.type, m.reason) for m in account.missing] == [
                (withheld.position, withheld.event_id, "NominationSubmitted", "not recorded")]
            before = await stub.CheckCompleteness(audit_pb2.CheckCompletenessRequest(
                through_positions={"intake": withheld.position - 1}), metadata=auditor)
            assert before.complete

            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.CheckCompleteness(audit_pb2.CheckCompletenessRequest(
                    through_positions={"ledger": 3}), metadata=auditor)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert [f for f, _ in violations_of(refused.value)] == ["through_positions[ledger]"]
    finally:
        await server.stop()
