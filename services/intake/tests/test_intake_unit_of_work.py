"""One intake command is one unit of work: one connection, one transaction,
and the quota's facts read under the write lock.

Connections are counted at the engine's pool (`checkout`), the statements
each command runs are recorded from the driver, and the quota is put to the
test by submissions racing on real threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from laurel.auth import call_metadata
from laurel.errors import FailedPrecondition
from laurel.grpcutil import client_channel
from laurel.intake.domain.commands import AttachEvidence, SubmitNomination, WithdrawNomination
from laurel.intake.v1 import intake_pb2 as pb
from laurel.intake.v1 import intake_pb2_grpc

COUNTY = "zhengzhou-peoples"


@contextmanager
def checkouts(intake: Any) -> Iterator[list[int]]:
    """How many connections the store's engine hands out meanwhile."""
    seen: list[int] = []

    def count(*_: Any) -> None:
        seen.append(1)

    event.listen(intake.store.engine, "checkout", count)
    try:
        yield seen
    finally:
        event.remove(intake.store.engine, "checkout", count)


@contextmanager
def statements(intake: Any) -> Iterator[list[str]]:
    """The SQL the store's connections run meanwhile, in order."""
    ran: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, *_: Any) -> None:
        ran.append(" ".join(sql.split()))

    event.listen(intake.store.engine, "before_cursor_execute", record)
    try:
        yield ran
    finally:
        event.remove(intake.store.engine, "before_cursor_execute", record)


def test_a_submission_uses_one_connection(intake: Any) -> None:
    stated = intake.form(COUNTY, "ten_measures_benchmark")
    with checkouts(intake) as seen:
        intake.handle(SubmitNomination(intake.caller(intake.nominator(COUNTY)), stated))
    assert len(seen) == 1
    assert intake.get(stated.nomination_id).status == "submitted"


def test_evidence_and_a_withdrawal_with_its_cascade_use_one_connection_each(
    intake: Any,
) -> None:
    as_hospital = intake.caller(intake.nominator(COUNTY))
    benchmark = intake.submit(COUNTY, "single_measure_benchmark", "分时段预约")
    leader = intake.submit(COUNTY, "quality_service_leader", "王明")
    with checkouts(intake) as seen:
        intake.handle(AttachEvidence(as_hospital, benchmark, b"a case, in plain text",
                                     "case.txt", "text/plain", "case"))
    assert len(seen) == 1
    with checkouts(intake) as seen:
        intake.handle(WithdrawNomination(as_hospital, benchmark, "材料不全"))
    assert len(seen) == 1
    assert not intake.get(leader).eligible


def test_the_quota_is_counted_under_the_write_lock(intake: Any) -> None:
    """Whatever was read before, the hospital's live nominations are read
    after the unit took the write lock, so no submission commits between."""
    stated = intake.form(COUNTY, "warm_service_post", "急诊科")
    with statements(intake) as ran:
        intake.handle(SubmitNomination(intake.caller(intake.nominator(COUNTY)), stated))
    lock = next(i for i, sql in enumerate(ran)
                if sql in ("BEGIN IMMEDIATE", "BEGIN IMMEDIATE;")
                or "pg_advisory_xact_lock" in sql)
    facts = next(i for i, sql in enumerate(ran) if "GROUP BY category" in sql)
    assert lock < facts
    assert any(sql.startswith("INSERT INTO events") for sql in ran[facts:])


def test_racing_submissions_never_exceed_the_quota(intake: Any) -> None:
    forms = [intake.form(COUNTY, "warm_service_post", f"科室{i}") for i in range(4)]
    start = threading.Barrier(len(forms))
    outcomes: list[str] = []

    def submit(stated: Any) -> None:
        start.wait()
        try:
            intake.handle(SubmitNomination(intake.caller(intake.nominator(COUNTY)), stated))
            outcomes.append("stored")
        except FailedPrecondition as refused:
            outcomes.append(refused.rule)

    threads = [threading.Thread(target=submit, args=(f,)) for f in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["per_hospital_alive"] * 2 + ["stored"] * 2


async def test_a_submission_over_grpc_uses_one_connection(intake: Any) -> None:
    runtime = intake.runtime
    await runtime.start()
    stated = intake.form(COUNTY, "ten_measures_benchmark")
    request = pb.SubmitNominationRequest(
        nomination_id=stated.nomination_id, campaign_id=stated.campaign_id,
        category=stated.category,
        nominee=pb.Nominee(kind=stated.nominee.kind, name=stated.nominee.name,
                           organization_id=stated.nominee.organization_id),
        fields=dict(stated.fields))
    async with client_channel(f"127.0.0.1:{runtime.grpc.port}") as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        with checkouts(intake) as seen:
            reply = await stub.SubmitNomination(
                request, metadata=call_metadata(intake.nominator(COUNTY)))
    assert (reply.nomination_id, reply.version) == (stated.nomination_id, 1)
    assert len(seen) == 1


@pytest.fixture(autouse=True)
def _quiet_relay(intake: Any) -> None:
    """No relay runs here (no broker): nothing else takes a connection."""
    assert intake.runtime.relay is None
