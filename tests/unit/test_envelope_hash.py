"""The hash material written by orjson is canonical_json's, byte for byte:
every stored hash stays what it was, and an old chain verifies unchanged."""

from __future__ import annotations

import hashlib

import pytest

from laurel.envelope import GENESIS_HASH, canonical_json, event_hash, hash_fields


def _canonical(fields: list[object]) -> str:
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


def test_every_code_point_hashes_as_canonical_json() -> None:
    points = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    for start in range(0, len(points), 4096):
        text = "".join(chr(cp) for cp in points[start:start + 4096])
        fields: list[object] = [start, text, '{"a":"\\"q\\"\\n"}', 7, text[::-1]]
        assert hash_fields(fields) == _canonical(fields), hex(points[start])


@pytest.mark.parametrize("number", [0, -1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -2**63 - 1,
                                    10**30])
def test_integers_beyond_orjson_take_the_canonical_way(number: int) -> None:
    fields: list[object] = [number, "e-1", True, None]
    assert hash_fields(fields) == _canonical(fields)


def test_a_lone_surrogate_still_raises() -> None:
    with pytest.raises(UnicodeEncodeError):
        hash_fields([1, "\ud800"])


def test_event_hash_is_the_hash_of_its_fields_in_column_order() -> None:
    fields: list[object] = [3, "e-3", "nomination-1", 2, "NominationReceived", 1,
                            '{"nomination_id":"n-1"}', '{"actor":{}}',
                            "2021-11-01T00:00:00.000000Z", GENESIS_HASH]
    assert event_hash(
        position=3, event_id="e-3", stream_id="nomination-1", version=2,
        type="NominationReceived", schema_version=1,
        payload_json='{"nomination_id":"n-1"}', metadata_json='{"actor":{}}',
        recorded_at="2021-11-01T00:00:00.000000Z", prev_hash=GENESIS_HASH,
    ) == _canonical(fields)
