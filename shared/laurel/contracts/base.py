"""The parts every contract module is written with (pure, no I/O).

An event contract is a declaration, not code a producer calls: its type
name, the schema version producers write today, the payload model, the rule
that picks the Kafka key (or that the type stays in its producer's store)
and the upcasters that read older versions as today's. A consumer declares,
for every type of every upstream it reads, that it handles it or ignores it
and why (`Handled`, `Ignored`).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from laurel.upcasting import Payload, Upcaster, Upcasters


class EventPayload(BaseModel):
    """Base of every payload model: a field the contract does not name is an
    error for the producer (its tests validate with `validate`), so a payload
    never grows a field its consumers were not told about."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ContractViolation(Exception):
    """An event that does not match its contract, or has none (a producer's bug)."""


@dataclass(frozen=True)
class Key:
    """Which payload field(s) the Kafka key comes from, and why.

    `fields` are tried in order and the first non-empty value is the key,
    unless `joined`, when all of them are joined with "/" (a composite key);
    or one fixed key, `stream`, for every event of a type (`of_stream`).
    """

    fields: tuple[str, ...]
    why: str
    joined: bool = False
    stream: str = ""

    def of(self, payload: Mapping[str, Any]) -> str:
        if self.stream:
            return self.stream
        values = [payload.get(name) for name in self.fields]
        if self.joined:
            if not all(values):
                raise ContractViolation(f"key fields {self.fields} not all set")
            return "/".join(str(v) for v in values)
        for value in values:
            if value:
                return str(value)
        raise ContractViolation(f"none of the key fields {self.fields} is set")

    def describe(self) -> str:
        if self.stream:
            return f'"{self.stream}"'
        if self.joined:
            return " + \"/\" + ".join(self.fields)
        return ", else ".join(self.fields)


def by(*fields: str, why: str) -> Key:
    """The first non-empty of `fields`."""
    return Key(tuple(fields), why)


def of_stream(stream_id: str, *, why: str) -> Key:
    """The producer's one stream the type is appended to, as a fixed key:
    the whole stream on one partition, so consumers get it in stream order."""
    return Key((), why, stream=stream_id)


def joined(*fields: str, why: str) -> Key:
    """`fields` joined with "/"."""
    return Key(tuple(fields), why, joined=True)


@dataclass(frozen=True)
class EventContract:
    """One event type as its producer publishes (or keeps) it."""

    type: str
    version: int
    model: builtins.type[BaseModel]
    key: Key | None  # None: never published, kept in the producer's store
    summary: str
    upcasters: Mapping[int, Upcaster] = field(default_factory=dict)  # from-version -> step

    @property
    def published(self) -> bool:
        return self.key is not None

    def validate(self, version: int, payload: Mapping[str, Any]) -> BaseModel:
        """The payload as the model reads it, after the upcasters (if older);
        ContractViolation when it does not match."""
        current = dict(payload)
        while version < self.version:
            step = self.upcasters.get(version)
            if step is None:
                raise ContractViolation(
                    f"{self.type} v{version}: no upcaster to v{version + 1}")
            current, version = step(current), version + 1
        if version != self.version:
            raise ContractViolation(
                f"{self.type} v{version}: the contract's current version is v{self.version}")
        try:
            return self.model.model_validate(current)
        except ValidationError as error:
            raise ContractViolation(f"{self.type} v{version}: {error}") from error


@dataclass(frozen=True)
class ServiceContracts:
    """Everything one producing service appends to its store."""

    service: str
    contracts: Mapping[str, EventContract]

    def __getitem__(self, event_type: str) -> EventContract:
        return self.contracts[event_type]

    def __contains__(self, event_type: object) -> bool:
        return event_type in self.contracts

    def published(self) -> list[EventContract]:
        return [c for c in self.contracts.values() if c.published]


class CheckpointSigned(EventPayload):
    """The audit's signed Merkle root of a store up to a position (see
    laurel.audit.domain.checkpoints), recorded in the store it covers."""

    format: str
    store_name: str
    up_to_position: int
    event_count: int
    merkle_root: str
    created_at: str
    key_id: str
    signature: str


CHECKPOINT_SIGNED = "CheckpointSigned"


class MessageParked(EventPayload):
    """A message a consumer could not apply, kept whole (laurel.parking)."""

    park_id: str
    consumer: str
    topic: str
    partition: int
    offset: int
    key: str
    event_id: str
    event_type: str
    reason: str
    attempts: int
    headers: dict[str, str]
    value_base64: str


class MessageRetried(EventPayload):
    park_id: str
    outcome: str
    reason: str


class ParkedResolved(EventPayload):
    park_id: str


def parking() -> tuple[EventContract, ...]:
    """What a consumer's store records of the messages it parked (laurel.parking)."""
    return (
        EventContract("MessageParked", 1, MessageParked, None,
                      "A message that could not be applied was parked; the partition "
                      "moved on."),
        EventContract("MessageRetried", 1, MessageRetried, None,
                      "An operator sent a parked message again; its outcome."),
        EventContract("ParkedResolved", 1, ParkedResolved, None,
                      "A parked message was applied on retry."),
    )


CLOCK_NOTED = "CampaignClockNoted"


class CampaignClockNoted(EventPayload):
    """Intake's CampaignClockSet, as a consuming service keeps to it."""

    campaign_id: str
    now: str  # ISO 8601 with its offset
    set_event_id: str


def clock_noted() -> EventContract:
    """What a consumer's store records of intake's campaign clock: the same
    type in every consumer (scoring, review, notification), never published."""
    return EventContract(CLOCK_NOTED, 1, CampaignClockNoted, None,
                         "Intake moved a campaign's clock; stage checks here follow it.")


def contracts_of(service: str, *declared: EventContract) -> ServiceContracts:
    """A service's contracts: the types it declares, and the audit's
    checkpoints every store holds (stream `audit-checkpoints`, never published)."""
    found: dict[str, EventContract] = {}
    checkpoint = EventContract(CHECKPOINT_SIGNED, 1, CheckpointSigned, None,
                               "The audit signed this store's Merkle root up to a position.")
    for contract in (*declared, checkpoint):
        if contract.type in found:
            raise ValueError(f"{service}: {contract.type} declared twice")
        found[contract.type] = contract
    return ServiceContracts(service, found)


def event(type_: str, model: type[BaseModel], key: Key | None, summary: str, *,
          upcasters: Upcasters | None = None) -> EventContract:
    """A contract; its version is the one `upcasters` lead to (1 without any)."""
    steps = upcasters.steps(type_) if upcasters is not None else {}
    version = upcasters.current_version(type_) if upcasters is not None else 1
    return EventContract(type_, version, model, key, summary, steps)


# -- what consumers declare -------------------------------------------------------


@dataclass(frozen=True)
class Handled:
    """The consumer reacts to this type (applies it once, through apply_once)."""


@dataclass(frozen=True)
class Ignored:
    """The consumer deliberately does nothing with this type, because `reason`."""

    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("an ignored type says why")


Declaration = Handled | Ignored
HANDLED = Handled()
# {upstream service: {event type: Handled() | Ignored(reason)}}
Declarations = Mapping[str, Mapping[str, Declaration]]


def declare(upstream: ServiceContracts, handled: Iterable[str],
            ignored: Mapping[str, str]) -> dict[str, Declaration]:
    """What a consumer does with each of `upstream`'s types: `handled`, or
    `ignored` with the reason. The types upstream keeps in its own store (no
    key rule) are ignored for that reason unless said otherwise. Nothing is
    checked here: the completeness tests hold each declaration to the
    upstream's contract, both ways."""
    found: dict[str, Declaration] = {
        c.type: Ignored(f"not published: kept in {upstream.service}'s own store")
        for c in upstream.contracts.values() if not c.published}
    found.update({t: Ignored(reason) for t, reason in ignored.items()})
    found.update(dict.fromkeys(handled, HANDLED))
    return found

__all__ = ["HANDLED", "ContractViolation", "Declaration", "Declarations", "EventContract",
           "Handled", "Ignored", "Key", "Payload", "EventPayload", "ServiceContracts", "by",
           "contracts_of", "declare", "event", "joined", "parking"]
