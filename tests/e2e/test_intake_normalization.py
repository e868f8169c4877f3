"""Input in one canonical form (issue 16, item 7), through intake's public API.

Hypothesis types phone numbers and self-assessment points the way people do:
full-width digits mixed with ASCII ones, padded with spaces, ideographic
spaces and tabs, prefixed with +86, 0086 or 86, grouped with spaces and
hyphens; and some that are no number at all. Each goes through
SubmitNomination or AmendNomination over real gRPC to intake with its real
SQLite store, and what intake then holds (GetNomination, and the stored
event itself) is canonical — or the call was refused with INVALID_ARGUMENT
naming the field and showing the expected form, and nothing was stored.
"""

from __future__ import annotations

import asyncio
import re
import threading
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laurel.auth import call_metadata
from laurel.campaigns import SHIPPED_DIR, load_catalog
from laurel.campaigns.specimen import specimen_fields
from laurel.config import load_settings
from laurel.demo import DEMO_NOW, ORGANIZER, campaign_clock_request, demo_organizations
from laurel.envelope import Actor
from laurel.grpcutil import violations_of
from laurel.intake.bootstrap import build
from laurel.intake.v1 import intake_pb2 as pb
from laurel.intake.v1 import intake_pb2_grpc

HENAN = load_catalog(SHIPPED_DIR)["henan-2021"]
CATEGORY = "ten_measures_benchmark"
HOSPITAL = "zhengzhou-peoples"
NOMINATOR = Actor("nominator-zz", "nominator", HOSPITAL)
MOBILE_FIELDS = ("president.mobile", "contact.mobile")
LANDLINE_FIELDS = ("president.landline", "contact.landline")
POINTS_FIELD = "self_assessment.m01.points"  # the others stay at 90: 810 + these
CANONICAL = {
    "mobile": re.compile(r"^1[3-9][0-9]{9}$"),
    "landline": re.compile(r"^0(?:10|2[0-9]|[3-9][0-9]{2})-[2-9][0-9]{6,7}(?:-[0-9]{1,6})?$"),
    "points": re.compile(r"^(?:0|[1-9][0-9]*)$"),
}
KIND = {**dict.fromkeys(MOBILE_FIELDS, "mobile"), **dict.fromkeys(LANDLINE_FIELDS, "landline"),
        POINTS_FIELD: "points"}
EXAMPLES = 60


# -- the values, as typed ---------------------------------------------------------


def wide(char: str) -> str:
    if char == " ":
        return "\u3000"
    return chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char


@st.composite
def as_typed(draw: st.DrawFn, text: str) -> str:
    """`text` with any character full-width, padded at either end."""
    padding = st.text(st.sampled_from([" ", "\u3000", "\t"]), max_size=2)
    body = "".join(wide(c) if draw(st.booleans()) else c for c in text)
    return draw(padding) + body + draw(padding)


@st.composite
def mobile(draw: st.DrawFn) -> str:
    digits = draw(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
    sep = draw(st.sampled_from(["", " ", "-"]))
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "0086", "86 "]))
    return draw(as_typed(f"{prefix}{digits[:3]}{sep}{digits[3:7]}{sep}{digits[7:]}"))


@st.composite
def landline(draw: st.DrawFn) -> str:
    area = draw(st.sampled_from(["010", "021", "0371", "0379", "0391"]))
    number = draw(st.from_regex(r"[2-9][0-9]{7}", fullmatch=True))
    sep = draw(st.sampled_from(["-", " ", ""]))
    text = draw(st.sampled_from([f"{area}{sep}{number}", f"({area}){number}",
                                 f"+86 {area[1:]} {number}"]))
    return draw(as_typed(text))


@st.composite
def points(draw: st.DrawFn) -> str:
    value = draw(st.integers(90, 100))
    zeros = draw(st.sampled_from(["", "0", "00"]))
    return draw(as_typed(f"{zeros}{value}"))


not_a_number = st.sampled_from(
    ["一三八〇〇一三八〇〇〇", "九十五", "95分", "\u0669\u0665", "9 5", "+86", "x"])
not_a_phone = st.one_of(
    not_a_number,
    st.from_regex(r"[0-9]{1,6}", fullmatch=True),  # too short for any phone
    st.from_regex(r"1[3-9][0-9]{4}[a-z][0-9]{4}", fullmatch=True),
    st.sampled_from(["138001380001", "+1 415 555 0100", "12345678901"]),
)
VALUES = {"mobile": mobile(), "landline": landline(), "points": points()}
GARBAGE = {"mobile": not_a_phone, "landline": not_a_phone, "points": not_a_number}


@st.composite
def typed_fields(draw: st.DrawFn) -> dict[str, str]:
    """One to three of the fields, each as typed (now and then garbage)."""
    keys = draw(st.lists(st.sampled_from(sorted(KIND)), min_size=1, max_size=3,
                         unique=True))
    return {key: draw(st.one_of(VALUES[KIND[key]], VALUES[KIND[key]],
                                GARBAGE[KIND[key]].flatmap(as_typed)))
            for key in keys}


def expected(kind: str, typed: str) -> str | None:
    """The canonical value, by an oracle independent of `laurel.normalize`: the
    typed digits, NFKC, without country prefix, separators or padding; None
    where the policy must refuse."""
    text = unicodedata.normalize("NFKC", typed).strip(" \t")
    if kind == "points":
        return str(int(text)) if re.fullmatch(r"[0-9]+", text) else None
    abroad = re.match(r"^(?:\+|00)?86[ -]?", text)
    text = text[abroad.end():] if abroad else text
    if kind == "mobile":
        digits = re.sub(r"[ -]", "", text)
        return digits if re.fullmatch(r"1[3-9][0-9]{9}", digits) else None
    if abroad and text[:1].isdigit() and text[:1] != "0":
        text = "0" + text  # written from abroad, without the trunk 0
    match = re.fullmatch(r"\((0(?:10|2[0-9]|[3-9][0-9]{2}))\)([2-9][0-9]{7})"
                         r"|(0(?:10|2[0-9]|[3-9][0-9]{2}))[ -]?([2-9][0-9]{7})", text)
    if match is None:
        return None
    area, number = (match[1], match[2]) if match[1] else (match[3], match[4])
    return f"{area}-{number}"


# -- intake, served from a loop of its own so the sync test can call it ---------------


@dataclass
class Served:
    stub: Any
    runtime: Any
    loop: asyncio.AbstractEventLoop

    def call(self, method: str, request: Any) -> Any:
        return getattr(self.stub, method)(request, metadata=call_metadata(NOMINATOR),
                                          timeout=10)

    def stored(self, nomination_id: str) -> list[Any]:
        return self.runtime.store.read_stream(f"nomination-{nomination_id}")


@pytest.fixture
def served(service_env: dict[str, str]) -> Iterator[Served]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(60)

    runtime = run(build(load_settings("intake", service_env), with_relay=False))
    run(runtime.start())
    channel = grpc.insecure_channel(f"127.0.0.1:{runtime.grpc.port}")
    stub = intake_pb2_grpc.IntakeServiceStub(channel)
    for org in demo_organizations():
        if org["organization_id"] in ("henan-center", "zhengzhou", HOSPITAL):
            stub.RegisterOrganization(pb.RegisterOrganizationRequest(**org),
                                      metadata=call_metadata(ORGANIZER))
    stub.SetCampaignClock(campaign_clock_request("henan-2021", DEMO_NOW),
                          metadata=call_metadata(ORGANIZER))
    try:
        yield Served(stub, runtime, loop)
    finally:
        channel.close()
        run(runtime.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def base_fields() -> dict[str, str]:
    fields = specimen_fields(HENAN.category(CATEGORY))
    for key in fields:
        if key.endswith(".points"):
            fields[key] = "90"
    return fields


def check_refusal(error: grpc.RpcError, typed: dict[str, str]) -> None:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    named = dict(violations_of(error))
    wrong = {f"fields[{k}]" for k, v in typed.items() if expected(KIND[k], v) is None}
    assert set(named) == wrong, (named, typed)
    for description in named.values():
        assert "e.g." in description  # the expected form, shown by example


def check_stored(served: Served, nomination_id: str, typed: dict[str, str]) -> None:
    shown = served.call("GetNomination", pb.GetNominationRequest(
        nomination_id=nomination_id))
    events = served.stored(nomination_id)
    stored = dict(events[0].payload["fields"])
    for event in events[1:]:
        stored.update({k: c["after"] for k, c in event.payload.get("changes", {}).items()})
    for key, value in typed.items():
        assert CANONICAL[KIND[key]].match(shown.fields[key]), (key, shown.fields[key])
        assert shown.fields[key] == stored[key] == expected(KIND[key], value), (key, value)


def test_typed_numbers_are_stored_canonical_or_refused(served: Served) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(submitted=typed_fields(), amended=typed_fields())
    def check(submitted: dict[str, str], amended: dict[str, str]) -> None:
        nomination_id = str(uuid.uuid4())
        fields = {**base_fields(), **submitted}
        try:
            served.call("SubmitNomination", pb.SubmitNominationRequest(
                nomination_id=nomination_id, campaign_id="henan-2021", category=CATEGORY,
                nominee=pb.Nominee(kind="hospital", name="郑州市人民医院",
                                   organization_id=HOSPITAL),
                fields=fields))
        except grpc.RpcError as error:
            check_refusal(error, submitted)
            assert served.stored(nomination_id) == []
            return
        assert all(expected(KIND[k], v) is not None for k, v in submitted.items())
        check_stored(served, nomination_id, submitted)
        before = len(served.stored(nomination_id))
        try:
            served.call("AmendNomination", pb.AmendNominationRequest(
                nomination_id=nomination_id, fields=amended, reason="更正"))
            check_stored(served, nomination_id, amended)
        except grpc.RpcError as error:
            unchanged = all(expected(KIND[k], v) == expected(KIND[k], fields.get(k, ""))
                            for k, v in amended.items())
            if not (unchanged and error.code() == grpc.StatusCode.INVALID_ARGUMENT
                    and "changes nothing" in error.details()):
                check_refusal(error, amended)
            assert len(served.stored(nomination_id)) == before
        served.call("WithdrawNomination", pb.WithdrawNominationRequest(
            nomination_id=nomination_id, reason="测试"))  # the quota is one live

    check()
