"""The canonical encoding and the chain verifier, without a database."""

from __future__ import annotations

from dataclasses import replace

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
