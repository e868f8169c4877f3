"""No silent lost update (issue 16, item 8): a command carries the version its
caller saw, and a nomination that moved on since refuses it with ABORTED.

Over real gRPC, on intake's real SQLite store: two people amend the same
nomination at the same moment, each having read version 1.
"""

from __future__ import annotations

import asyncio

import grpc

from laurel.campaigns import SHIPPED_DIR, load_catalog
from laurel.campaigns.specimen import specimen_fields
from laurel.demo import DEMO_NOW
from laurel.envelope import Actor
from laurel.intake.v1 import intake_pb2 as pb

HENAN = load_catalog(SHIPPED_DIR)["henan-2021"]
HOSPITAL = "zhengzhou-peoples"


def nominator(person: str) -> Actor:
    return Actor(person, "nominator", HOSPITAL)


async def submitted(intake_api) -> str:  # noqa: ANN001
    await intake_api.register_demo("henan-center", "zhengzhou", HOSPITAL)
    await intake_api.set_clock("henan-2021", DEMO_NOW)
    reply = await intake_api.call("SubmitNomination", pb.SubmitNominationRequest(
        campaign_id="henan-2021", category="ten_measures_benchmark",
        nominee=pb.Nominee(kind="hospital", name="郑州市人民医院", organization_id=HOSPITAL),
        fields=specimen_fields(HENAN.category("ten_measures_benchmark"))),
        nominator("wang-fang"))
    assert reply.version == 1
    return str(reply.nomination_id)


async def test_two_amends_from_the_same_version_one_wins_one_is_aborted(intake_api) -> None:  # noqa: ANN001
    nomination_id = await submitted(intake_api)

    async def amend(person: str, profile: str) -> object:
        try:
            return await intake_api.call("AmendNomination", pb.AmendNominationRequest(
                nomination_id=nomination_id, fields={"hospital_profile": profile},
                reason=f"{person} 修改", expected_version=1), nominator(person))
        except grpc.aio.AioRpcError as error:
            return error

    outcomes = await asyncio.gather(amend("wang-fang", "王芳的简介。"),
                                    amend("li-na", "李娜的简介。"))
    ok = [o for o in outcomes if isinstance(o, pb.AmendNominationResponse)]
    aborted = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(ok) == 1 and len(aborted) == 1, outcomes
    assert ok[0].version == 2
    [error] = aborted
    assert error.code() == grpc.StatusCode.ABORTED
    assert "version 1" in error.details() and "version 2" in error.details()

    history = await intake_api.call("GetNominationHistory", pb.GetNominationHistoryRequest(
        nomination_id=nomination_id), nominator("wang-fang"))
    types = [e.event_type for e in history.entries]
    assert types == ["NominationSubmitted", "NominationAmended"]
    winner = history.entries[-1].actor_id
    shown = await intake_api.call("GetNomination", pb.GetNominationRequest(
        nomination_id=nomination_id), nominator(winner))
    expected = "王芳的简介。" if winner == "wang-fang" else "李娜的简介。"
    assert shown.fields["hospital_profile"] == expected


async def test_every_command_on_a_nomination_checks_the_version_given(intake_api) -> None:  # noqa: ANN001
    nomination_id = await submitted(intake_api)
    endorser = Actor("li-wei", "endorser", "zhengzhou")
    stale = [
        ("ReturnNomination", pb.ReturnNominationRequest(
            nomination_id=nomination_id, reasons=["请补充"], expected_version=7), endorser),
        ("EndorseNomination", pb.EndorseNominationRequest(
            nomination_id=nomination_id, opinion="同意", expected_version=7), endorser),
        ("RejectNomination", pb.RejectNominationRequest(
            nomination_id=nomination_id, reasons=["不同意"], expected_version=7), endorser),
        ("WithdrawNomination", pb.WithdrawNominationRequest(
            nomination_id=nomination_id, reason="撤回", expected_version=7),
         nominator("wang-fang")),
        ("AttachEvidence", pb.AttachEvidenceRequest(
            nomination_id=nomination_id, filename="a.pdf", media_type="application/pdf",
            kind="case", content=b"%PDF-1.4 case", expected_version=7),
         nominator("wang-fang")),
    ]
    before = intake_api.last_position()
    for method, request, actor in stale:
        error = await intake_api.refused(method, request, actor)
        assert error.code() == grpc.StatusCode.ABORTED, (method, error.details())
        assert "version 7" in error.details() and "version 1" in error.details()
    assert intake_api.last_position() == before
    # The version it is at goes through.
    reply = await intake_api.call("ReturnNomination", pb.ReturnNominationRequest(
        nomination_id=nomination_id, reasons=["请补充"], expected_version=1), endorser)
    assert reply.version == 2
