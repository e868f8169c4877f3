"""The auditors' use cases, over every service's store: each reads what it
needs (`adapters.event_logs`, the store's tool API), lets the domain decide,
and, for checkpoints only, records what was signed in the store it covers.

The AuditService (adapters/grpc_servicer.py), the `laurel audit` commands
(cli.py) and the periodic checkpoint pass (bootstrap.py) all stand on these
functions; `stores` maps a store's name to its open EventStore.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from laurel.audit.adapters import event_logs, scratch
from laurel.audit.adapters.package_folder import fresh_folder, read_package, write_package
from laurel.audit.domain.checkpoints import (
    CHECKPOINT_STREAM,
    Checkpoint,
    CheckpointRefused,
    checkpoint_of,
    checkpoint_problems,
    checkpoints_in,
    is_checkpoint,
    recording,
    unrecorded_published,
)
from laurel.audit.domain.completeness import Account, account
from laurel.audit.domain.merkle import MerkleTree
from laurel.audit.domain.package import Package, sealed, store_files, store_names
from laurel.audit.domain.replay import Difference, StateAsOf
from laurel.audit.domain.selection import (
    campaign_nomination_ids,
    campaign_stream_ids,
    nomination_stream_ids,
)
from laurel.audit.domain.timeline import TimelineEntry, merge_timeline
from laurel.audit.domain.verification import VerificationResult, verify_files
from laurel.catchup import UPSTREAMS
from laurel.chain import ChainReport
from laurel.envelope import RecordedEvent, format_time, parse_time, utcnow
from laurel.eventstore import EventStore, Projection

log = logging.getLogger("laurel.audit")
Stores = Mapping[str, EventStore]
Clock = Callable[[], datetime]

# -- history -------------------------------------------------------------------


def nomination_timeline(
    stores: Stores, nomination_id: str, *, as_of: datetime | None = None,
    recorded_as_of: datetime | None = None,
) -> list[TimelineEntry]:
    """Every store's events of the nomination, causally merged: up to
    `as_of` on the campaign clock (an event's campaign time, else when it
    was recorded) and up to `recorded_as_of` on the wall clock."""
    collected = {}
    for name, store in stores.items():
        streams = sorted(nomination_stream_ids(event_logs.rows(store), nomination_id))
        collected[name] = sorted(
            (e for s in streams for e in store.read_stream(s, as_of=recorded_as_of)
             if as_of is None or counts_by(e, as_of)),
            key=lambda e: e.position,
        )
    return merge_timeline(collected)


def counts_by(event: RecordedEvent, moment: datetime) -> bool:
    """Whether `event` counts by `moment` on the campaign clock: its campaign
    time when it has one, else the time it was recorded."""
    campaign_time = event.metadata.get("campaign_time")
    counted = (datetime.fromisoformat(campaign_time) if campaign_time
               else parse_time(event.recorded_at))
    return counted <= moment


def state_as_of(
    stores: Stores,
    subject_id: str,
    as_of: datetime,
    projections_of: Callable[[str], Sequence[Projection]],
) -> StateAsOf:
    """Rows naming `subject_id` in every store's projections as of `as_of`,
    rebuilt from the events recorded by then into scratch files.

    `projections_of(store_name)` gives fresh projection objects, or raises
    (any exception) when a store's service declares none: that store is then
    reported in `unavailable` instead of failing the whole answer.
    """
    result = StateAsOf([], {})
    with tempfile.TemporaryDirectory(prefix="laurel-as-of-") as tmp:
        for name, store in sorted(stores.items()):
            try:
                projections = list(projections_of(name))
            except Exception as error:  # noqa: BLE001 — reported, not raised
                result.unavailable[name] = str(error)
                continue
            target = EventStore(f"sqlite:///{Path(tmp) / f'{name}.sqlite'}")
            try:
                scratch.rebuild_until(store, projections, target, format_time(as_of))
                result.rows.extend(scratch.rows_naming(name, projections, target, subject_id))
            finally:
                target.close()
    return result


# -- verification --------------------------------------------------------------


def verify_stores(stores: Stores) -> dict[str, ChainReport]:
    """Every stream's chain and the global positions of each live store."""
    return {name: store.verify() for name, store in stores.items()}


def verify_store(
    store: EventStore, public_key: Ed25519PublicKey | None
) -> tuple[ChainReport, list[str]]:
    """A store's chains and positions, and, given the signer's key, what its
    recorded checkpoints say about its rows now."""
    report = store.verify()
    if public_key is None:
        return report, []
    return report, verify_recorded_checkpoints(store, public_key)


def verify_recorded_checkpoints(store: EventStore, public_key: Ed25519PublicKey) -> list[str]:
    """Each checkpoint the store recorded, against the store's rows now."""
    return checkpoint_problems(recorded_checkpoints(store), event_logs.rows(store), public_key)


def completeness(stores: Stores, through: Mapping[str, int] | None = None
                 ) -> list[Account]:
    """For each consumer among `stores` and each upstream of it among them:
    every event the upstream published up to a position (`through[upstream]`,
    default its last published one) applied or ignored by the consumer, or
    named as missing."""
    accounts = []
    for consumer, upstreams in UPSTREAMS.items():
        if consumer not in stores:
            continue
        for upstream in upstreams:
            if upstream not in stores:
                continue
            limits = through or {}
            last = (limits[upstream] if upstream in limits
                    else event_logs.published_head(stores[upstream]))
            outcomes, marked = event_logs.consumed(stores[consumer], consumer, upstream)
            accounts.append(account(consumer, upstream, last,
                                    event_logs.published(stores[upstream], last),
                                    outcomes, marked))
    return accounts


def verify_against_published(store: EventStore, store_name: str,
                             published: Sequence[Checkpoint],
                             public_key: Ed25519PublicKey | None) -> list[str]:
    """A store against checkpoints published earlier for it (others are
    skipped): each must still match the store's rows (root, length,
    signature given the key) and still be recorded in it (a cut tail)."""
    mine = [c for c in published if c.store_name == store_name]
    if not mine:
        return []
    problems = checkpoint_problems(mine, event_logs.rows(store), public_key)
    return problems + unrecorded_published(mine, recorded_checkpoints(store),
                                           store.last_position())


def verify_package(
    directory: Path,
    *,
    trusted_key: Ed25519PublicKey | None = None,
    published: Sequence[Checkpoint] = (),
) -> VerificationResult:
    """An exported package folder, checked offline (see domain.verification)."""
    return verify_files(read_package(directory), trusted_key=trusted_key, published=published)


# -- checkpoints ---------------------------------------------------------------


def recorded_checkpoints(store: EventStore) -> list[Checkpoint]:
    """Every checkpoint the store has recorded, oldest first."""
    return checkpoints_in(store.read_stream(CHECKPOINT_STREAM))


def last_checkpoint_time(store: EventStore) -> datetime | None:
    """When the store's last checkpoint was recorded (None: never)."""
    version = store.stream_version(CHECKPOINT_STREAM)
    if not version:
        return None
    last = store.read_stream(CHECKPOINT_STREAM, from_version=version)[-1]
    return parse_time(last.recorded_at)


def create_checkpoint(
    store: EventStore,
    store_name: str,
    key: Ed25519PrivateKey,
    *,
    up_to_position: int | None = None,
    record: bool = True,
    clock: Clock = utcnow,
) -> Checkpoint:
    """Sign the root of positions 1..N (default: the head) and record it after
    N. A broken log is refused; `record=False` signs without writing (a
    read-only replica, or a package handed out over the API)."""
    last = store.last_position() if up_to_position is None else up_to_position
    checkpoint = checkpoint_of(
        event_logs.rows(store, last), store_name, last, format_time(clock()), key
    )
    if record:
        stream, events, metadata = recording(checkpoint)
        store.run(lambda uow: uow.append(stream, events, metadata))
    return checkpoint


def checkpoint_due(store: EventStore) -> bool:
    """New events since the last checkpoint (which is itself the head)."""
    last = event_logs.head(store)
    return last is not None and not is_checkpoint(last)


def checkpoint_pass(stores: Stores, key: Ed25519PrivateKey) -> list[str]:
    """One round of periodic checkpoints: each store with new events is signed;
    a broken store is logged, not signed. Returns the stores signed."""
    signed = []
    for name, store in sorted(stores.items()):
        try:
            if checkpoint_due(store):
                checkpoint = create_checkpoint(store, name, key)
                signed.append(name)
                log.info(
                    "checkpoint %s up to %s root %s",
                    name,
                    checkpoint.up_to_position,
                    checkpoint.merkle_root,
                )
        except CheckpointRefused as error:
            log.error("checkpoint refused: %s", error)
    return signed


# -- evidence packages ---------------------------------------------------------


def package_nomination(
    stores: Stores, nomination_id: str, key: Ed25519PrivateKey, *, record_checkpoints: bool
) -> Package:
    """One nomination's whole streams from every store, proved into a fresh
    checkpoint of each."""

    def select(store: EventStore, last: int) -> set[str]:
        return nomination_stream_ids(event_logs.rows(store, last), nomination_id)

    return _package_streams(stores, select, {"kind": "nomination",
                                             "nomination_id": nomination_id},
                            key, record_checkpoints)


def package_campaign(
    stores: Stores, campaign_id: str, key: Ed25519PrivateKey, *, record_checkpoints: bool
) -> Package:
    """A campaign's streams and all its nominations', from every store."""
    nominations: set[str] = set()
    for store in stores.values():
        nominations |= campaign_nomination_ids(event_logs.rows(store), campaign_id)

    def select(store: EventStore, last: int) -> set[str]:
        return campaign_stream_ids(event_logs.rows(store, last), campaign_id, nominations)

    return _package_streams(stores, select, {"kind": "campaign", "campaign_id": campaign_id},
                            key, record_checkpoints)


def package_all(stores: Stores, key: Ed25519PrivateKey, *, record_checkpoints: bool) -> Package:
    """Every event of every store up to a fresh checkpoint of each."""
    files: dict[str, bytes] = {}
    counts = {}
    for name in store_names(stores):
        store = stores[name]
        checkpoint = create_checkpoint(store, name, key, record=record_checkpoints)
        rows = list(event_logs.rows(store, checkpoint.up_to_position))
        files |= store_files(name, checkpoint, rows)
        counts[name] = len(rows)
    return sealed(files, key, {"kind": "all"}, counts, format_time(utcnow()))


def export_nomination(
    stores: Stores, nomination_id: str, out_dir: Path, key: Ed25519PrivateKey, *,
    record_checkpoints: bool = True,
) -> dict[str, Any]:
    """Write one nomination's package into an empty folder; its manifest."""
    return _export(stores, out_dir, lambda: package_nomination(
        stores, nomination_id, key, record_checkpoints=record_checkpoints))


def export_campaign(
    stores: Stores, campaign_id: str, out_dir: Path, key: Ed25519PrivateKey, *,
    record_checkpoints: bool = True,
) -> dict[str, Any]:
    """Write a campaign's package into an empty folder; its manifest."""
    return _export(stores, out_dir, lambda: package_campaign(
        stores, campaign_id, key, record_checkpoints=record_checkpoints))


def export_all(
    stores: Stores, out_dir: Path, key: Ed25519PrivateKey, *, record_checkpoints: bool = True
) -> dict[str, Any]:
    """Write a whole-store package into an empty folder; its manifest."""
    return _export(stores, out_dir, lambda: package_all(
        stores, key, record_checkpoints=record_checkpoints))


def _export(stores: Stores, out_dir: Path, package: Callable[[], Package]) -> dict[str, Any]:
    """Refuse a bad store name or a used folder before anything is signed or
    recorded; then package and write."""
    store_names(stores)
    folder = fresh_folder(out_dir)
    made = package()
    write_package(folder, made.files)
    return made.manifest


def _package_streams(
    stores: Stores,
    select: Callable[[EventStore, int], set[str]],
    scope: dict[str, str],
    key: Ed25519PrivateKey,
    record_checkpoints: bool,
) -> Package:
    """Whole selected streams of each store, proved into a fresh checkpoint."""
    files: dict[str, bytes] = {}
    counts = {}
    for name in store_names(stores):
        store = stores[name]
        checkpoint = create_checkpoint(store, name, key, record=record_checkpoints)
        last = checkpoint.up_to_position
        rows = event_logs.streams_raw(store, select(store, last), last)
        tree = MerkleTree(event_logs.hashes(store, last))
        files |= store_files(name, checkpoint, rows, tree)
        counts[name] = len(rows)
    return sealed(files, key, scope, counts, format_time(utcnow()))


# -- replay ----------------------------------------------------------------------


def replay_projections(
    store: EventStore, projections: Sequence[Projection], scratch_url: str
) -> list[Difference]:
    """Rebuild each projection into `scratch_url` and diff it with the live one."""
    return scratch.replay_projections(store, projections, scratch_url)
