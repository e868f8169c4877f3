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


def test_a_decoded_row_is_the_recorded_event_its_constructor_makes(tmp_path) -> None:  # noqa: ANN001
    """The store fills a RecordedEvent's fields at once (`_decode_row`): the
    same fields, equal and hashing alike, to the one __init__ makes."""
    import dataclasses

    from laurel.envelope import RecordedEvent
    from laurel.eventstore import EventStore

    store = EventStore(f"sqlite:///{tmp_path}/decode.sqlite")
    row = (3, "e-3", "nomination-1", 2, "NominationReceived", 1,
           '{"nomination_id":"n-1"}', '{"actor":{"id":"a"}}',
           "2021-11-01T00:00:00.000000Z", GENESIS_HASH, "f" * 64)
    decoded = store._decode_row(row)
    made = RecordedEvent(3, "e-3", "nomination-1", 2, "NominationReceived", 1,
                         {"nomination_id": "n-1"}, {"actor": {"id": "a"}},
                         "2021-11-01T00:00:00.000000Z", GENESIS_HASH, "f" * 64)
    assert decoded == made and type(decoded) is RecordedEvent
    assert vars(decoded) == vars(made)
    assert list(vars(decoded)) == [f.name for f in dataclasses.fields(RecordedEvent)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.version = 9  # type: ignore[misc]
    store.close()
