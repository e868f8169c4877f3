"""Each published event type as its Kafka message: the stored envelope with
the contract's payload model, so FastStream can validate what a subscriber
takes and describe every topic and message in its AsyncAPI document.

A message validates as its producer publishes it today: an older schema
version is read through the contract's upcasters first (the message itself,
and so its hash, is handed on unchanged).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from laurel.contracts.base import EventContract, EventPayload, ServiceContracts


class Actor(EventPayload):
    id: str
    role: str
    organization_id: str = ""


class Metadata(BaseModel):
    """Why the event exists (see laurel.envelope.EventMetadata)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    actor: Actor
    correlation_id: str = ""
    causation_id: str = ""
    trace: dict[str, str] = Field(default_factory=dict)
    campaign_time: str = ""  # ISO 8601 with its offset; absent outside campaigns


class Message(BaseModel):
    """A stored event as it travels: positioned, hashed, chained to the
    previous event of its stream (see laurel.envelope.RecordedEvent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    contract: ClassVar[EventContract | None] = None

    position: int
    event_id: str
    stream_id: str
    version: int
    type: str
    schema_version: int
    payload: Any
    metadata: Metadata
    recorded_at: str
    prev_hash: str
    hash: str

    @model_validator(mode="before")
    @classmethod
    def _as_today(cls, data: Any) -> Any:
        """An older schema version reads as today's, through the upcasters."""
        contract = cls.contract
        if contract is None or not isinstance(data, dict):
            return data
        version = data.get("schema_version")
        payload = data.get("payload")
        if not isinstance(version, int) or not isinstance(payload, dict):
            return data
        while version < contract.version and (step := contract.upcasters.get(version)):
            payload, version = step(dict(payload)), version + 1
        return {**data, "schema_version": version, "payload": payload}


def message_model(contract: EventContract) -> type[Message]:
    """`<Type>` as a message: its type name fixed, its payload the contract's."""
    fixed: Any = Literal[contract.type]
    doc = contract.summary
    if contract.key is not None:
        doc += f" Kafka key: {contract.key.describe()} ({contract.key.why})."
    model = create_model(
        f"{contract.type}Message", __base__=Message, __doc__=doc,
        type=(fixed, ...),
        schema_version=(int, Field(description=f"{contract.version} (older versions are "
                                   "upcast by the contract)")),
        payload=(contract.model, ...),
    )
    model.contract = contract
    return model


_MODELS: dict[str, type[Message]] = {}


def topic_message(contracts: ServiceContracts) -> Any:
    """Any message of one producer's topic, told apart by its `type`."""
    models = []
    for contract in contracts.published():
        if contract.type not in _MODELS:
            _MODELS[contract.type] = message_model(contract)
        models.append(_MODELS[contract.type])
    return Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007


__all__ = ["Message", "Metadata", "message_model", "topic_message", "EventPayload"]
