"""What each service publishes, declared once for its producer and every consumer.

A consumer reads another service's events through the producer's contract
module here (`laurel.contracts.intake`, …), never by copying the producer's
strings or re-implementing how its payloads are read.

Each event type a service appends is declared in its module with its name,
the schema version producers write today, a payload model, its key rule
(which payload field the Kafka key comes from, and why; no rule: the type
is never published and stays in the producer's store) and the upcasters
that read older versions as today's. This module keeps the one registry.

Payload models are pydantic v2, not protobuf: the envelope travels as JSON
(its canonical text is what the hash chain covers, so it cannot be
re-encoded), FastStream builds its AsyncAPI document from the pydantic models
its subscribers take, and pydantic validates the stored JSON as it is.

Consumers declare, for every type of every upstream they read, `Handled()`
or `Ignored(reason)`: each service's `reactions` module exports them as
`DECLARATIONS`, and `consumer_declarations()` collects them (for the
completeness tests and the audit).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from laurel.contracts import intake, notification, review, scoring
from laurel.contracts.base import (
    HANDLED,
    ContractViolation,
    Declaration,
    Declarations,
    EventContract,
    Handled,
    Ignored,
    Key,
    ServiceContracts,
    declare,
)
from laurel.envelope import NewEvent

# Every producing service's contracts, by service name (= its topic setting).
REGISTRY: Mapping[str, ServiceContracts] = {
    c.service: c for c in (intake.CONTRACTS, scoring.CONTRACTS, review.CONTRACTS,
                           notification.CONTRACTS)
}

# The consumers and the module whose DECLARATIONS say what they do with each
# upstream type (imported on demand: shared code does not depend on services).
CONSUMERS: Mapping[str, str] = {
    "scoring": "laurel.scoring.reactions",
    "review": "laurel.review.reactions",
    "notification": "laurel.notification.reactions",
}


def _published_by_type() -> dict[str, EventContract]:
    found: dict[str, EventContract] = {}
    for service in REGISTRY.values():
        for contract in service.published():
            if contract.type in found:
                raise ValueError(f"{contract.type} is published by two services")
            found[contract.type] = contract
    return found


PUBLISHED: Mapping[str, EventContract] = _published_by_type()


def contract(service: str, event_type: str) -> EventContract:
    """The contract of a type `service` appends; ContractViolation if none."""
    found = REGISTRY[service].contracts.get(event_type)
    if found is None:
        raise ContractViolation(f"{service} has no contract for {event_type}")
    return found


def publication_key(event_type: str, payload: Mapping[str, Any]) -> str:
    """The Kafka key of a published event, by its contract's key rule.

    A type without a published contract is a producer's bug: it raises
    ContractViolation (so its first test fails) instead of choosing a key."""
    found = PUBLISHED.get(event_type)
    if found is None or found.key is None:
        raise ContractViolation(f"{event_type} has no published contract: declare it "
                                "in laurel.contracts before publishing it")
    return found.key.of(payload)


# Tests turn this on (the `laurel.contracts.checking` pytest plugin): every
# published event is then validated against its contract as it is appended.
CHECK_ON_APPEND = False


def outbox_key(event: NewEvent) -> str:
    """The key of the outbox row of `event` (see `publication_key`); with
    CHECK_ON_APPEND, its payload is validated against the contract first."""
    if CHECK_ON_APPEND:
        found = PUBLISHED.get(event.type)
        if found is not None:
            found.validate(event.schema_version, event.payload)
    return publication_key(event.type, event.payload)


def validate(service: str, event_type: str, schema_version: int,
             payload: Mapping[str, Any]) -> None:
    """ContractViolation unless the payload matches `service`'s contract."""
    contract(service, event_type).validate(schema_version, payload)


def completeness_problems(consumer: str, declarations: Declarations) -> list[str]:
    """What `consumer`'s declarations miss or invent, against the upstreams'
    contracts: a type an upstream appends that is neither handled nor
    ignored, a declared type the upstream does not append, an unknown upstream."""
    problems = []
    for upstream, declared in sorted(declarations.items()):
        if upstream not in REGISTRY:
            problems.append(f"{consumer} declares an unknown upstream {upstream!r}")
            continue
        known = set(REGISTRY[upstream].contracts)
        problems += [f"{consumer} neither handles nor ignores {upstream}'s {t}"
                     for t in sorted(known - set(declared))]
        problems += [f"{consumer} declares {t}, which {upstream} does not append"
                     for t in sorted(set(declared) - known)]
    return problems


def consumer_declarations() -> dict[str, Declarations]:
    """{consumer: {upstream service: {event type: Handled() | Ignored(reason)}}}."""
    return {name: importlib.import_module(module).DECLARATIONS
            for name, module in CONSUMERS.items()}


__all__ = ["CONSUMERS", "HANDLED", "PUBLISHED", "REGISTRY", "ContractViolation",
           "Declaration", "Declarations", "EventContract", "Handled", "Ignored", "Key",
           "ServiceContracts", "completeness_problems", "consumer_declarations", "contract",
           "declare", "outbox_key", "publication_key", "validate"]
