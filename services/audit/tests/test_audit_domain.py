"""Audit's domain on data alone: rows built here, packages as bytes in memory.

No store, no folder: what a checkpoint signs, what a package holds and what
its verification names follow from the rows and files handed in. The same
checks on real stores and folders are tests/integration/test_audit*.py.
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from laurel.audit.domain.checkpoints import (
    CheckpointRefused,
    checkpoint_of,
    checkpoint_problems,
    is_checkpoint,
    recording,
    verify_checkpoint,
)
from laurel.audit.domain.lines import decode_line, encode_line
from laurel.audit.domain.merkle import MerkleTree
from laurel.audit.domain.package import sealed, store_files, store_names
from laurel.audit.domain.replay import differences, keyed, names
from laurel.audit.domain.selection import (
    campaign_nomination_ids,
    campaign_stream_ids,
    nomination_stream_ids,
)
from laurel.audit.domain.timeline import merge_timeline
from laurel.audit.domain.verification import verify_files
from laurel.chain import RawEvent
from laurel.envelope import GENESIS_HASH, RecordedEvent, canonical_json, event_hash

NOMINATION = "a1b2c3d4-0000-4000-8000-000000000001"
OTHER = "ffffffff-0000-4000-8000-000000000002"
AT = "2021-11-10T10:00:00.000000Z"


def chained(events: list[tuple[str, str, dict]]) -> list[RawEvent]:
    """Rows as a store records them: (stream, type, payload) in commit order,
    positions from 1, each stream's versions and hash chain."""
    heads: dict[str, tuple[int, str]] = {}
    rows = []
    for position, (stream_id, type_, payload) in enumerate(events, start=1):
        version, prev_hash = heads.get(stream_id, (0, GENESIS_HASH))
        fields = {
            "position": position, "event_id": f"e{position}", "stream_id": stream_id,
            "version": version + 1, "type": type_, "schema_version": 1,
            "payload_json": canonical_json(payload),
            "metadata_json": canonical_json({"actor": {"id": "u-1", "role": "nominator"}}),
            "recorded_at": AT, "prev_hash": prev_hash,
        }
        row = RawEvent(**fields, hash=event_hash(**fields))
        heads[stream_id] = (row.version, row.hash)
        rows.append(row)
    return rows


@pytest.fixture
def rows() -> list[RawEvent]:
    return chained([
        (f"nomination-{NOMINATION}", "Drafted", {"campaign_id": "henan-2021"}),
        (f"nomination-{OTHER}", "Drafted", {"campaign_id": "other-2022"}),
        ("panel-1", "PanelFormed", {"panel": "p1"}),
        ("panel-1", "Assigned", {"nomination_id": NOMINATION, "reviewer": "r-1"}),
        (f"nomination-{NOMINATION}", "Submitted",
         {"nomination_id": NOMINATION, "campaign_id": "henan-2021"}),
        (f"notifications-{OTHER}", "ReceiptIssued", {"to": "u-2"}),
    ])


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


# -- checkpoints -----------------------------------------------------------------


def test_a_checkpoint_signs_the_root_of_every_row_and_says_how_it_is_recorded(
    rows: list[RawEvent], key: Ed25519PrivateKey
) -> None:
    checkpoint = checkpoint_of(rows, "intake", 6, AT, key)

    assert (checkpoint.up_to_position, checkpoint.event_count) == (6, 6)
    assert checkpoint.merkle_root == MerkleTree([r.hash for r in rows]).root
    assert verify_checkpoint(checkpoint, key.public_key()) is None
    stranger = Ed25519PrivateKey.generate().public_key()
    assert "not by the trusted key" in str(verify_checkpoint(checkpoint, stranger))
    stream, [event], metadata = recording(checkpoint)
    assert (stream, event.type) == ("audit-checkpoints", "CheckpointSigned")
    assert event.payload == checkpoint.to_dict()
    assert metadata.correlation_id == "checkpoint-intake-6"
    recorded = chained([(stream, event.type, event.payload)])[0]
    assert is_checkpoint(recorded) and not is_checkpoint(rows[-1])


def test_a_broken_chain_or_a_missing_row_is_refused_a_checkpoint(
    rows: list[RawEvent], key: Ed25519PrivateKey
) -> None:
    edited = [*rows[:3], RawEvent(**{**rows[3].__dict__, "type": "Forged"}), *rows[4:]]
    with pytest.raises(CheckpointRefused, match="stream 'panel-1' version 2 \\(position 4\\)"):
        checkpoint_of(edited, "intake", 6, AT, key)
    with pytest.raises(CheckpointRefused, match="5 events up to position 6"):
        checkpoint_of(rows[:5], "intake", 6, AT, key)


def test_recorded_checkpoints_see_a_log_rewritten_with_fresh_hashes(
    rows: list[RawEvent], key: Ed25519PrivateKey
) -> None:
    first = checkpoint_of(rows[:4], "intake", 4, AT, key)
    second = checkpoint_of(rows, "intake", 6, AT, key)
    assert checkpoint_problems([second, first], rows, key.public_key()) == []

    rewritten = chained([(r.stream_id, r.type, json.loads(r.payload_json)) for r in rows[:2]]
                        + [("panel-1", "PanelFormed", {"panel": "p2"})]
                        + [(r.stream_id, r.type, json.loads(r.payload_json)) for r in rows[3:]])
    problems = checkpoint_problems([first, second], rewritten, key.public_key())
    assert [p.split(" no longer")[0] for p in problems] == ["events 1..4", "events 1..6"]
    assert all("the log was rewritten" in p for p in problems)
    assert checkpoint_problems([second], rows[:5], key.public_key()) == [
        "checkpoint up to position 6: the store has only 5 events"]


# -- lines, selection ---------------------------------------------------------------


def test_a_line_holds_the_stored_text_and_decodes_to_the_same_row(
    rows: list[RawEvent]
) -> None:
    line = encode_line(rows[4])
    assert line.endswith("\n") and json.loads(line)["payload"] == rows[4].payload_json
    assert decode_line(line.encode()) == rows[4]
    for broken, why in ((b"\xff", "not UTF-8"), (b"[1]", "not a JSON object"),
                        (line.replace('"version":2', '"version":"2"').encode(),
                         "'version' is missing or not a int"),
                        ((line.rstrip()[:-1] + ',"extra":1}').encode(), "unexpected fields")):
        with pytest.raises(ValueError, match=why):
            decode_line(broken)


def test_a_nomination_is_its_whole_streams_and_a_campaign_its_nominations(
    rows: list[RawEvent]
) -> None:
    assert nomination_stream_ids(rows, NOMINATION) == {f"nomination-{NOMINATION}",
                                                       "panel-1"}
    assert nomination_stream_ids(rows, OTHER) == {f"nomination-{OTHER}",
                                                  f"notifications-{OTHER}"}
    assert campaign_nomination_ids(rows, "henan-2021") == {NOMINATION}
    assert campaign_stream_ids(rows, "other-2022", {OTHER}) == {
        f"nomination-{OTHER}", f"notifications-{OTHER}"}


# -- packages ------------------------------------------------------------------------


def package_of(rows: list[RawEvent], key: Ed25519PrivateKey) -> dict[str, bytes]:
    """A nomination package of one store, as the exporter builds it."""
    checkpoint = checkpoint_of(rows, "intake", len(rows), AT, key)
    chosen = nomination_stream_ids(rows, NOMINATION)
    selected = [r for r in rows if r.stream_id in chosen]
    files = store_files("intake", checkpoint, selected, MerkleTree([r.hash for r in rows]))
    return sealed(files, key, {"kind": "nomination", "nomination_id": NOMINATION},
                  {"intake": len(selected)}, AT).files


def test_a_package_in_memory_verifies_and_names_each_kind_of_tampering(
    rows: list[RawEvent], key: Ed25519PrivateKey
) -> None:
    files = package_of(rows, key)
    assert sorted(files) == ["checkpoint.intake.json", "events.intake.jsonl",
                             "manifest.json", "proofs.intake.json", "public_key.pem"]
    result = verify_files(files, trusted_key=key.public_key())
    assert result.ok, [str(p) for p in result.problems]
    assert "proofs.intake.json: 4 inclusion proofs hold" in result.checked

    events = files["events.intake.jsonl"]
    at = events.index(b"Submitted")
    altered = {**files, "events.intake.jsonl": events[:at] + b"s" + events[at + 1:]}
    where = {(p.file, p.line, p.stream_id, p.version)
             for p in verify_files(altered, trusted_key=key.public_key()).problems}
    assert ("events.intake.jsonl", 4, f"nomination-{NOMINATION}", 2) in where

    extra = {**files, "notes.txt": b"x", "logs": None}
    reasons = {(p.file, p.reason) for p in verify_files(extra).problems}
    assert reasons == {("logs", "not listed in the manifest"),
                       ("notes.txt", "not listed in the manifest")}

    gone = {n: c for n, c in files.items() if n != "proofs.intake.json"}
    reasons = {(p.file, p.reason) for p in verify_files(gone).problems}
    assert ("proofs.intake.json", "listed in the manifest but missing") in reasons
    assert ("proofs.intake.json",
            "unreadable proofs: no such file in the package") in reasons


def test_without_a_trusted_key_a_package_vouches_only_for_itself(
    rows: list[RawEvent], key: Ed25519PrivateKey
) -> None:
    files = package_of(rows, key)
    own = verify_files(files)
    assert own.ok and not own.key_pinned
    other = verify_files(files, trusted_key=Ed25519PrivateKey.generate().public_key())
    assert {p.file for p in other.problems} == {"manifest.json", "checkpoint.intake.json"}
    nothing = verify_files({})
    assert [str(p) for p in nothing.problems] == [
        "manifest.json: unreadable: no such file in the package",
        "public_key.pem: no usable public key: no such file in the package"]


def test_store_names_become_file_names_only_when_plain() -> None:
    assert store_names(["review", "intake"]) == ["intake", "review"]
    with pytest.raises(ValueError, match="'../x'"):
        store_names(["intake", "../x"])


# -- timeline, replay ----------------------------------------------------------------


def recorded(
    position: int, at: str, causation: str = "", event_id: str = ""
) -> RecordedEvent:
    return RecordedEvent(
        position,
        event_id or f"e{position}",
        "s",
        position,
        "T",
        1,
        {},
        {"causation_id": causation},
        at,
        "",
        "",
    )


def test_merge_is_deterministic_and_keeps_each_store_in_commit_order() -> None:
    a = [
        recorded(1, "2021-01-01T10:00:00.000000Z", event_id="a1"),
        recorded(2, "2021-01-01T09:00:00.000000Z", event_id="a2"),
    ]
    b = [
        recorded(1, "2021-01-01T09:30:00.000000Z", "a2", event_id="b1"),
        recorded(2, "2021-01-01T09:30:00.000000Z", event_id="b2"),
    ]
    c = [recorded(1, "2021-01-01T09:30:00.000000Z", event_id="c1")]
    order = [
        (e.store, e.event.event_id) for e in merge_timeline({"b": b, "a": a, "c": c})
    ]
    assert order == [("c", "c1"), ("a", "a1"), ("a", "a2"), ("b", "b1"), ("b", "b2")]
    assert order == [
        (e.store, e.event.event_id) for e in merge_timeline({"c": c, "a": a, "b": b})
    ]


def test_replay_names_each_differing_column_and_each_row_on_one_side() -> None:
    live = keyed([{"id": "a", "n": 1}, {"id": "b", "n": 2}], ["id"])
    rebuilt = keyed([{"id": "a", "n": 9}, {"id": "c", "n": 3}], ["id"])
    assert [str(d) for d in differences("p", "t", live, rebuilt)] == [
        "p.t key ('a',) column n: live 1, rebuilt 9",
        "p.t key ('b',): live {'id': 'b', 'n': 2}, rebuilt None",
        "p.t key ('c',): live None, rebuilt {'id': 'c', 'n': 3}",
    ]
    twice = keyed([{"x": 1}, {"x": 1}], [])
    assert differences("p", "t", twice, keyed([{"x": 1}], [])) == [
        differences("p", "t", {(1, 2): {"x": 1}}, {})[0]]
    assert names({"a": "h-1", "b": 2}, "h-1") and not names({"a": "h-10"}, "h-1")
