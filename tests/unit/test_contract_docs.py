"""The documents generated from the contracts are committed fresh:
docs/asyncapi.yaml (FastStream's AsyncAPI 3 document of every topic and
message) and README's table of every topic's event types and keys."""

from __future__ import annotations

import yaml

from laurel.contracts import REGISTRY
from laurel.contracts.docs import ASYNCAPI_PATH, asyncapi_yaml, stale


def test_the_asyncapi_document_and_the_readme_table_are_fresh() -> None:
    assert stale() == [], "run `make asyncapi` and commit the result"


def test_the_asyncapi_document_describes_every_topic_and_published_message() -> None:
    document = yaml.safe_load(ASYNCAPI_PATH.read_text("utf-8"))
    assert document["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in document["channels"].values()}
    assert {f"laurel.{s}.events" for s in REGISTRY} <= addresses
    schemas = document["components"]["schemas"]
    for contracts in REGISTRY.values():
        for contract in contracts.published():
            message = schemas[f"{contract.type}Message"]
            assert message["properties"]["type"]["const"] == contract.type
            assert "Kafka key" in message["description"]
    assert asyncapi_yaml() == ASYNCAPI_PATH.read_text("utf-8")  # generated, not edited
