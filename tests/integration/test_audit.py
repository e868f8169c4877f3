"""Auditing, end to end on real stores (SQLite file and PostgreSQL alike).

Each test builds small stores, tampers with them the way an insider would
(raw SQL behind the store's back, one edited byte in an exported file) and
checks that the audit names exactly what was altered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    text,
)
from sqlalchemy.engine import make_url

from laurel.audit import (
    CHECKPOINT_STREAM,
    Checkpoint,
    CheckpointRefused,
    create_checkpoint,
    export_all,
    export_nomination,
    generate_key_file,
    load_projections,
    load_public_key,
    nomination_timeline,
    public_pem,
    recorded_checkpoints,
    replay_projections,
    verify_checkpoint,
    verify_package,
    verify_recorded_checkpoints,
    verify_stores,
)
from laurel.audit import cli as audit_cli
from laurel.envelope import Actor, EventMetadata, NewEvent, RecordedEvent, event_hash
from laurel.eventstore import EventStore

# The audit reads any hash-chained log: these stores hold events of the tests' making.
pytestmark = pytest.mark.any_events

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOMINATION = "a1b2c3d4-0000-4000-8000-000000000001"
OTHER = "ffffffff-0000-4000-8000-000000000002"


class Clock:
    """Settable time, so recorded_at is chosen by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, hour: int, minute: int) -> Clock:
        self.now = datetime(2021, 11, 10, hour, minute, tzinfo=UTC)
        return self


def meta(causation_id: str = "", actor: str = "u-1") -> EventMetadata:
    return EventMetadata(
        Actor(actor, "nominator", "hospital-1"), "corr-1", causation_id=causation_id
    )


@pytest.fixture
def fresh_url(database_url: str, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """More fresh databases on the same backend as `database_url`."""
    created: list[str] = []
    admin = None
    if not database_url.startswith("sqlite"):
        admin = create_engine(database_url, isolation_level="AUTOCOMMIT")

    def make(label: str) -> str:
        if admin is None:
            return f"sqlite:///{tmp_path / f'{label}.sqlite'}"
        name = f"laurel_audit_{label}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return (
            make_url(database_url)
            .set(database=name)
            .render_as_string(hide_password=False)
        )

    yield make
    if admin is not None:
        with admin.connect() as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "checkpoint.pem"
    generate_key_file(path)
    return path


@pytest.fixture
def key(key_file: Path):
    from laurel.audit import load_signing_key

    return load_signing_key(key_file)


def open_store(url: str, **options) -> EventStore:
    store = EventStore(url, **options)
    store.create_schema()
    return store


@pytest.fixture
def stores(database_url: str, fresh_url) -> Iterator[dict[str, EventStore]]:
    """Two services' stores: intake and notification, one nomination across both.

    The notification store's clock runs a minute behind intake's, so only
    causation (not recorded_at) can order the timeline correctly.
    """
    clock_a = Clock(datetime(2021, 11, 10, 9, 0, tzinfo=UTC))
    clock_b = Clock(datetime(2021, 11, 10, 9, 0, tzinfo=UTC))
    intake = open_store(database_url, clock=clock_a)
    notification = open_store(fresh_url("notification"), clock=clock_b)
    nom, other = f"nomination-{NOMINATION}", f"nomination-{OTHER}"
    drafted = intake.append(
        nom, 0, [NewEvent("Drafted", {"title": "河南省 ten"})], meta()
    )[0]
    intake.append(other, 0, [NewEvent("Drafted", {"title": "other"})], meta())
    clock_a.at(10, 0)
    submitted = intake.append(nom, 1, [NewEvent("Submitted", {"n": 1})], meta())[0]
    intake.append(
        "panel-1",
        0,
        [
            NewEvent("PanelFormed", {"panel": "p1"}),
            NewEvent("Assigned", {"nomination_id": NOMINATION, "reviewer": "r-1"}),
            NewEvent("Assigned", {"nomination_id": OTHER, "reviewer": "r-2"}),
        ],
        meta(),
    )
    clock_a.at(10, 5)
    endorsed = intake.append(
        nom, 2, [NewEvent("Endorsed", {"by": "c-1"})], meta(actor="c-1")
    )[0]
    intake.append(other, 1, [NewEvent("Submitted", {"n": 2})], meta())
    clock_b.at(9, 59)  # behind intake's clock, yet caused by Submitted at 10:00
    notification.append(
        f"notifications-{NOMINATION}",
        0,
        [NewEvent("ReceiptIssued", {"to": "u-1"})],
        meta(causation_id=submitted.event_id),
    )
    clock_b.at(10, 4)
    notification.append(
        f"notifications-{NOMINATION}",
        1,
        [NewEvent("EndorsementNoticeIssued", {"to": "u-1"})],
        meta(causation_id=endorsed.event_id),
    )
    notification.append(
        f"notifications-{OTHER}", 0, [NewEvent("ReceiptIssued", {"to": "u-2"})], meta()
    )
    assert drafted.position == 1
    yield {"intake": intake, "notification": notification}
    intake.close()
    notification.close()


def tamper(store: EventStore, sql: str, **params: object) -> None:
    """An insider's edit: raw SQL on the table, no store code involved."""
    with store.engine.begin() as conn:
        conn.execute(text(sql), params)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = audit_cli.main(["audit", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# -- live stores -----------------------------------------------------------------


def test_verify_names_the_stream_and_version_of_a_row_edited_behind_the_store(
    stores: dict[str, EventStore], capsys: pytest.CaptureFixture[str]
) -> None:
    intake = stores["intake"]
    databases = [f"{n}={s.url}" for n, s in stores.items()]
    code, out = run_cli(
        capsys, "verify", *sum([["--database", d] for d in databases], [])
    )
    assert code == 0, out
    assert "intake" in out and "ok" in out

    tamper(
        intake,
        "UPDATE events SET payload = :p WHERE stream_id = :s AND version = 2",
        p='{"n":2}',
        s=f"nomination-{NOMINATION}",
    )

    code, out = run_cli(
        capsys, "verify", *sum([["--database", d] for d in databases], [])
    )
    assert code == 1
    assert (
        f"first broken link: stream 'nomination-{NOMINATION}' version 2 (position 3)"
    ) in out
    assert "edited after commit" in out
    assert "notification" in out and verify_stores(stores)["notification"].ok


def test_a_log_rewritten_with_fresh_hashes_passes_the_chain_but_not_a_checkpoint(
    stores: dict[str, EventStore],
    key,
    key_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    intake = stores["intake"]
    create_checkpoint(intake, "intake", key)
    rehash_stream_after_edit(
        intake, f"nomination-{NOMINATION}", version=2, payload='{"n":99}'
    )
    assert intake.verify().ok  # the chain alone cannot see this rewrite

    problems = verify_recorded_checkpoints(intake, key.public_key())
    assert problems and "rewritten" in str(problems[0])
    code, out = run_cli(
        capsys,
        "verify",
        "--database",
        f"intake={intake.url}",
        "--public-key",
        str(key_file),
    )
    assert code == 1 and "the log was rewritten" in out


def rehash_stream_after_edit(
    store: EventStore, stream_id: str, *, version: int, payload: str
) -> None:
    """A careful forger: edit one event and recompute its stream's hashes."""
    with store.engine.begin() as conn:
        rows = (
            conn.execute(
                text("SELECT * FROM events WHERE stream_id = :s ORDER BY version"),
                {"s": stream_id},
            )
            .mappings()
            .all()
        )
        prev = "0" * 64
        for row in rows:
            body = payload if row["version"] == version else row["payload"]
            digest = event_hash(
                position=row["position"],
                event_id=row["event_id"],
                stream_id=row["stream_id"],
                version=row["version"],
                type=row["type"],
                schema_version=row["schema_version"],
                payload_json=body,
                metadata_json=row["metadata"],
                recorded_at=row["recorded_at"],
                prev_hash=prev,
            )
            conn.execute(
                text(
                    "UPDATE events SET payload = :p, prev_hash = :ph, hash = :h "
                    "WHERE position = :pos"
                ),
                {"p": body, "ph": prev, "h": digest, "pos": row["position"]},
            )
            prev = digest


def test_checkpoints_are_signed_recorded_and_cover_everything_before_them(
    stores: dict[str, EventStore],
    key,
) -> None:
    intake = stores["intake"]
    head = intake.last_position()
    checkpoint = create_checkpoint(intake, "intake", key)

    assert (checkpoint.up_to_position, checkpoint.event_count) == (head, head)
    assert verify_checkpoint(checkpoint, key.public_key()) is None
    [recorded] = recorded_checkpoints(intake)
    assert recorded == checkpoint
    assert intake.read_stream(CHECKPOINT_STREAM)[0].position == head + 1
    second = create_checkpoint(intake, "intake", key)
    assert second.up_to_position == head + 1  # it covers the first checkpoint
    assert intake.verify().ok
    assert verify_recorded_checkpoints(intake, key.public_key()) == []
    forged = Checkpoint(**{**checkpoint.__dict__, "merkle_root": "0" * 64})
    assert "signature" in verify_checkpoint(forged, key.public_key())


def test_a_broken_log_is_refused_a_checkpoint(stores, key) -> None:
    intake = stores["intake"]
    tamper(intake, "UPDATE events SET type = 'Forged' WHERE position = 2")
    with pytest.raises(CheckpointRefused, match="version 1 \\(position 2\\)"):
        create_checkpoint(intake, "intake", key)
    assert recorded_checkpoints(intake) == []


# -- evidence packages --------------------------------------------------------------


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_nomination_package_holds_its_whole_streams_and_verifies_offline(
    stores: dict[str, EventStore], key, tmp_path: Path
) -> None:
    out = tmp_path / "package"
    manifest = export_nomination(stores, NOMINATION, out, key)

    intake_lines = lines_of(out / "events.intake.jsonl")
    assert sorted({line["stream_id"] for line in intake_lines}) == [
        f"nomination-{NOMINATION}",
        "panel-1",
    ]
    assert [
        line["type"] for line in intake_lines if line["stream_id"] == "panel-1"
    ] == ["PanelFormed", "Assigned", "Assigned"]  # whole stream, so it chains
    assert [
        line["stream_id"] for line in lines_of(out / "events.notification.jsonl")
    ] == [f"notifications-{NOMINATION}"] * 2
    assert manifest["stores"] == {"intake": 6, "notification": 2}
    assert set(manifest["files"]) == {
        "events.intake.jsonl",
        "events.notification.jsonl",
        "checkpoint.intake.json",
        "checkpoint.notification.json",
        "proofs.intake.json",
        "proofs.notification.json",
        "public_key.pem",
    }
    assert isinstance(intake_lines[0]["payload"], str)  # stored text, not re-encoded

    result = verify_package(
        out,
        trusted_key=key.public_key(),
        published=recorded_checkpoints(stores["intake"]),
    )
    assert result.ok, [str(p) for p in result.problems]
    assert result.key_pinned
    assert any("6 inclusion proofs hold" in c for c in result.checked)
    assert any("root matches" in c for c in result.checked)


def test_one_altered_byte_in_an_events_file_is_named_by_file_line_stream_version(
    stores: dict[str, EventStore],
    key,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "package"
    export_nomination(stores, NOMINATION, out, key)
    events_file = out / "events.intake.jsonl"
    data = events_file.read_bytes()
    second_line_start = data.index(b"\n") + 1
    at = data.index(b"Submitted", second_line_start) + 1  # "Submitted" → "Sxbmitted"
    events_file.write_bytes(data[:at] + b"x" + data[at + 1 :])

    result = verify_package(out, trusted_key=key.public_key())

    assert not result.ok
    where = {(p.file, p.line, p.stream_id, p.version) for p in result.problems}
    assert ("events.intake.jsonl", 2, f"nomination-{NOMINATION}", 2) in where
    assert any(
        p.file == "events.intake.jsonl" and "manifest" in p.reason
        for p in result.problems
    )
    code, report = run_cli(capsys, "verify", "--package", str(out))
    assert code == 1
    assert (
        f"events.intake.jsonl line 2 stream 'nomination-{NOMINATION}' version 2"
    ) in report
    assert "NOT pinned" in report


def test_any_single_flipped_byte_anywhere_in_a_package_fails(
    stores: dict[str, EventStore], key, tmp_path: Path
) -> None:
    out = tmp_path / "package"
    export_nomination(stores, NOMINATION, out, key)
    trusted = key.public_key()
    for path in sorted(out.iterdir()):
        original = path.read_bytes()
        for at in range(0, len(original), max(1, len(original) // 12)):
            flipped = bytearray(original)
            flipped[at] ^= 0x01
            path.write_bytes(bytes(flipped))
            assert not verify_package(out, trusted_key=trusted).ok, (path.name, at)
        path.write_bytes(original)
    assert verify_package(out, trusted_key=trusted).ok


def test_an_altered_checkpoint_fails_its_signature(
    stores: dict[str, EventStore], key, tmp_path: Path
) -> None:
    out = tmp_path / "package"
    export_nomination(stores, NOMINATION, out, key)
    path = out / "checkpoint.notification.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["up_to_position"] -= 1
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")

    problems = verify_package(out, trusted_key=key.public_key()).problems

    reasons = {(p.file, p.reason) for p in problems}
    assert (
        "checkpoint.notification.json",
        "signature does not match the checkpoint's content",
    ) in reasons
    assert any(
        p.file == "checkpoint.notification.json" and "manifest" in p.reason
        for p in problems
    )


def test_an_altered_inclusion_proof_is_named_by_event(
    stores: dict[str, EventStore], key, tmp_path: Path
) -> None:
    out = tmp_path / "package"
    export_nomination(stores, NOMINATION, out, key)
    path = out / "proofs.intake.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    proof = data["proofs"][1]
    proof["path"][0] = ("0" if proof["path"][0][0] != "0" else "1") + proof["path"][0][
        1:
    ]
    path.write_text(json.dumps(data), encoding="utf-8")

    problems = verify_package(out, trusted_key=key.public_key()).problems

    [included] = [p for p in problems if "Merkle root" in p.reason]
    assert (included.file, included.line, included.position) == (
        "events.intake.jsonl",
        2,
        proof["position"],
    )


def test_a_package_signed_by_another_key_fails_against_the_trusted_one(
    stores: dict[str, EventStore], key, tmp_path: Path
) -> None:
    out = tmp_path / "package"
    forger = generate_key_file(tmp_path / "forger.pem")
    export_nomination(stores, NOMINATION, out, forger, record_checkpoints=False)

    assert verify_package(out).ok  # consistent with itself...
    problems = verify_package(out, trusted_key=key.public_key()).problems
    assert {p.file for p in problems} >= {"manifest.json", "checkpoint.intake.json"}
    assert all("not by the trusted key" in p.reason for p in problems)
    assert recorded_checkpoints(stores["intake"]) == []


def test_a_whole_store_package_checks_against_an_earlier_published_checkpoint(
    stores: dict[str, EventStore], key, tmp_path: Path
) -> None:
    intake = stores["intake"]
    published = create_checkpoint(intake, "intake", key)
    intake.append(f"nomination-{OTHER}", None, [NewEvent("Withdrawn", {})], meta())
    out = tmp_path / "all"
    manifest = export_all(stores, out, key)
    assert manifest["scope"] == {"kind": "all"}
    assert not (out / "proofs.intake.json").exists()

    result = verify_package(out, trusted_key=key.public_key(), published=[published])
    assert result.ok, [str(p) for p in result.problems]
    assert any(
        f"up to {published.up_to_position}: root matches" in c for c in result.checked
    )

    wrong = Checkpoint(**{**published.__dict__, "merkle_root": "1" * 64})
    problems = verify_package(
        out, trusted_key=key.public_key(), published=[wrong]
    ).problems
    assert any("published checkpoint" in str(p) for p in problems)


def test_a_deleted_line_in_a_whole_store_package_breaks_positions(
    stores: dict[str, EventStore], key, tmp_path: Path
) -> None:
    out = tmp_path / "all"
    export_all(stores, out, key)
    path = out / "events.intake.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2] + lines[3:]))

    problems = verify_package(out, trusted_key=key.public_key()).problems

    assert any(
        p.line == 3 and p.position == 4 and "follows" in p.reason for p in problems
    ), [str(p) for p in problems]


def test_cli_exports_and_a_separate_process_verifies_offline(
    stores: dict[str, EventStore],
    key_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "cli-package"
    databases = sum([["--database", f"{n}={s.url}"] for n, s in stores.items()], [])
    code, report = run_cli(
        capsys,
        "export",
        "--nomination",
        NOMINATION,
        "--out",
        str(out),
        "--key",
        str(key_file),
        *databases,
    )
    assert code == 0, report
    public = tmp_path / "trusted.pem"
    public.write_bytes(public_pem(load_public_key(key_file.read_bytes())))
    for store in stores.values():
        store.close()  # no database in use: the check is offline

    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}
    verify = [
        sys.executable,
        "-m",
        "laurel.audit.cli",
        "audit",
        "verify",
        "--package",
        str(out),
        "--public-key",
        str(public),
    ]
    done = subprocess.run(
        verify, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok" in done.stdout and "pinned" in done.stdout

    path = out / "events.notification.jsonl"
    data = bytearray(path.read_bytes())
    data[data.index(b"u-1")] = ord("v")
    path.write_bytes(bytes(data))
    done = subprocess.run(
        verify, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 1
    assert "events.notification.jsonl line 1" in done.stdout


def test_cli_checkpoint_and_keygen(
    stores: dict[str, EventStore],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_path = tmp_path / "dev.pem"
    code, _ = run_cli(capsys, "keygen", "--out", str(key_path))
    assert code == 0 and key_path.stat().st_mode & 0o077 == 0
    monkeypatch.setenv("LAUREL_CHECKPOINT_KEY_FILE", str(key_path))
    code, out = run_cli(
        capsys, "checkpoint", "--database", f"intake={stores['intake'].url}"
    )
    assert code == 0, out
    printed = Checkpoint.from_dict(json.loads(out.splitlines()[0]))
    assert recorded_checkpoints(stores["intake"]) == [printed]
    monkeypatch.delenv("LAUREL_CHECKPOINT_KEY_FILE")
    code, out = run_cli(
        capsys, "checkpoint", "--database", f"intake={stores['intake'].url}"
    )
    assert code == 2 and "LAUREL_CHECKPOINT_KEY_FILE" in out


# -- timeline ----------------------------------------------------------------------


def test_timeline_puts_effects_after_causes_across_stores_despite_clocks(
    stores: dict[str, EventStore], capsys: pytest.CaptureFixture[str]
) -> None:
    timeline = nomination_timeline(stores, NOMINATION)

    assert [(e.store, e.event.type) for e in timeline] == [
        ("intake", "Drafted"),
        ("intake", "Submitted"),
        ("notification", "ReceiptIssued"),  # recorded 09:59, caused at 10:00
        ("intake", "PanelFormed"),
        ("intake", "Assigned"),
        ("intake", "Assigned"),
        ("intake", "Endorsed"),  # 10:05
        ("notification", "EndorsementNoticeIssued"),  # at 10:04, caused at 10:05
    ]
    assert timeline[2].caused_by == "intake:3"
    assert timeline[7].caused_by == "intake:7"
    as_of = nomination_timeline(
        stores, NOMINATION, as_of=datetime(2021, 11, 10, 10, 1, tzinfo=UTC)
    )
    assert [e.event.type for e in as_of][-1] == "Assigned"
    assert "Endorsed" not in [e.event.type for e in as_of]

    databases = sum([["--database", f"{n}={s.url}"] for n, s in stores.items()], [])
    code, out = run_cli(capsys, "timeline", "--nomination", NOMINATION, *databases)
    assert code == 0
    assert out.splitlines()[2].split()[1:3] == [
        "notification:1",
        f"notifications-{NOMINATION}",
    ]
    assert "← intake:3" in out.splitlines()[2]


def test_as_of_reads_the_campaign_clock_and_recorded_as_of_the_wall_clock(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The campaign runs on its own clock (2021) while its events are
    recorded now: `--as-of` asks the campaign clock, `--recorded-as-of`
    the wall clock, as README's audit examples do."""
    recorded = Clock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    intake = open_store(database_url, clock=recorded)
    stream = f"nomination-{NOMINATION}"
    for version, (kind, campaign_time) in enumerate(
            [("Submitted", "2021-11-10T10:00:00+08:00"),
             ("Endorsed", "2021-11-26T10:00:00+08:00")]):
        recorded.now += timedelta(hours=1)
        intake.append(stream, version, [NewEvent(kind, {"nomination_id": NOMINATION})],
                      replace(meta(), campaign_time=campaign_time))
    stores = {"intake": intake}

    def seen(**cut: datetime) -> list[str]:
        return [e.event.type for e in nomination_timeline(stores, NOMINATION, **cut)]

    assert seen(as_of=datetime.fromisoformat("2021-11-10T10:30:00+08:00")) == ["Submitted"]
    assert seen(as_of=datetime.fromisoformat("2021-12-01T00:00:00+08:00")) == [
        "Submitted", "Endorsed"]
    assert seen(as_of=datetime.fromisoformat("2021-11-01T00:00:00+08:00")) == []
    assert seen(recorded_as_of=datetime(2026, 12, 7, 10, 30, tzinfo=UTC)) == ["Submitted"]
    assert seen(recorded_as_of=datetime(2021, 12, 1, tzinfo=UTC)) == []

    database = ["--database", f"intake={intake.url}"]
    code, out = run_cli(capsys, "timeline", "--nomination", NOMINATION,
                        "--as-of", "2021-11-10T10:30:00+08:00", *database)
    assert code == 0 and "Submitted" in out and "Endorsed" not in out
    code, out = run_cli(capsys, "timeline", "--nomination", NOMINATION,
                        "--recorded-as-of", "2026-12-07T11:30:00+00:00", *database)
    assert code == 0 and "Submitted" in out and "Endorsed" in out


# -- replay ------------------------------------------------------------------------


class StreamHeads:
    """A tiny projection: each stream's version and last event type."""

    name = "stream_heads"

    def __init__(self) -> None:
        self.metadata = MetaData()
        self.table = Table(
            "audit_test_stream_heads",
            self.metadata,
            Column("stream_id", String(200), primary_key=True),
            Column("version", Integer, nullable=False),
            Column("last_type", String(200), nullable=False),
        )

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        values = {"version": event.version, "last_type": event.type}
        updated = conn.execute(
            self.table.update()
            .where(self.table.c.stream_id == event.stream_id)
            .values(**values)
        )
        if updated.rowcount == 0:
            conn.execute(self.table.insert(), {"stream_id": event.stream_id, **values})


def test_replay_matches_live_and_reports_a_corrupted_row(
    database_url: str,
    fresh_url,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    projection = StreamHeads()
    store = open_store(database_url, projections=[projection])
    store.append(
        "nomination-a", 0, [NewEvent("Drafted", {}), NewEvent("Submitted", {})], meta()
    )
    store.append("nomination-b", 0, [NewEvent("Drafted", {})], meta())

    assert replay_projections(store, [StreamHeads()], fresh_url("scratch1")) == []

    tamper(
        store,
        "UPDATE audit_test_stream_heads SET last_type = 'Endorsed' "
        "WHERE stream_id = 'nomination-a'",
    )
    tamper(
        store, "DELETE FROM audit_test_stream_heads WHERE stream_id = 'nomination-b'"
    )
    differences = replay_projections(store, [StreamHeads()], fresh_url("scratch2"))

    assert [
        (d.table, d.primary_key, d.column, d.live, d.rebuilt) for d in differences
    ] == [
        (
            "audit_test_stream_heads",
            ("nomination-a",),
            "last_type",
            "Endorsed",
            "Submitted",
        ),
        (
            "audit_test_stream_heads",
            ("nomination-b",),
            None,
            None,
            {"stream_id": "nomination-b", "version": 1, "last_type": "Drafted"},
        ),
    ]
    with pytest.raises(ValueError, match="live"):
        replay_projections(store, [StreamHeads()], store.url)

    module = types.ModuleType("laurel_audit_test_projections")
    module.heads = StreamHeads
    monkeypatch.setitem(sys.modules, module.__name__, module)
    code, out = run_cli(
        capsys,
        "replay",
        "--database",
        f"intake={store.url}",
        "--projection",
        f"intake={module.__name__}:heads",
        "--scratch",
        f"intake={fresh_url('scratch3')}",
    )
    assert code == 1
    assert "DIFFERS" in out and "key ('nomination-a',) column last_type" in out
    store.close()


def test_replay_of_intakes_own_projections_matches_live(
    database_url: str, fresh_url, capsys: pytest.CaptureFixture[str]
) -> None:
    """The service's read models, rebuilt from its log, equal the live ones.

    Events come from intake's own domain functions, and the CLI finds the
    projections through the `laurel.projections` entry point intake declares.
    """
    from laurel.intake.domain import organizations as orgs

    store = open_store(database_url, projections=load_projections("intake"))
    known: dict = {}
    for candidate in (
        orgs.Organization("c1", "commission", "郑州市卫生健康委员会"),
        orgs.Organization("h1", "hospital", "郑州大学第一附属医院", "c1", "c1"),
    ):
        events = orgs.register_organization(None, candidate, known)
        store.append(orgs.stream_id(candidate.organization_id), 0, events, meta())
        known[candidate.organization_id] = candidate

    assert (
        replay_projections(store, load_projections("intake"), fresh_url("intake_scratch"))
        == []
    )
    code, out = run_cli(
        capsys,
        "replay",
        "--database",
        f"intake={store.url}",
        "--scratch",
        f"intake={fresh_url('intake_scratch2')}",
    )
    assert code == 0 and "intake: intake: matches" in out, out
    store.close()


def test_untouched_nomination_streams_are_not_in_the_package_of_another(
    stores: dict[str, EventStore], key, tmp_path: Path
) -> None:
    out = tmp_path / "other"
    export_nomination(stores, OTHER, out, key)
    streams = {line["stream_id"] for line in lines_of(out / "events.intake.jsonl")}
    assert streams == {f"nomination-{OTHER}", "panel-1"}
    assert verify_package(out, trusted_key=key.public_key()).ok
    with pytest.raises(FileExistsError):
        export_nomination(stores, OTHER, out, key)


def test_timeline_of_a_nomination_without_events_is_empty(stores) -> None:
    assert nomination_timeline(stores, "no-such-nomination") == []
