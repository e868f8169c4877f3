"""Text enters the system normalized, and control characters do not enter it.

`laurel.text` is checked on its own, then over real gRPC sockets: free text
written with a decomposed accent, zero-width joiners, a BOM or CRLF is stored
as NFC with LF and without the invisible characters (intake's form fields,
nominee name, reasons and opinion; review's names and reasons; scoring's
compliance summary), and a NUL or an escape character in any field of any
request is refused with INVALID_ARGUMENT naming that field, storing nothing.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import grpc
import pytest

from laurel.campaigns import SHIPPED_DIR, load_catalog
from laurel.campaigns.specimen import specimen_fields
from laurel.demo import campaign_clock_request, demo_organizations
from laurel.errors import InvalidArgument
from laurel.grpcutil import client_channel, violations_of
from laurel.intake.v1 import intake_pb2 as ip
from laurel.intake.v1 import intake_pb2_grpc
from laurel.review.v1 import review_pb2 as rv
from laurel.review.v1 import review_pb2_grpc
from laurel.scoring.v1 import scoring_pb2 as sc
from laurel.scoring.v1 import scoring_pb2_grpc
from laurel.text import clean, clean_all, control_violations

HENAN = load_catalog(SHIPPED_DIR)["henan-2021"]
DECOMPOSED = "Jose\u0301 分时段\u200d预约\ufeff"  # e + U+0301, a ZWJ, a BOM
COMPOSED = "José 分时段预约"


def test_clean_composes_drops_invisible_characters_and_unifies_line_ends() -> None:
    assert unicodedata.is_normalized("NFD", "e\u0301")
    assert clean("name", DECOMPOSED) == COMPOSED
    assert clean("reason", "第一行\r\n第二行\r第三行\t末") == "第一行\n第二行\n第三行\t末"
    assert clean("title", "\u202e\u0645\u00ad") == "\u0645"  # direction override, soft hyphen
    assert clean("name", COMPOSED) == COMPOSED  # clean text passes unchanged


def test_every_invisible_format_character_is_dropped_and_nothing_else() -> None:
    """`normalized` drops exactly Unicode's category Cf: each such character of
    this Python's unicodedata, and no neighbour of one, is dropped."""
    import sys

    from laurel.text import normalized

    formats = [chr(c) for c in range(sys.maxunicode + 1)
               if unicodedata.category(chr(c)) == "Cf"]
    assert all(normalized(f"a{char}b") == "ab" for char in formats)
    neighbours = {chr(ord(char) + step) for char in formats for step in (-1, 1)}
    kept = sorted(c for c in neighbours - set(formats)
                  if unicodedata.category(c) not in ("Cc", "Cs")
                  and unicodedata.is_normalized("NFC", c))
    assert [c for c in kept if normalized(c) != c] == []


def test_free_text_is_composed_but_never_folded() -> None:
    """NFC keeps what was typed: full-width digits, an ideographic indent and
    compatibility characters stay in free text (`laurel.normalize` folds only
    structured values)."""
    typed = "\u3000\u3000第１２３号：ﬁ　Ｊｏｓｅ　Jose\u0301"
    assert clean("profile", typed) == "\u3000\u3000第１２３号：ﬁ　Ｊｏｓｅ　José"


@pytest.mark.parametrize("bad", ["a\x00b", "\x1b[2J", "x\x7f", "\x85next", "bell\x07"])
def test_control_characters_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        clean("opinion", bad)
    [violation] = raised.value.violations
    assert violation.field == "opinion" and "control character" in violation.description
    with pytest.raises(InvalidArgument) as raised:
        clean_all("fields", {"ok": "fine", "department_name": bad})
    assert [v.field for v in raised.value.violations] == ["fields[department_name]"]
    with pytest.raises(InvalidArgument) as raised:
        clean_all("reasons", ["fine", bad])
    assert [v.field for v in raised.value.violations] == ["reasons[1]"]


def test_every_string_of_a_request_is_checked_nested_and_in_maps() -> None:
    request = ip.SubmitNominationRequest(
        campaign_id="henan\x00", nominee=ip.Nominee(name="a\x01"),
        fields={"k\x02": "v", "ok": "x\x03", "fine": "多行\n文本\t"})
    assert sorted(v.field for v in control_violations(request)) == [
        "campaign_id", "fields[k\x02]", "fields[ok]", "nominee.name"]
    assert control_violations(ip.ReturnNominationRequest(reasons=["ok", "\x00"])
                              )[0].field == "reasons[1]"
    [overlong] = control_violations(ip.ListNominationsRequest(
        campaign_id="c" * 101, page_token="t" * 500))
    assert overlong.field == "campaign_id" and "at most 100" in overlong.description


# -- over gRPC -------------------------------------------------------------------------


async def _refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


async def test_intake_stores_text_normalized_and_refuses_control_characters(
        serve: Any, keys: Any) -> None:
    served = await serve(("intake",), LAUREL_ENV="development")
    organizer, nominator = keys.metadata("organizer"), keys.metadata("nominator")
    endorser = keys.metadata("endorser")
    category = HENAN.category("warm_service_post")
    field = "department_name"
    async with client_channel(served.address("intake")) as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        for org in demo_organizations()[:12]:
            await intake.RegisterOrganization(ip.RegisterOrganizationRequest(**org),
                                              metadata=organizer)
        await intake.SetCampaignClock(campaign_clock_request(), metadata=organizer)
        fields = specimen_fields(category) | {field: DECOMPOSED}
        nid = (await intake.SubmitNomination(ip.SubmitNominationRequest(
            campaign_id="henan-2021", category=category.key,
            nominee=ip.Nominee(kind=category.nominee_kind, name=DECOMPOSED,
                               organization_id="zhengzhou-peoples"), fields=fields),
            metadata=nominator)).nomination_id
        await intake.ReturnNomination(ip.ReturnNominationRequest(
            nomination_id=nid, reasons=["请补充\r\n材料\u200b"]), metadata=endorser)
        got = await intake.GetNomination(ip.GetNominationRequest(nomination_id=nid),
                                         metadata=organizer)
        assert got.nominee.name == COMPOSED and got.fields[field] == COMPOSED
        assert list(got.return_reasons) == ["请补充\n材料"]

        before = served.stores["intake"].last_position()
        for call, name in [
            (intake.ResubmitNomination(ip.ResubmitNominationRequest(
                nomination_id=nid, fields={field: "含\x00空字符"}), metadata=nominator),
             f"fields[{field}]"),
            (intake.EndorseNomination(ip.EndorseNominationRequest(
                nomination_id=nid, opinion="同意\x1b推荐"), metadata=endorser), "opinion"),
            (intake.GetOrganization(ip.GetOrganizationRequest(
                organization_id="zhengzhou\x00"), metadata=organizer), "organization_id"),
        ]:
            error = await _refused(call)
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert [f for f, _ in violations_of(error)] == [name]
            assert "control character" in violations_of(error)[0][1]
        assert served.stores["intake"].last_position() == before
    stored = [e for e in served.stores["intake"].read_all()
              if e.stream_id == f"nomination-{nid}"]
    assert stored[0].payload["nominee"]["name"] == COMPOSED


async def test_review_and_scoring_store_text_normalized(serve: Any, keys: Any) -> None:
    served = await serve(("review", "scoring"), LAUREL_ENV="development")
    organizer = keys.metadata("organizer")
    async with client_channel(served.address("review")) as channel:
        review = review_pb2_grpc.ReviewServiceStub(channel)
        await review.RegisterReviewer(rv.RegisterReviewerRequest(
            reviewer_id="reviewer-matrix", name=DECOMPOSED, organization_id="zzu",
            group="industry_expert"), metadata=organizer)
        await review.DeclareConflict(rv.DeclareConflictRequest(
            reviewer_id="reviewer-matrix", subject_id="zhengzhou-peoples",
            reason="曾\ufeff任职\r\n"), metadata=keys.metadata("reviewer"))
        before = served.stores["review"].last_position()
        error = await _refused(review.SubmitReview(rv.SubmitReviewRequest(
            round_id="r1", nomination_id="n1", comment="好\x00"),
            metadata=keys.metadata("reviewer")))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in violations_of(error)] == ["comment"]
        assert served.stores["review"].last_position() == before
    payloads = [e.payload for e in served.stores["review"].read_all()]
    assert any(p.get("name") == COMPOSED for p in payloads), payloads
    assert any(p.get("reason") == "曾任职" for p in payloads), payloads

    async with client_channel(served.address("scoring")) as channel:
        scoring = scoring_pb2_grpc.ScoringServiceStub(channel)
        await scoring.RecordComplaint(sc.RecordComplaintRequest(
            entry_id="c-1", subject_kind="organization", subject_id="zhengzhou-peoples",
            occurred_on="2021-03-01", source="12320", summary=DECOMPOSED),
            metadata=organizer)
        listed = await scoring.ListComplianceEntries(
            sc.ListComplianceEntriesRequest(), metadata=organizer)
        assert [e.summary for e in listed.entries] == [COMPOSED]
        error = await _refused(scoring.RecordComplaint(sc.RecordComplaintRequest(
            entry_id="c-2", subject_kind="organization", subject_id="zhengzhou-peoples",
            occurred_on="20210301", source="12320", summary="x"), metadata=organizer))
        assert [f for f, _ in violations_of(error)] == ["occurred_on"]
