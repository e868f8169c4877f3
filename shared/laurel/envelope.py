"""The event envelope every Laurel service stores and publishes.

An event is written once and read for years, by services and by auditors who
do not trust the services. So the envelope is plain data with one canonical
byte encoding, and each stored event carries a SHA-256 hash over that encoding
chained to the previous event of its stream: editing any stored field breaks
the chain at exactly that event.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import orjson

S = TypeVar("S")

GENESIS_HASH = "0" * 64
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


_CANONICAL_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces, UTF-8 kept as is.

    The encoder is built once (json.dumps with these options builds the same
    one on every call, a third of the cost of hashing an event); it keeps no
    state between calls, so the text is byte for byte what json.dumps gives.
    """
    return _CANONICAL_ENCODER.encode(value)


def format_time(moment: datetime) -> str:
    """Fixed-width UTC text, so stored times sort and compare as strings."""
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


# TIME_FORMAT as format_time writes it (ASCII digits only), which
# datetime.fromisoformat reads to the same moment as strptime.
_FORMATTED_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                             r"\.[0-9]{6}Z")


def parse_time(text: str) -> datetime:
    """The moment `format_time` wrote as `text`.

    strptime was a quarter of a nomination fold's time (each submission
    and endorsement reads its time); text in format_time's own shape goes
    through fromisoformat, anything else (and any text it refuses) through
    strptime as before, so the same texts parse, to the same moments, and
    the same are refused."""
    if _FORMATTED_TIME.fullmatch(text):
        try:
            return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Actor:
    """Who acts, in which role, for which organization."""

    id: str
    role: str
    organization_id: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "role": self.role, "organization_id": self.organization_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Actor:
        return cls(data["id"], data["role"], data.get("organization_id", ""))


SYSTEM_ACTOR = Actor(id="system", role="system")


@dataclass(frozen=True)
class EventMetadata:
    """Why an event exists: who caused it, in answer to what, in which trace,
    and — for an event in a campaign — the campaign time it counts at.

    Two times, then: `recorded_at` (the store's wall clock, for the audit)
    and `campaign_time` (ISO 8601 with its offset, from the campaign's clock:
    when the act counts for the campaign's stages and as-of questions).
    Metadata written before campaign times existed has none, and an event in
    no campaign has none: the key is left out rather than empty, so those
    events' stored text, and so their hashes, are what they always were.
    """

    actor: Actor
    correlation_id: str
    causation_id: str = ""
    trace: dict[str, str] = field(default_factory=dict)
    campaign_time: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = {
            "actor": self.actor.to_dict(),
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "trace": dict(self.trace),
        }
        if self.campaign_time:
            data["campaign_time"] = self.campaign_time
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventMetadata:
        return cls(
            actor=Actor.from_dict(data["actor"]),
            correlation_id=data.get("correlation_id", ""),
            causation_id=data.get("causation_id", ""),
            trace=dict(data.get("trace", {})),
            campaign_time=data.get("campaign_time", ""),
        )


@dataclass(frozen=True)
class Caller:
    """Who asked for a command, and in answer to what: travels on the command.

    The gRPC edge builds it from the verified token and the correlation
    header; a reaction builds it from the event it reacts to. Handlers turn
    it into the metadata of the events they append (`metadata`)."""

    actor: Actor
    correlation_id: str
    causation_id: str = ""

    def metadata(self, trace: dict[str, str], causation_id: str = "",
                 campaign_time: str = "") -> EventMetadata:
        return EventMetadata(self.actor, self.correlation_id,
                             causation_id or self.causation_id, dict(trace), campaign_time)


@dataclass(frozen=True)
class NewEvent:
    """An event decided by a domain function, not yet stored."""

    type: str
    payload: dict[str, Any]
    schema_version: int = 1
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: immutable, positioned, hashed."""

    position: int
    event_id: str
    stream_id: str
    version: int
    type: str
    schema_version: int
    payload: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: str
    prev_hash: str
    hash: str

    @property
    def recorded_at_time(self) -> datetime:
        return parse_time(self.recorded_at)

    @property
    def actor(self) -> Actor:
        return Actor.from_dict(self.metadata["actor"])

    @property
    def campaign_time(self) -> datetime:
        """When the event counts for its campaign: the campaign time in its
        metadata, else (no campaign, or written before campaign times) when
        it was recorded, the campaign's clock being the wall clock then."""
        stamped = self.metadata.get("campaign_time")
        return datetime.fromisoformat(stamped) if stamped else self.recorded_at_time

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "event_id": self.event_id,
            "stream_id": self.stream_id,
            "version": self.version,
            "type": self.type,
            "schema_version": self.schema_version,
            "payload": self.payload,
            "metadata": self.metadata,
            "recorded_at": self.recorded_at,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecordedEvent:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def counted_by(events: list[RecordedEvent], moment: datetime) -> list[RecordedEvent]:
    """The events of one stream, oldest first, that count by campaign time
    `moment`: the longest run from the start whose campaign times are not
    after it (a campaign clock moved back in development can put a later
    event at an earlier campaign time; the stream's order still rules)."""
    counted = []
    for event in events:
        if event.campaign_time > moment:
            break
        counted.append(event)
    return counted


def event_hash(
    *,
    position: int,
    event_id: str,
    stream_id: str,
    version: int,
    type: str,
    schema_version: int,
    payload_json: str,
    metadata_json: str,
    recorded_at: str,
    prev_hash: str,
) -> str:
    """SHA-256 over the canonical encoding of every stored field but the hash.

    Payload and metadata enter as their stored canonical text, so the hash can
    be recomputed from a raw row (or an exported line) without re-encoding.
    """
    return hash_fields([position, event_id, stream_id, version, type, schema_version,
                        payload_json, metadata_json, recorded_at, prev_hash])


def hash_fields(fields: list[Any]) -> str:
    """`event_hash` of the stored fields in column order (hash excluded).

    The material is canonical_json of the list. orjson writes the same bytes
    for a list of integers and strings (every code point, checked by
    tests/unit/test_envelope_hash.py) in a fraction of the time (the JSON
    of a verify, escaping the payload's text, was most of its cost); what
    it refuses (an integer beyond 64 bits, a lone surrogate) goes the
    canonical_json way, which encodes or raises exactly as before.
    """
    try:
        material = orjson.dumps(fields)
    except TypeError:
        material = canonical_json(fields).encode("utf-8")
    return hashlib.sha256(material).hexdigest()


@dataclass(frozen=True)
class Aggregate(Generic[S]):
    """How a stream folds into state: `evolve(state, event)` for each event
    in order, from None. `name` keys the fold cache of the unit of work (two
    aggregates may fold the same stream differently). States must be
    immutable: the cache hands the same object to every thread. Pure, so a
    service's domain declares its aggregates here."""

    name: str
    evolve: Callable[[S | None, RecordedEvent], S | None]


def state_updater(cls: type[S]) -> Callable[[S, Mapping[str, Any]], S]:
    """`dataclasses.replace(state, **changes)` for a fold's state class, cheaply.

    A fold copies its state once per event. replace gathers every field into
    keyword arguments and calls __init__, which for a frozen dataclass sets
    each field through object.__setattr__: most of a fold's cost, profiled.
    The update here fills a new instance's __dict__ at once, from the old
    state's and then the changes: the same fields in the same order, equal,
    still frozen, and the old state untouched (the fold cache shares states
    between threads). So that nothing replace does is skipped, the class is
    checked once: a frozen dataclass with a __dict__, every field set by
    __init__, no __post_init__; and a change naming no field is refused as
    replace refuses it."""
    params = getattr(cls, "__dataclass_params__", None)
    if not (is_dataclass(cls) and params is not None and params.frozen) or (
        "__slots__" in vars(cls) or hasattr(cls, "__post_init__")
        or not all(f.init for f in fields(cls))
    ):
        raise TypeError(f"{cls.__name__}: a state_updater needs a frozen dataclass with "
                        "a __dict__, every field in __init__ and no __post_init__")
    names = frozenset(f.name for f in fields(cls))
    new_instance = object.__new__

    def update(state: S, changes: Mapping[str, Any]) -> S:
        if not changes.keys() <= names:
            raise TypeError(f"{cls.__name__} has no field(s) "
                            f"{', '.join(sorted(changes.keys() - names))}")
        updated = new_instance(cls)
        values = updated.__dict__
        values.update(state.__dict__)
        values.update(changes)
        return updated

    return update
