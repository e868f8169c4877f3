"""The event contracts hold together: every type has its golden fixture, each
fixture matches its contract, keys come from declared fields, versions and
upcasters agree."""

from __future__ import annotations

import pytest

from laurel.chain import RawEvent, verify_chain
from laurel.contracts import PUBLISHED, REGISTRY, ContractViolation, publication_key, validate
from laurel.contracts import fixtures as fx
from laurel.envelope import NewEvent, canonical_json

CONTRACTS = [(s, c) for s, reg in REGISTRY.items() for c in reg.contracts.values()]
FIXTURES = list(fx.all_fixtures())


def _id(value: object) -> str:
    return getattr(value, "type", str(value))


@pytest.mark.parametrize(("service", "contract"), CONTRACTS,
                         ids=[f"{s}.{c.type}" for s, c in CONTRACTS])
def test_every_contract_has_a_fixture_of_its_version_and_of_each_older_one(
        service: str, contract) -> None:  # noqa: ANN001
    for version in (contract.version, *contract.upcasters):
        assert fx.path_of(service, contract.type, version).exists(), (
            f"write tests/fixtures/events/{service}/{contract.type}.v{version}.json")


@pytest.mark.parametrize(("service", "contract"), CONTRACTS,
                         ids=[f"{s}.{c.type}" for s, c in CONTRACTS])
def test_a_key_rule_names_fields_of_its_model(service: str, contract) -> None:  # noqa: ANN001
    if contract.key is not None:
        assert set(contract.key.fields) <= set(contract.model.model_fields), contract.key
        assert contract.key.why.strip()
    assert contract.summary.strip()


@pytest.mark.parametrize(("service", "event"), FIXTURES,
                         ids=[f"{s}.{e.type}.v{e.schema_version}" for s, e in FIXTURES])
def test_each_fixture_matches_its_contract_and_is_a_sound_envelope(
        service: str, event) -> None:  # noqa: ANN001
    validate(service, event.type, event.schema_version, event.payload)
    raw = RawEvent(event.position, event.event_id, event.stream_id, event.version, event.type,
                   event.schema_version, canonical_json(event.payload),
                   canonical_json(event.metadata), event.recorded_at, event.prev_hash,
                   event.hash)
    assert verify_chain([raw]).ok
    contract = REGISTRY[service][event.type]
    if contract.published:
        assert publication_key(event.type, event.payload)


def test_a_published_type_belongs_to_one_service() -> None:
    published = [c.type for reg in REGISTRY.values() for c in reg.published()]
    assert sorted(published) == sorted(PUBLISHED)


def test_a_payload_with_a_field_the_contract_does_not_name_is_refused() -> None:
    event = fx.load("intake", "NominationReceived", 1)
    with pytest.raises(ContractViolation, match="surprise"):
        validate("intake", event.type, 1, {**event.payload, "surprise": 1})
    with pytest.raises(ContractViolation, match="center_id"):
        validate("intake", event.type, 1, {"nomination_id": "n-1"})


def test_an_unknown_type_has_no_key_and_no_contract() -> None:
    with pytest.raises(ContractViolation, match="no published contract"):
        publication_key("SomethingNew", {"nomination_id": "n-1"})
    with pytest.raises(ContractViolation, match="no contract"):
        validate("intake", "SomethingNew", 1, {})


def test_older_versions_read_as_the_current_one_through_the_declared_upcasters() -> None:
    returned = REGISTRY["intake"]["NominationReturned"]
    assert returned.version == 2 and set(returned.upcasters) == {1}
    v1 = fx.load("intake", "NominationReturned", 1)
    assert "commission_name" not in v1.payload
    assert returned.validate(1, v1.payload).commission_name == ""  # type: ignore[attr-defined]


def test_keys_follow_the_declared_rules() -> None:
    def key(service: str, type_: str, **changes: object) -> str:
        payload = {**fx.load(service, type_, REGISTRY[service][type_].version).payload,
                   **changes}
        return publication_key(type_, payload)

    assert key("intake", "NominationSubmitted", nomination_id="n-1") == "n-1"
    assert key("intake", "CampaignDefined", campaign_id="henan-2021") == "henan-2021"
    assert key("scoring", "ResultComputed", campaign_id="c", category="k") == "c/k"
    # review's reviewers stream: by the stream, whichever reviewer (since 2026-12)
    assert key("review", "ReviewerRegistered", reviewer_id="exp-1") == "reviewers"
    assert key("review", "ReviewerConflictDeclared", reviewer_id="exp-2") == "reviewers"
    assert key("review", "ReviewScoreRecorded", round_id="r-1") == "r-1"
    assert key("notification", "NotificationIssued", nomination_id="",
               recipient_id="exp-1") == "exp-1"
    assert key("notification", "NotificationBatchOpened", batch_id="b-1") == "b-1"
    assert key("notification", "EmailDelivered", notification_id="x") == "x"


def test_appending_a_published_event_keys_its_outbox_row_by_the_contract(tmp_path) -> None:
    from laurel.envelope import Actor, EventMetadata
    from laurel.eventstore import EventStore, Publication

    store = EventStore(f"sqlite:///{tmp_path / 'scoring.sqlite'}")
    store.create_schema()
    result = {**fx.load("scoring", "ResultComputed", 1).payload,
              "campaign_id": "henan-2021", "category": "warm_service_post"}
    meta = EventMetadata(Actor("scoring", "service"), "c")
    store.append("results-x", 0, [NewEvent("ResultComputed", result)], meta,
                 publish=Publication("laurel.scoring.events"))
    [entry] = store.unpublished()
    assert entry.key == "henan-2021/warm_service_post"
    with pytest.raises(ContractViolation):
        store.append("results-x", 1, [NewEvent("ResultComputed", {"round_id": "r"})], meta,
                     publish=Publication("laurel.scoring.events"))
    store.close()


def test_a_stored_event_without_a_contract_or_off_its_contract_is_found(tmp_path) -> None:
    from laurel.contracts.checking import service_stores, violations_in_store
    from laurel.envelope import Actor, EventMetadata
    from laurel.eventstore import EventStore

    store = EventStore(f"sqlite:///{tmp_path / 'intake.sqlite'}")
    store.create_schema()
    meta = EventMetadata(Actor("intake", "service"), "c")
    received = fx.load("intake", "NominationReceived", 1).payload
    store.append("nomination-n", 0, [NewEvent("NominationReceived", received),
                                     NewEvent("NominationReceived", {"nomination_id": "n"}),
                                     NewEvent("NominationTeleported", {})], meta)
    store.close()
    [(service, path)] = list(service_stores(tmp_path))
    found = violations_in_store(service, path)
    assert [f.split(":")[0] for f in found] == ["intake.sqlite position 2",
                                                "intake.sqlite position 3"]
    path.unlink()  # this test's own store is not one to hold to its contract
