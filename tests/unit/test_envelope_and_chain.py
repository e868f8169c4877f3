"""The canonical encoding and the chain verifier, without a database."""

from __future__ import annotations

from dataclasses import replace

import pytest

from laurel.chain import RawEvent, verify_chain
from laurel.envelope import GENESIS_HASH, canonical_json, event_hash


def test_canonical_json_is_one_text_per_value() -> None:
    assert canonical_json({"b": 1, "a": ["郑州", None]}) == '{"a":["郑州",null],"b":1}'
    assert canonical_json({"a": 1, "b": 2}) == canonical_json({"b": 2, "a": 1})


def chain(n: int, stream: str = "s", start: int = 1) -> list[RawEvent]:
    rows, prev = [], GENESIS_HASH
    for i in range(n):
        fields = dict(position=start + i, event_id=f"e{start + i}", stream_id=stream,
                      version=i + 1, type="T", schema_version=1, payload_json="{}",
                      metadata_json="{}", recorded_at="2021-11-10T00:00:00.000000Z",
                      prev_hash=prev)
        prev = event_hash(**fields)
        rows.append(RawEvent(hash=prev, **fields))
    return rows


def test_an_untouched_chain_verifies() -> None:
    report = verify_chain(chain(5))
    assert report.ok and report.events_checked == 5 and report.streams_checked == 1


def test_each_kind_of_edit_is_named_at_its_event() -> None:
    rows = chain(4)
    edited = rows[:2] + [replace(rows[2], payload_json='{"x":1}')] + rows[3:]
    retyped = rows[:1] + [replace(rows[1], type="Other")] + rows[2:]
    relinked = rows[:3] + [replace(rows[3], prev_hash=GENESIS_HASH)]
    for tampered, version in ((edited, 3), (retyped, 2), (relinked, 4)):
        broken = verify_chain(tampered).first_break
        assert (broken.stream_id, broken.version) == ("s", version)


def test_positions_must_be_contiguous_in_the_global_log() -> None:
    rows = chain(3)
    broken = verify_chain([rows[0], rows[2]]).first_break
    assert broken.position == 3
    assert verify_chain([rows[0], rows[2]], contiguous_positions=False).first_break.reason \
        .startswith("version 3 follows version 1")


# -- known answers: the stored format, pinned ---------------------------------
# Events are verified for years by tools that are not this code, so the bytes
# that are hashed are fixed here as literal text. If one of these fails, the
# change broke every stored chain: do not update the literal, revert the change.

GOLDEN_PAYLOAD = {
    "nomination_id": "7d0f3c2e-1111-4222-8333-444455556666",
    "fields": {"hospital_name": "河南省人民医院", "points": "95"},
    "changes": {"mobile": {"before": None, "after": "13800138000"}},
    "quota": 2,
    "final": True,
}
GOLDEN_PAYLOAD_JSON = (
    '{"changes":{"mobile":{"after":"13800138000","before":null}},'
    '"fields":{"hospital_name":"河南省人民医院","points":"95"},"final":true,'
    '"nomination_id":"7d0f3c2e-1111-4222-8333-444455556666","quota":2}'
)
GOLDEN_METADATA_JSON = (
    '{"actor":{"id":"hnpph-1","organization_id":"henan-provincial-peoples",'
    '"role":"nominator"},"causation_id":"","correlation_id":"corr-1","trace":{}}'
)
GOLDEN_HASH = "15e03c7d29ebe37abc3dd600dba065b810e44c4a9f31fae15f019de91291541f"


def test_canonical_json_known_answers() -> None:
    """RFC 8785 (JCS) for what Laurel stores: no whitespace, keys sorted,
    UTF-8 kept as is, only the escapes JSON requires. One departure, fixed
    since the first event: keys sort by Unicode code point, where JCS sorts
    by UTF-16 code unit; the two differ only for keys holding characters
    beyond U+FFFF (below, 😀 after ～; JCS would put it before)."""
    assert canonical_json(GOLDEN_PAYLOAD) == GOLDEN_PAYLOAD_JSON
    assert canonical_json(
        {"\u00e9": 1, "e\u0301": 2, "\U0001f600": 3, "\uff5e": 4,
         "a": {"z": "\u2028\t\"\\\x7f", "b": [1, -0, 10]}}
    ) == ('{"a":{"b":[1,0,10],"z":"\u2028\\t\\"\\\\\x7f"},'
          '"e\u0301":2,"\u00e9":1,"\uff5e":4,"\U0001f600":3}')
    for not_json in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            canonical_json({"x": not_json})


def test_event_hash_known_answer() -> None:
    """SHA-256 over the canonical JSON array [position, event_id, stream_id,
    version, type, schema_version, payload_json, metadata_json, recorded_at,
    prev_hash], payload and metadata entering as their stored text."""
    digest = event_hash(
        position=42, event_id="0b5e2c1a-8f3d-5e6f-9a0b-1c2d3e4f5a6b",
        stream_id="nomination-7d0f3c2e-1111-4222-8333-444455556666", version=3,
        type="NominationAmended", schema_version=1, payload_json=GOLDEN_PAYLOAD_JSON,
        metadata_json=GOLDEN_METADATA_JSON, recorded_at="2021-11-26T02:00:00.000000Z",
        prev_hash=GENESIS_HASH)
    assert digest == GOLDEN_HASH


def test_state_updater_copies_as_dataclasses_replace_does() -> None:
    """A fold's states are updated by `state_updater` (filling the copy's
    __dict__ at once): the same value `replace` makes, the old state left as
    it was (the fold cache shares it), the copy still frozen, and what
    replace refuses refused."""
    import dataclasses

    from laurel.envelope import state_updater

    @dataclasses.dataclass(frozen=True)
    class State:
        name: str
        tags: tuple[str, ...] = ()
        version: int = 0

    update = state_updater(State)
    before = State("a", ("x",), 1)
    after = update(before, {"version": 2, "tags": ("x", "y")})
    assert after == replace(before, version=2, tags=("x", "y")) and type(after) is State
    assert list(vars(after)) == [f.name for f in dataclasses.fields(State)]
    assert before == State("a", ("x",), 1) and after is not before
    with pytest.raises(dataclasses.FrozenInstanceError):
        after.version = 3  # type: ignore[misc]
    with pytest.raises(TypeError, match="no field"):
        update(before, {"versoin": 2})

    @dataclasses.dataclass(frozen=True)
    class Checked:
        name: str

        def __post_init__(self) -> None:
            if not self.name:
                raise ValueError("a name is required")

    @dataclasses.dataclass
    class Mutable:
        name: str

    @dataclasses.dataclass(frozen=True)
    class Derived:
        name: str
        size: int = dataclasses.field(init=False, default=0)

    for cls in (Checked, Mutable, Derived):
        with pytest.raises(TypeError, match="frozen dataclass"):
            state_updater(cls)


@pytest.mark.parametrize("text", [
    "2021-12-01T08:00:00.000000Z", "2021-11-30T23:59:59.999999Z",
    "2020-02-29T00:00:00.000001Z", "0001-01-01T00:00:00.000000Z",
    "9999-12-31T23:59:59.999999Z", "2021-1-01T08:00:00.000000Z",
    "2021-12-01T08:00:00.5Z", "2021-12-01T08:00:00Z", "2021-02-30T00:00:00.000000Z",
    "2021-13-01T00:00:00.000000Z", "2021-12-01T24:00:00.000000Z",
    "2021-12-01 08:00:00.000000Z", "2021-12-01T08:00:00.000000", "２０２１-12-01T08:00:00.000000Z",
])
def test_parse_time_reads_what_strptime_reads(text: str) -> None:
    """parse_time reads format_time's own shape without strptime: the same
    moment for every text strptime reads, refused where strptime refuses."""
    from datetime import UTC, datetime

    from laurel.envelope import TIME_FORMAT, format_time, parse_time

    try:
        expected = datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        with pytest.raises(ValueError):
            parse_time(text)
        return
    parsed = parse_time(text)
    assert parsed == expected and parsed.tzinfo is UTC
    assert format_time(parsed) == format_time(expected)
