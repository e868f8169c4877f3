"""The golden event fixtures, for producers' and consumers' tests.

`tests/fixtures/events/<service>/<Type>.v<N>.json` holds one event of each
type and schema version as it travels (the whole envelope, hash included,
chained from the genesis hash). A producer's tests check that each fixture
matches its contract and that its real builders produce the same shape; each
consumer's tests apply every fixture of its upstreams through its reactions.
Fixtures are golden: change one only together with its contract.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from laurel.envelope import GENESIS_HASH, RecordedEvent, canonical_json, event_hash

# The repository's fixtures (a source checkout: tests only).
FIXTURES_DIR = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "events"
_NAMESPACE = uuid.UUID("0b6f6f8e-1c1e-4f3a-9a55-6c6f6e747261")


def path_of(service: str, event_type: str, version: int) -> Path:
    return FIXTURES_DIR / service / f"{event_type}.v{version}.json"


def load(service: str, event_type: str, version: int) -> RecordedEvent:
    return RecordedEvent.from_dict(json.loads(path_of(service, event_type, version)
                                              .read_text("utf-8")))


def all_fixtures(service: str | None = None) -> Iterator[tuple[str, RecordedEvent]]:
    """(service, event) for every fixture, in a stable order."""
    for path in sorted(FIXTURES_DIR.glob(f"{service or '*'}/*.json")):
        yield path.parent.name, RecordedEvent.from_dict(json.loads(path.read_text("utf-8")))


def envelope(service: str, event_type: str, version: int, payload: Mapping[str, Any],
             stream_id: str, actor: Mapping[str, str]) -> dict[str, Any]:
    """A fixture's envelope: position 1 of its stream, a derived event id, a
    fixed time, hashed as the store hashes it."""
    event_id = str(uuid.uuid5(_NAMESPACE, f"{service}/{event_type}/v{version}"))
    metadata = {"actor": dict(actor), "causation_id": "", "trace": {},
                "correlation_id": str(uuid.uuid5(_NAMESPACE, f"corr/{event_type}"))}
    recorded_at = "2021-12-01T08:00:00.000000Z"
    digest = event_hash(
        position=1, event_id=event_id, stream_id=stream_id, version=1, type=event_type,
        schema_version=version, payload_json=canonical_json(dict(payload)),
        metadata_json=canonical_json(metadata), recorded_at=recorded_at,
        prev_hash=GENESIS_HASH)
    return {"position": 1, "event_id": event_id, "stream_id": stream_id, "version": 1,
            "type": event_type, "schema_version": version, "payload": dict(payload),
            "metadata": metadata, "recorded_at": recorded_at, "prev_hash": GENESIS_HASH,
            "hash": digest}


def write(service: str, event: Mapping[str, Any]) -> Path:
    path = path_of(service, event["type"], event["schema_version"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                    "utf-8")
    return path
