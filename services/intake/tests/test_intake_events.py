"""A return stored before v2 still reads, as v2, with the commission unnamed;
the stored row keeps its own version and bytes."""

from __future__ import annotations

from laurel.envelope import Actor, EventMetadata, NewEvent
from laurel.eventstore import EventStore
from laurel.intake.domain import events
from laurel.intake.domain.events import UPCASTERS
from laurel.intake.domain.nomination import fold

ENDORSER = EventMetadata(Actor("endorser-zz", "endorser", "zhengzhou"), correlation_id="c")


def test_a_v1_return_reads_as_v2_and_folds(tmp_path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'intake.sqlite'}", upcasters=UPCASTERS)
    store.create_schema()
    submitted = NewEvent(events.NOMINATION_SUBMITTED, {
        "nomination_id": "n-1", "campaign_id": "henan-2021",
        "category": "ten_measures_benchmark",
        "nominee": {"kind": "hospital", "name": "郑州市人民医院",
                    "organization_id": "zhengzhou-peoples"},
        "hospital_id": "zhengzhou-peoples", "jurisdiction_id": "zhengzhou",
        "route": {"to": "commission", "organization_id": "zhengzhou"}, "fields": {}})
    old_return = NewEvent(events.NOMINATION_RETURNED, {
        "nomination_id": "n-1", "commission_id": "zhengzhou", "reasons": ["请补充"]})
    store.append("nomination-n-1", 0, [submitted, old_return], ENDORSER)

    [_, returned] = store.read_stream("nomination-n-1")
    assert (returned.schema_version, returned.payload["commission_name"]) == (2, "")
    [_, raw] = list(store.read_raw(1))
    assert raw.schema_version == 1 and "commission_name" not in raw.payload_json
    assert fold(store.read_stream("nomination-n-1")).status == "returned"
    assert store.verify().ok
    store.close()


def test_new_returns_and_endorsements_are_written_as_v2() -> None:
    assert UPCASTERS.current_version(events.NOMINATION_RETURNED) == \
        events.COMMISSION_NAMED
    assert UPCASTERS.current_version(events.NOMINATION_ENDORSED) == \
        events.COMMISSION_NAMED
