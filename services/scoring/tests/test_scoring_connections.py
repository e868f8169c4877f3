"""One unit of work, one database connection: a command and each kind of
reaction read and write everything through the connection of their unit
(streams, folds, the definition in force, projection rows), counted as the
engine's pool checkouts (a unit that writes first runs on the writer's
held connection, checked out once per store)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import event

from laurel.envelope import Actor
from laurel.eventstore import EventStore
from laurel.scoring.domain import commands as c
from laurel.scoring.domain import eligibility as el

HOTLINE = Actor("hotline-12320", "service", "health-hotline")
WARD = "zz-peoples-ward-3"
ROUND = "henan-2021-warm-r1"


def checkouts(store: EventStore) -> list[int]:
    seen: list[int] = []
    event.listen(store.engine, "checkout", lambda *args: seen.append(1))
    return seen


def submitted_post(scoring, nid: str = "post-1") -> None:  # noqa: ANN001
    scoring.submitted(nid, "warm_service_post", "zz-peoples", kind="department",
                      org=WARD, received=False)
    scoring.intake("EvidenceAttached", {"nomination_id": nid, "kind": "case",
                                        "sha256": "ab" * 32})


def test_recording_a_complaint_uses_one_connection(scoring) -> None:  # noqa: ANN001
    submitted_post(scoring)
    scoring.intake("NominationReceived", {"nomination_id": "post-1"})
    seen = checkouts(scoring.store)
    report = el.ComplianceReport("c-7", "department", WARD, date(2021, 12, 5))
    done = scoring.call(c.RecordComplaint(scoring.caller(HOTLINE), report))
    assert done.recorded and done.reevaluated == ["post-1"]  # it read and wrote
    assert len(seen) == 1


def test_a_reaction_that_evaluates_a_nomination_uses_one_connection(scoring) -> None:  # noqa: ANN001
    submitted_post(scoring)
    seen = checkouts(scoring.store)
    scoring.intake("NominationReceived", {"nomination_id": "post-1"})
    assert set(scoring.verdicts("post-1")) == {"requires_evidence", el.RULE_NO_COMPLAINT}
    # The verdicts read just above; the reaction, which writes first (its
    # inbox mark), runs on the writer's held connection: no checkout at all.
    assert len(seen) == 1


def test_a_reaction_that_computes_a_result_uses_one_connection(scoring) -> None:  # noqa: ANN001
    submitted_post(scoring)
    scoring.intake("NominationReceived", {"nomination_id": "post-1"})
    criteria = ("warm_service", "supporting_cases", "achievements")
    scoring.review("ReviewRoundOpened", {
        "round_id": ROUND, "campaign_id": "henan-2021", "category": "warm_service_post",
        "number": 1, "deadline": "2021-12-31T16:00:00.000000Z",
        "criteria": dict.fromkeys(criteria, "100"), "nomination_ids": ["post-1"],
        "previous_round_id": ""})
    scoring.review("ReviewScoreRecorded", {
        "round_id": ROUND, "campaign_id": "henan-2021", "category": "warm_service_post",
        "nomination_id": "post-1", "reviewer_id": "mgr-1", "group": "hospital_manager",
        "scores": dict.fromkeys(criteria, "80"), "comment": "", "form_version": 1})
    seen = checkouts(scoring.store)
    scoring.review("ReviewRoundClosed", {"round_id": ROUND, "outstanding": [],
                                         "closed_at": "", "early": True, "reason": ""})
    assert len(seen) == 0  # the writer's held connection only
    results = scoring.store.read_stream(f"results-henan-2021-warm_service_post-{ROUND}")
    assert [e.type for e in results] == ["ResultComputed"]
