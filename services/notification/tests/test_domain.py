"""Who hears what: intents per event kind, the directory, issue vs hold (pure)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from laurel.envelope import Actor, RecordedEvent
from laurel.errors import NotFound
from laurel.notification import domain
from laurel.notification.adapters.templates import load_catalog
from laurel.notification.domain import approval, directory, events, kinds, notifications
from laurel.notification.domain.privacy import mask_email, mask_phone, redact

CATALOG = load_catalog()
NOMINATOR = Actor("nominator-lankao-1", "nominator", "lankao-peoples")
ORGANIZER = Actor("organizer-henan-1", "organizer", "henan-center")
MAILING = notifications.Policy(
    frozenset({"results"}), email_enabled=True, message_id_domain="laurel.test"
)


def contact_of(source: RecordedEvent) -> directory.NominationContact:
    found = directory.nomination_contact_from(source, None)
    assert found is not None
    return found


def facts_for(*sources: RecordedEvent, **extra) -> kinds.Facts:
    contacts = {c.nomination_id: c for c in map(contact_of, sources)}
    return kinds.Facts(contacts, **extra)


# -- the directory -----------------------------------------------------------


def test_a_submission_records_nominator_nominee_and_contact_email(upstream) -> None:
    contact = contact_of(upstream.submitted())

    assert contact.nominator_id == NOMINATOR.id
    assert contact.nominee_name == "兰考县人民医院"
    assert contact.email == "office@lankao.example.cn"
    assert contact.commission_id == "lankao"


def test_a_changed_contact_email_updates_the_directory_and_others_do_not(upstream) -> None:
    before = contact_of(upstream.submitted())
    changed = upstream.event(
        "NominationResubmitted",
        {
            "nomination_id": "n-1",
            "changes": {
                "contact.email": {
                    "before": before.email,
                    "after": "new@lankao.example.cn",
                }
            },
        },
    )
    unrelated = upstream.event(
        "NominationAmended",
        {
            "nomination_id": "n-1",
            "changes": {"hospital_profile": {"before": "a", "after": "b"}},
            "reason": "typo",
        },
    )

    after = directory.nomination_contact_from(changed, before)

    assert after is not None and after.email == "new@lankao.example.cn"
    assert directory.nomination_contact_from(unrelated, before) is None


def test_a_malformed_email_is_not_kept(upstream) -> None:
    assert contact_of(upstream.submitted(email="not an address")).email == ""


# -- intents per kind --------------------------------------------------------


def test_submission_is_a_receipt_to_the_nominator_in_chinese_by_default(upstream) -> None:
    source = upstream.submitted()

    [intent] = kinds.intents_for(source, facts_for(source), CATALOG)

    assert (intent.kind, intent.recipient_id, intent.language) == (
        "receipt",
        NOMINATOR.id,
        "zh-CN",
    )
    assert intent.email == "office@lankao.example.cn"
    assert intent.values["received_at"] == "2021年11月25日 10:30（北京时间）"
    assert intent.values["category"] == "十大举措标杆单位"


def test_a_nominator_who_asks_for_english_gets_english(upstream) -> None:
    source = upstream.submitted(**{"contact.language": "en"})

    [intent] = kinds.intents_for(source, facts_for(source), CATALOG)

    assert intent.language == "en"
    assert intent.values["category"] == "ten-measures benchmark unit"


def test_a_return_lists_every_reason(upstream) -> None:
    source = upstream.submitted()
    returned = upstream.event(
        "NominationReturned",
        {
            "nomination_id": "n-1",
            "commission_id": "lankao",
            "reasons": ["缺少公章", "联系人电话有误"],
        },
        actor=Actor("endorser-lankao-1", "endorser", "lankao"),
    )

    [intent] = kinds.intents_for(returned, facts_for(source), CATALOG)
    rendered = CATALOG.render(intent.kind, intent.language, intent.values)

    assert intent.recipient_id == NOMINATOR.id
    assert "· 缺少公章\n· 联系人电话有误" in rendered.body


def test_endorsement_carries_the_commissions_opinion(upstream) -> None:
    source = upstream.submitted()
    endorsed = upstream.event(
        "NominationEndorsed",
        {"nomination_id": "n-1", "commission_id": "lankao", "opinion": "同意推荐"},
    )

    [intent] = kinds.intents_for(endorsed, facts_for(source), CATALOG)

    assert intent.kind == "endorsed" and intent.values["opinion"] == "同意推荐"


def test_intakes_mark_and_scorings_verdict_are_one_notification(upstream) -> None:
    source = upstream.submitted()
    mark = upstream.event(
        "NominationMarkedIneligible",
        {
            "nomination_id": "n-1",
            "rule": "no_penalty_within_years",
            "reason": "2020 年有处罚记录",
            "caused_by": "x",
        },
    )
    verdict = upstream.event(
        "EligibilityVerdictRecorded",
        {
            "nomination_id": "n-1",
            "rule": "no_penalty_within_years",
            "decision": "ineligible",
            "reason": "2020 年有处罚记录",
        },
    )
    eligible = upstream.event(
        "EligibilityVerdictRecorded",
        {
            "nomination_id": "n-1",
            "rule": "no_complaint_within_years",
            "decision": "eligible",
            "reason": "none",
        },
    )

    [a] = kinds.intents_for(mark, facts_for(source), CATALOG)
    [b] = kinds.intents_for(verdict, facts_for(source), CATALOG)

    assert notifications.id_of(a) == notifications.id_of(b)
    assert kinds.intents_for(eligible, facts_for(source), CATALOG) == []


def test_reviewer_assignment_and_reminder_go_to_the_reviewer(upstream) -> None:
    source = upstream.submitted()
    reviewer = directory.ReviewerContact(
        "expert-7", "王专家", "wang@experts.example.cn"
    )
    facts = facts_for(source, reviewers={"expert-7": reviewer})
    assigned = upstream.event(
        "ReviewerAssigned",
        {
            "panel_id": "p",
            "round_id": "r1",
            "campaign_id": "henan-2021",
            "category": "ten_measures_benchmark",
            "nomination_id": "n-1",
            "reviewer_id": "expert-7",
            "group": "industry_expert",
        },
    )
    reminder = upstream.event(
        "ReviewDeadlineReminderDue",
        {
            "round_id": "r1",
            "campaign_id": "henan-2021",
            "category": "ten_measures_benchmark",
            "reviewer_id": "expert-7",
            "nomination_ids": ["n-1", "n-2"],
            "deadline": "2021-12-20T16:00:00.000000Z",
            "lead_seconds": 86400,
            "due_at": "2021-12-19T16:00:00.000000Z",
        },
    )

    [a] = kinds.intents_for(assigned, facts, CATALOG)
    [r] = kinds.intents_for(reminder, facts, CATALOG)

    assert (a.kind, a.recipient_id, a.email) == (
        "reviewer_assigned",
        "expert-7",
        reviewer.email,
    )
    assert a.values["nominee_name"] == "兰考县人民医院"
    assert a.values["group"] == "行业专家"
    assert (r.kind, r.values["pending_count"], r.stream_key) == (
        "deadline_reminder",
        2,
        "round-r1",
    )
    assert r.values["deadline"] == "2021年12月21日 00:00（北京时间）"


def test_a_reviewer_without_a_known_address_still_gets_an_inbox_entry(upstream) -> None:
    assigned = upstream.event(
        "ReviewerAssigned",
        {
            "round_id": "r1",
            "category": "c",
            "nomination_id": "n-9",
            "reviewer_id": "expert-8",
            "group": "media",
        },
    )

    [intent] = kinds.intents_for(assigned, kinds.Facts(), CATALOG)

    assert intent.recipient_id == "expert-8" and intent.email == ""


def test_results_tell_each_nominator_their_own_outcome(upstream) -> None:
    one, two = upstream.submitted("n-1"), upstream.submitted("n-2", email="two@example.cn")
    results = upstream.event(
        "ResultsPublished",
        {
            "round_id": "r1",
            "campaign_id": "henan-2021",
            "category": "ten_measures_benchmark",
            "result_version": 1,
            "decisions": [
                {
                    "nomination_id": "n-1",
                    "outcome": "tier",
                    "tier": "first",
                    "reason": "",
                    "result_version": 1,
                },
                {
                    "nomination_id": "n-2",
                    "outcome": "not_awarded",
                    "tier": "",
                    "reason": "",
                    "result_version": 1,
                },
                {
                    "nomination_id": "n-3",
                    "outcome": "award",
                    "tier": "",
                    "reason": "",
                    "result_version": 1,
                },
            ],
        },
        actor=ORGANIZER,
    )

    first, second, unknown = kinds.intents_for(results, facts_for(one, two), CATALOG)

    assert (first.nomination_id, first.values["outcome"]) == ("n-1", "获一等奖")
    assert (second.email, second.values["outcome"]) == ("two@example.cn", "未获奖")
    assert notifications.id_of(first) != notifications.id_of(second)
    assert unknown == kinds.Unaddressed(
        "results", "n-3", "no contact known for this nomination"
    )


@pytest.mark.parametrize("grouping", ["region", "theme"])
def test_forum_invitations_by_region_and_by_theme(upstream, grouping: str) -> None:
    source = upstream.submitted()
    invitation = upstream.event(
        "ForumInvitationsIssued",
        {
            "forum_id": "f1",
            "campaign_id": "henan-2021",
            "title": "改善医疗服务经验交流会",
            "grouping": grouping,
            "region": "豫东",
            "theme": "智慧服务",
            "starts_at": "2022-01-10T01:00:00.000000Z",
            "venue": "郑州",
            "nomination_ids": ["n-1"],
        },
    )

    [intent] = kinds.intents_for(invitation, facts_for(source), CATALOG)
    rendered = CATALOG.render(intent.kind, intent.language, intent.values)

    assert intent.kind == f"forum_invitation_{grouping}"
    assert ("豫东" if grouping == "region" else "智慧服务") in rendered.subject


def test_unknown_events_tell_nobody_and_unexpected_shapes_say_what_lacks(
        upstream) -> None:
    """The reaction logs a malformed event and tells nobody (see test_handlers)."""
    assert kinds.intents_for(upstream.event("SomethingNew", {}), kinds.Facts(), CATALOG) == []
    broken = upstream.event("ReviewerAssigned", {"reviewer_id": "x"})
    with pytest.raises(kinds.MalformedEvent, match=f"ReviewerAssigned {broken.event_id}"):
        kinds.intents_for(broken, kinds.Facts(), CATALOG)


# -- issue or hold -----------------------------------------------------------


def test_a_receipt_is_issued_with_its_template_and_an_email_is_queued(upstream) -> None:
    source = upstream.submitted()
    items = kinds.intents_for(source, facts_for(source), CATALOG)

    issued, queued = notifications.decide(source, items, CATALOG, MAILING)

    [notice] = issued.events
    assert notice.type == events.RECEIPT_ISSUED
    assert issued.stream_id == "notifications-n-1" and issued.published
    assert notice.payload["template"]["version"] == 3
    assert notice.payload["template"]["language"] == "zh-CN"
    assert notice.payload["email"] == mask_email("office@lankao.example.cn")
    [mail] = queued.events
    nid = notice.payload["notification_id"]
    assert mail.type == events.EMAIL_QUEUED and queued.stream_id == f"email-{nid}"
    assert mail.payload["message_id"] == f"<{nid}@laurel.test>"
    assert mail.payload["to"] == "office@lankao.example.cn"


def test_without_an_smtp_relay_only_the_inbox_entry_is_recorded(upstream) -> None:
    source = upstream.submitted()
    items = kinds.intents_for(source, facts_for(source), CATALOG)

    [issued] = notifications.decide(source, items, CATALOG, notifications.Policy())

    assert issued.events[0].payload["email"] == ""


def test_ids_are_derived_so_a_redelivery_decides_the_same_notification(upstream) -> None:
    source = upstream.submitted()
    first = notifications.decide(
        source, kinds.intents_for(source, facts_for(source), CATALOG), CATALOG, MAILING
    )
    again = notifications.decide(
        source, kinds.intents_for(source, facts_for(source), CATALOG), CATALOG, MAILING
    )

    assert [a.stream_id for a in first] == [a.stream_id for a in again]
    nid = first[0].events[0].payload["notification_id"]
    assert (
        notifications.decide(
            source,
            kinds.intents_for(source, facts_for(source), CATALOG),
            CATALOG,
            MAILING,
            already={nid},
        )
        == []
    )


def test_results_are_held_in_one_batch_per_publication(upstream) -> None:
    sources = [upstream.submitted("n-1"), upstream.submitted("n-2", email="b@example.cn")]
    results = upstream.results("n-1", "n-2")
    items = kinds.intents_for(results, facts_for(*sources), CATALOG)

    [batch] = notifications.decide(results, items, CATALOG, MAILING)

    opened, *held = batch.events
    assert opened.type == events.BATCH_OPENED and opened.payload["size"] == 2
    assert [h.type for h in held] == [events.NOTIFICATION_HELD] * 2
    assert batch.stream_id == f"notification-batch-{opened.payload['batch_id']}"
    assert {h.payload["email_to"] for h in held} == {
        "office@lankao.example.cn",
        "b@example.cn",
    }


def test_kinds_outside_the_approval_list_go_straight_out(upstream) -> None:
    sources = [upstream.submitted("n-1")]
    results = upstream.results("n-1")
    items = kinds.intents_for(results, facts_for(*sources), CATALOG)
    no_approval = notifications.Policy(frozenset(), True, "laurel.test")

    appends = notifications.decide(results, items, CATALOG, no_approval)

    assert [a.events[0].type for a in appends] == [
        events.NOTIFICATION_ISSUED,
        events.EMAIL_QUEUED,
    ]


# -- approval ----------------------------------------------------------------


def held_batch(upstream, *nids: str) -> approval.Batch:
    sources = [upstream.submitted(n, email=f"{n}@example.cn") for n in nids]
    results = upstream.results(*nids)
    [append] = notifications.decide(
        results,
        kinds.intents_for(results, facts_for(*sources), CATALOG),
        CATALOG,
        MAILING,
    )
    recorded = [upstream.event(e.type, e.payload) for e in append.events]
    batch = approval.fold(recorded)
    assert batch is not None
    return batch


def test_approving_releases_every_held_notification_with_its_email(upstream) -> None:
    batch = held_batch(upstream, "n-1", "n-2")

    appends = approval.approve(batch, ORGANIZER, MAILING)

    types = [a.events[0].type for a in appends]
    assert types == [
        events.BATCH_APPROVED,
        events.NOTIFICATION_ISSUED,
        events.EMAIL_QUEUED,
        events.NOTIFICATION_ISSUED,
        events.EMAIL_QUEUED,
    ]
    issued = appends[1].events[0].payload
    assert issued["batch_id"] == batch.batch_id and "email_to" not in issued
    assert appends[2].events[0].payload["to"] == "n-1@example.cn"


def test_an_approved_batch_releases_nothing_again(upstream) -> None:
    batch = held_batch(upstream, "n-1")
    approved = approval.approve(batch, ORGANIZER, MAILING)[0].events[0]
    after = approval.fold(
        [
            *[upstream.event(t, p) for t, p in _events_of(batch)],
            upstream.event(approved.type, approved.payload),
        ]
    )

    assert after is not None and after.status == approval.APPROVED
    assert approval.approve(after, ORGANIZER, MAILING) == []


def _events_of(batch: approval.Batch) -> list[tuple[str, dict]]:
    opened = {
        "batch_id": batch.batch_id,
        "kind": batch.kind,
        "campaign_id": batch.campaign_id,
        "source_event_id": batch.source_event_id,
    }
    return [
        (events.BATCH_OPENED, opened),
        *[(events.NOTIFICATION_HELD, h) for h in batch.held],
    ]


def test_only_an_existing_batch_is_approved() -> None:
    """Who approves is the access policy's and the handler's (test_handlers)."""
    with pytest.raises(NotFound):
        approval.approve(None, ORGANIZER, MAILING)


# -- privacy -----------------------------------------------------------------


def test_contact_details_are_masked_for_logs() -> None:
    assert mask_email("yiwubu@example.org.cn") == "y****u@e***.cn"
    assert mask_phone("13900000002") == "139****0002"
    text = redact("RCPT refused for <yiwubu@example.org.cn>, call 13900000002")
    assert "yiwubu@" not in text and "13900000002" not in text


# -- purity ------------------------------------------------------------------


def test_the_domain_loads_no_database_yaml_or_grpc_code_and_reads_no_file() -> None:
    """Importing every domain module in a fresh interpreter pulls in none of
    the libraries that do I/O; the templates reach the domain as data."""
    modules = [f"laurel.notification.domain.{m.stem}"
               for m in Path(domain.__file__).parent.glob("*.py")]
    probe = (f"import sys\nfor m in {modules!r}: __import__(m)\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & "
             "{'sqlalchemy', 'yaml', 'grpc', 'pydantic', 'faststream'}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
