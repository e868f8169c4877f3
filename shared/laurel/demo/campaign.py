"""A henan-2021 campaign across the four services, over their public gRPC APIs.

One driver for the `laurel up` demo and the full-system test: every step is a
call a portal would make, with the acting person's own token — hospitals
nominate, commissions return, endorse and forward, the center receives, the
12320 hotline files a complaint, reviewers score blind, the organizer closes
rounds, decides, publishes and approves the results e-mails. What travels
between the services travels over Kafka, so the driver waits (polls the APIs)
wherever the next step needs another service to have heard of the last one.

The campaign is data (campaign.yaml); `size` runs its first N nominations.
`run_campaign` returns a `CampaignRun`: what each step answered, so a test can
check it and the demo can print it (`say` narrates as it goes).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import grpc
import yaml
from google.protobuf.timestamp_pb2 import Timestamp

from laurel.auth import call_metadata
from laurel.campaigns import SHIPPED_DIR, load_catalog
from laurel.campaigns.specimen import specimen_fields
from laurel.demo import (
    EVALUATION_NOW,
    FORUMS_NOW,
    ORGANIZER,
    campaign_clock_request,
    demo_organizations,
)
from laurel.envelope import Actor
from laurel.grpcutil import client_channel
from laurel.intake.v1 import intake_pb2 as ip
from laurel.intake.v1 import intake_pb2_grpc
from laurel.notification.v1 import notification_pb2 as np_
from laurel.notification.v1 import notification_pb2_grpc
from laurel.review.v1 import review_pb2 as rv
from laurel.review.v1 import review_pb2_grpc
from laurel.scoring.v1 import scoring_pb2 as sc
from laurel.scoring.v1 import scoring_pb2_grpc

T = TypeVar("T")
PLAN_FILE = Path(__file__).parent / "campaign.yaml"
HOTLINE = Actor("hotline-12320", "service", "health-hotline")
SPREAD = (4, 2, 0, -2, -6)  # reviewers (sorted by id) around a `spread` score
CASE_PDF = b"%PDF-1.4\n% typical case: a warm-service story\n" + b"0" * 512
Say = Callable[[str], None]
STEPS = 10  # the numbered steps run_campaign narrates (the demo's progress bar)


# -- the plan -------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    index: int
    hospital: str
    category: str
    nominee: str
    score: int
    spread: bool = False
    department: str = ""
    returned: Mapping[str, str] | None = None

    @property
    def email(self) -> str:
        return f"n{self.index:02d}@{self.hospital}.example.cn"


@dataclass(frozen=True)
class Plan:
    campaign_id: str
    entries: list[Entry]
    complaint: Mapping[str, str]
    reviewers: list[Mapping[str, Any]]

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(e.category for e in self.entries))


def load_plan(size: int = 20) -> Plan:
    data = yaml.safe_load(PLAN_FILE.read_text(encoding="utf-8"))
    rows = data["nominations"]
    if not 1 <= size <= len(rows):
        raise ValueError(f"size must be 1..{len(rows)}, not {size}")
    entries = [Entry(i + 1, **row) for i, row in enumerate(rows[:size])]
    return Plan(data["campaign_id"], entries, data["complaint"], data["reviewers"])


def round_id(campaign_id: str, category: str) -> str:
    return f"{campaign_id}-{category}-r1"


def nominator(hospital: str) -> Actor:
    return Actor(f"nominator-{hospital}", "nominator", hospital)


def endorser(commission: str) -> Actor:
    return Actor(f"endorser-{commission}", "endorser", commission)


def reviewer(reviewer_id: str) -> Actor:
    return Actor(reviewer_id, "reviewer", "")


# -- the APIs -------------------------------------------------------------------


@dataclass
class Apis:
    intake: intake_pb2_grpc.IntakeServiceStub
    scoring: scoring_pb2_grpc.ScoringServiceStub
    review: review_pb2_grpc.ReviewServiceStub
    notification: notification_pb2_grpc.NotificationServiceStub


@asynccontextmanager
async def connect(endpoints: Mapping[str, str]) -> AsyncIterator[Apis]:
    """Stubs of the four services at `endpoints` (service name -> host:port)."""
    channels = {s: client_channel(endpoints[s])
                for s in ("intake", "scoring", "review", "notification")}
    try:
        yield Apis(intake_pb2_grpc.IntakeServiceStub(channels["intake"]),
                   scoring_pb2_grpc.ScoringServiceStub(channels["scoring"]),
                   review_pb2_grpc.ReviewServiceStub(channels["review"]),
                   notification_pb2_grpc.NotificationServiceStub(
                       channels["notification"]))
    finally:
        for channel in channels.values():
            await channel.close()


def md(actor: Actor) -> tuple[tuple[str, str], ...]:
    return call_metadata(actor)


async def until(probe: Callable[[], Awaitable[T | None]], what: str,
                timeout: float = 45.0) -> T:
    """Poll until `probe` answers something truthy (NOT_FOUND counts as not yet)."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            found = await probe()
        except grpc.aio.AioRpcError as error:
            if error.code() not in (grpc.StatusCode.NOT_FOUND,
                                    grpc.StatusCode.FAILED_PRECONDITION):
                raise
            found, last = None, f" (last answer: {error.code().name} {error.details()})"
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s{last}")
        await asyncio.sleep(0.1)


# -- what the run found -----------------------------------------------------------


@dataclass
class CampaignRun:
    plan: Plan
    ids: dict[int, str] = field(default_factory=dict)  # entry index -> nomination id
    registered_organizations: int = 0
    # The returned-and-corrected nomination: GetNomination as answered, and when.
    tracked: str = ""
    observed: list[tuple[datetime, ip.GetNominationResponse]] = field(default_factory=list)
    assignments: dict[str, list[rv.Assignment]] = field(default_factory=dict)
    conflict_explained: rv.ExplainAssignmentResponse | None = None
    declared_conflict_explained: rv.ExplainAssignmentResponse | None = None
    recusal: rv.RecuseResponse | None = None
    recused_nomination: str = ""
    complaint_ack: sc.RecordComplaintResponse | None = None
    flipped: sc.GetEligibilityResponse | None = None
    # Before submitting: what a reviewer read of a nomination another had scored.
    blind_before: rv.GetReviewsResponse | None = None
    blind_after: rv.GetReviewsResponse | None = None
    blind_reader: str = ""
    reviews_submitted: int = 0
    rankings: dict[str, sc.GetRankingResponse] = field(default_factory=dict)
    breakdowns: dict[str, sc.GetScoreBreakdownResponse] = field(default_factory=dict)
    published: dict[str, rv.PublishResultsResponse] = field(default_factory=dict)
    approved: list[np_.ApproveNotificationBatchResponse] = field(default_factory=list)
    deliveries: list[np_.EmailDelivery] = field(default_factory=list)

    def entry_of(self, nomination_id: str) -> Entry:
        index = {v: k for k, v in self.ids.items()}[nomination_id]
        return self.plan.entries[index - 1]

    def of_category(self, category: str) -> list[str]:
        return [self.ids[e.index] for e in self.plan.entries if e.category == category]


async def observe(apis: Apis, run: CampaignRun) -> None:
    """GetNomination of the tracked nomination now, with the moment it answered."""
    await asyncio.sleep(0.01)  # the moment falls strictly between two changes
    answer = await apis.intake.GetNomination(
        ip.GetNominationRequest(nomination_id=run.tracked), metadata=md(ORGANIZER))
    run.observed.append((datetime.now(UTC), answer))
    await asyncio.sleep(0.01)


# -- the stages -------------------------------------------------------------------


async def register_organizations(apis: Apis, plan: Plan) -> int:
    """The Henan tree, and the departments the warm-service posts belong to."""
    orgs = [ip.RegisterOrganizationRequest(**o) for o in demo_organizations()]
    orgs += [ip.RegisterOrganizationRequest(organization_id=e.department, kind="department",
                             name=e.nominee, parent_id=e.hospital)
             for e in plan.entries if e.department]
    registered = 0
    for org in orgs:
        try:
            await apis.intake.RegisterOrganization(org, metadata=md(ORGANIZER))
            registered += 1
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
    await apis.intake.SetCampaignClock(campaign_clock_request(plan.campaign_id),
                                       metadata=md(ORGANIZER))
    return registered


async def move_clock(apis: Apis, plan: Plan, now: datetime) -> None:
    """Move the campaign's clock (intake publishes it; the other services
    note it and keep to its stages: the next act of a stage waits, in
    `until`, while a service still refuses it as out of stage)."""
    await apis.intake.SetCampaignClock(campaign_clock_request(plan.campaign_id, now),
                                       metadata=md(ORGANIZER))


@functools.cache
def henan() -> Any:
    return load_catalog(SHIPPED_DIR)["henan-2021"]


@functools.cache
def hospital_names() -> dict[str, str]:
    return {o["organization_id"]: o["name"] for o in demo_organizations()}


def nomination_form(entry: Entry) -> ip.SubmitNominationRequest:
    """A complete form from the definition, with this nominee's own names and
    address (single-measure forms carry a phone number, no e-mail)."""
    category = henan().category(entry.category)
    wanted = {
        "hospital_name": hospital_names()[entry.hospital],
        "recommending_unit.name": hospital_names()[entry.hospital],
        "contact.email": entry.email,  # ten-measures benchmark
        "email": entry.email,  # warm-service post, leader
        "department_name": entry.nominee,
        "manager.name": entry.nominee,
        "measure_name": entry.nominee.split()[-1],
    }
    fields = specimen_fields(category)
    fields.update({k: v for k, v in wanted.items() if k in fields})
    return ip.SubmitNominationRequest(
        campaign_id="henan-2021", category=entry.category,
        nominee=ip.Nominee(kind=category.nominee_kind, name=entry.nominee,
                           organization_id=entry.department or entry.hospital),
        fields=fields)


async def nominate(apis: Apis, run: CampaignRun, say: Say) -> None:
    """Every hospital submits; warm-service posts attach their case file."""
    for entry in run.plan.entries:
        by = nominator(entry.hospital)
        reply = await apis.intake.SubmitNomination(nomination_form(entry),
                                                   metadata=md(by))
        run.ids[entry.index] = reply.nomination_id
        if entry.category == "warm_service_post":
            await apis.intake.AttachEvidence(ip.AttachEvidenceRequest(
                nomination_id=reply.nomination_id, filename="典型案例.pdf",
                media_type="application/pdf", kind="case", content=CASE_PDF),
                metadata=md(by))
        if entry.returned and not run.tracked:
            run.tracked = reply.nomination_id
            await observe(apis, run)
        say(f"   {by.id} submitted [{entry.category}] {entry.nominee} -> "
            f"{reply.nomination_id[:8]}")


async def route_to_center(apis: Apis, run: CampaignRun, say: Say) -> None:
    """Commissions return (once), endorse and forward; the center receives all."""
    for entry in run.plan.entries:
        nid = run.ids[entry.index]
        got = await apis.intake.GetNomination(
            ip.GetNominationRequest(nomination_id=nid), metadata=md(ORGANIZER))
        if got.route_to == "commission":
            commission = endorser(got.route_organization_id)
            if entry.returned:
                await apis.intake.ReturnNomination(ip.ReturnNominationRequest(
                    nomination_id=nid, reasons=[entry.returned["reason"]]),
                    metadata=md(commission))
                say(f"   {commission.id} returned {entry.nominee}: "
                    f"“{entry.returned['reason']}”")
                await _observe_if_tracked(apis, run, nid)
                await apis.intake.ResubmitNomination(ip.ResubmitNominationRequest(
                    nomination_id=nid,
                    fields={entry.returned["field"]: entry.returned["corrected"]}),
                    metadata=md(nominator(entry.hospital)))
                say(f"   {nominator(entry.hospital).id} corrected "
                    f"{entry.returned['field']} and resubmitted")
                await _observe_if_tracked(apis, run, nid)
            await apis.intake.EndorseNomination(ip.EndorseNominationRequest(
                nomination_id=nid, opinion="经审核，同意推荐。"), metadata=md(commission))
            await _observe_if_tracked(apis, run, nid)
            await apis.intake.ForwardNomination(ip.ForwardNominationRequest(nomination_id=nid),
                                                metadata=md(commission))
            await _observe_if_tracked(apis, run, nid)
            say(f"   {commission.id} endorsed and forwarded {entry.nominee}")
        await apis.intake.ReceiveNomination(ip.ReceiveNominationRequest(nomination_id=nid),
                                            metadata=md(ORGANIZER))
        await _observe_if_tracked(apis, run, nid)


async def _observe_if_tracked(apis: Apis, run: CampaignRun, nomination_id: str) -> None:
    if nomination_id == run.tracked:
        await observe(apis, run)


async def await_eligibility(apis: Apis, run: CampaignRun) -> dict[str, sc.GetEligibilityResponse]:
    """Scoring heard of every received nomination and decided its rules."""
    found: dict[str, sc.GetEligibilityResponse] = {}

    async def all_evaluated() -> bool:
        for nid in run.ids.values():
            if nid not in found:
                got = await apis.scoring.GetEligibility(
                    sc.GetEligibilityRequest(nomination_id=nid), metadata=md(ORGANIZER))
                if not got.evaluated:
                    return False
                found[nid] = got
        return True

    await until(all_evaluated, "scoring's verdicts on every received nomination")
    return found


async def register_reviewers(apis: Apis, plan: Plan) -> None:
    for r in plan.reviewers:
        await apis.review.RegisterReviewer(rv.RegisterReviewerRequest(
            reviewer_id=r["id"], name=r["name"], organization_id=r["organization"],
            jurisdiction_id=r.get("jurisdiction", ""), group=r["group"],
            email=f"{r['id']}@reviewers.example.cn"), metadata=md(ORGANIZER))
        if "declares" in r:
            await apis.review.DeclareConflict(rv.DeclareConflictRequest(
                reviewer_id=r["id"], subject_id=r["declares"]["subject"],
                reason=r["declares"]["reason"]), metadata=md(reviewer(r["id"])))


async def assign_panels(apis: Apis, run: CampaignRun, say: Say) -> None:
    """A panel per category round; k reviewers per nominee, conflicts excluded."""
    plan = run.plan
    members = [r["id"] for r in plan.reviewers]
    for category in plan.categories:
        rid = round_id(plan.campaign_id, category)

        async def formed(rid: str = rid, category: str = category) -> bool:
            try:
                await apis.review.FormPanel(rv.FormPanelRequest(
                    campaign_id=plan.campaign_id, category=category, round_id=rid,
                    members=members, seed=rid), metadata=md(ORGANIZER))
            except grpc.aio.AioRpcError as error:  # formed by an earlier attempt
                if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                    raise
            return True

        await until(formed, f"review forming the {category} panel in the evaluation")

        async def assigned(rid: str = rid, category: str = category
                           ) -> list[rv.Assignment]:
            made = await apis.review.AssignReviewers(rv.AssignReviewersRequest(
                round_id=rid, nomination_ids=run.of_category(category)),
                metadata=md(ORGANIZER))
            return list(made.assignments)

        run.assignments[rid] = await until(assigned, f"review knowing {category}")
        say(f"   {rid}: {len(run.assignments[rid])} assignments for "
            f"{len(run.of_category(category))} nominees")
    await _explain_conflicts(apis, run, say)
    deadline = Timestamp()
    deadline.FromDatetime(datetime.now(UTC) + timedelta(days=7))
    for rid in run.assignments:
        await apis.review.OpenRound(
            rv.OpenRoundRequest(round_id=rid, deadline=deadline), metadata=md(ORGANIZER))


async def _explain_conflicts(apis: Apis, run: CampaignRun, say: Say) -> None:
    declared = {r["declares"]["subject"]: r["id"] for r in run.plan.reviewers
                if "declares" in r}
    for entry in run.plan.entries:
        rid = round_id(run.plan.campaign_id, entry.category)
        explained = await apis.review.ExplainAssignment(rv.ExplainAssignmentRequest(
            round_id=rid, nomination_id=run.ids[entry.index]), metadata=md(ORGANIZER))
        for line in explained.lines:
            if line.status != "conflict":
                continue
            if entry.hospital in declared and run.declared_conflict_explained is None:
                run.declared_conflict_explained = explained
            elif run.conflict_explained is None and entry.hospital not in declared:
                run.conflict_explained = explained
            say(f"   {line.reviewer_id} does not score {entry.nominee}: {line.reason}")


async def recuse_one(apis: Apis, run: CampaignRun, say: Say) -> None:
    """A media reviewer steps out of one nomination; another takes the place."""
    entry = run.plan.entries[0]
    nid, rid = run.ids[entry.index], round_id(run.plan.campaign_id, entry.category)
    [media] = [a.reviewer_id for a in run.assignments[rid]
               if a.nomination_id == nid and a.group == "media"]
    run.recusal = await apis.review.Recuse(rv.RecuseRequest(
        round_id=rid, nomination_id=nid, reason="曾采访报道过该单位"),
        metadata=md(reviewer(media)))
    run.recused_nomination = nid
    run.assignments[rid] = [a for a in run.assignments[rid]
                            if (a.nomination_id, a.reviewer_id) != (nid, media)]
    run.assignments[rid].append(run.recusal.replacement)
    say(f"   {media} recused from {entry.nominee}; "
        f"{run.recusal.replacement.reviewer_id} steps in")


async def file_complaint(apis: Apis, run: CampaignRun, say: Say) -> None:
    """The hotline's complaint reaches the registry; the post it names flips."""
    c = run.plan.complaint
    run.complaint_ack = await apis.scoring.RecordComplaint(sc.RecordComplaintRequest(
        entry_id=c["entry_id"], subject_kind="department", subject_id=c["against"],
        occurred_on=c["occurred_on"], source=c["source"], summary=c["summary"]),
        metadata=md(HOTLINE))
    [flipped] = [run.ids[e.index] for e in run.plan.entries
                 if e.department == c["against"]]
    run.flipped = await apis.scoring.GetEligibility(
        sc.GetEligibilityRequest(nomination_id=flipped), metadata=md(ORGANIZER))
    reasons = [v.reason for v in run.flipped.verdicts if v.decision == "ineligible"]
    say(f"   {HOTLINE.id} filed {c['entry_id']} against {c['against']}: "
        f"eligible={run.flipped.eligible} ({'; '.join(reasons)})")


def score_of(entry: Entry, position: int) -> int:
    return entry.score + (SPREAD[position % len(SPREAD)] if entry.spread else 0)


async def score_blind(apis: Apis, run: CampaignRun, say: Say) -> None:
    """Each reviewer reads the nomination and scores every criterion, blind."""
    for rid, assignments in run.assignments.items():
        by_nomination: dict[str, list[str]] = {}
        for a in assignments:
            by_nomination.setdefault(a.nomination_id, []).append(a.reviewer_id)
        for nid, reviewers in sorted(by_nomination.items()):
            entry = run.entry_of(nid)
            for position, who in enumerate(sorted(reviewers)):
                as_reviewer = md(reviewer(who))
                if position == 1 and not run.blind_reader:
                    run.blind_reader = who
                    run.blind_before = await apis.review.GetReviews(
                        rv.GetReviewsRequest(round_id=rid, nomination_id=nid),
                        metadata=as_reviewer)
                form = await apis.review.GetNominationForReview(
                    rv.GetNominationForReviewRequest(round_id=rid, nomination_id=nid),
                    metadata=as_reviewer)
                value = str(score_of(entry, position))
                await apis.review.SubmitReview(rv.SubmitReviewRequest(
                    round_id=rid, nomination_id=nid,
                    scores={c.key: value for c in form.criteria},
                    comment="材料翔实，成效明显。"), metadata=as_reviewer)
                run.reviews_submitted += 1
                if who == run.blind_reader and run.blind_after is None:
                    run.blind_after = await apis.review.GetReviews(rv.GetReviewsRequest(
                        round_id=rid, nomination_id=nid), metadata=as_reviewer)
    before = run.blind_before
    assert before is not None, "a nomination with two reviewers was scored"
    say(f"   {run.reviews_submitted} review forms submitted; before submitting, "
        f"{run.blind_reader} saw {len(before.reviews)} of the others' forms "
        f"({before.withheld} withheld)")


async def close_and_rank(apis: Apis, run: CampaignRun, say: Say) -> None:
    """Closing a round makes scoring rank it: trimmed, weighted, ties broken."""
    for category in run.plan.categories:
        rid = round_id(run.plan.campaign_id, category)
        await apis.review.CloseRound(rv.CloseRoundRequest(round_id=rid),
                                     metadata=md(ORGANIZER))
        asked = sc.GetRankingRequest(campaign_id=run.plan.campaign_id,
                                     category=category, round_id=rid)
        async def ranked(asked: sc.GetRankingRequest = asked) -> sc.GetRankingResponse:
            reply: sc.GetRankingResponse = await apis.scoring.GetRanking(
                asked, metadata=md(ORGANIZER))
            return reply

        ranking = await until(ranked, f"scoring's ranking of {rid}")
        run.rankings[category] = ranking
        for e in ranking.entries:
            entry = run.entry_of(e.nomination_id)
            tie = f"  (tie broken by {e.decided_by})" if e.decided_by not in (
                "", "score") else ""
            say(f"   {category} #{e.rank} {entry.nominee}: {e.score_display} "
                f"{e.tier or '-'}{tie}")
        for x in ranking.ineligible:
            say(f"   {category} not ranked: {run.entry_of(x.nomination_id).nominee}: "
                f"{x.reason}")
    for entry in run.plan.entries:
        if entry.spread:
            run.breakdowns[run.ids[entry.index]] = await apis.scoring.GetScoreBreakdown(
                sc.GetScoreBreakdownRequest(
                    nomination_id=run.ids[entry.index],
                    round_id=round_id(run.plan.campaign_id, entry.category)),
                metadata=md(ORGANIZER))


async def decide_and_publish(apis: Apis, run: CampaignRun, say: Say) -> None:
    """The organizer decides on the ranking review heard of (in the
    evaluation) and publishes (in the forums and awards)."""
    for category, ranking in run.rankings.items():
        rid = round_id(run.plan.campaign_id, category)

        async def noted(rid: str = rid, version: int = ranking.version) -> bool:
            got = await apis.review.GetRound(rv.GetRoundRequest(round_id=rid),
                                             metadata=md(ORGANIZER))
            return bool(got.latest_result_version == version)

        await until(noted, f"review noting scoring's result of {rid}")
        for e in ranking.entries:
            outcome = "award" if e.tier else "not_awarded"
            reason = (f"第{e.rank}名，得分{e.score_display}" if e.tier
                      else f"得分{e.score_display}，未达到获奖分数线")
            await apis.review.RecordDecision(rv.RecordDecisionRequest(
                round_id=rid, nomination_id=e.nomination_id, outcome=outcome,
                reason=reason, result_version=ranking.version), metadata=md(ORGANIZER))
        for x in ranking.ineligible:
            await apis.review.RecordDecision(rv.RecordDecisionRequest(
                round_id=rid, nomination_id=x.nomination_id, outcome="not_awarded",
                reason=f"不符合参评条件：{x.reason}", result_version=ranking.version),
                metadata=md(ORGANIZER))
    say(f"   the campaign clock moves to the forums and awards ({FORUMS_NOW:%Y-%m-%d})")
    await move_clock(apis, run.plan, FORUMS_NOW)
    for category in run.rankings:
        rid = round_id(run.plan.campaign_id, category)

        async def published(rid: str = rid) -> rv.PublishResultsResponse:
            reply: rv.PublishResultsResponse = await apis.review.PublishResults(
                rv.PublishResultsRequest(round_id=rid), metadata=md(ORGANIZER))
            return reply

        run.published[category] = await until(published, f"publishing {rid}")
        say(f"   {rid}: {run.published[category].decisions} decisions published "
            f"(result version {run.published[category].result_version})")


async def approve_results(apis: Apis, run: CampaignRun, say: Say) -> None:
    """Results wait in notification's approval outbox until the organizer approves."""
    approved: set[str] = set()

    async def every_batch() -> bool:
        pending = await apis.notification.ListPendingBatches(
            np_.ListPendingBatchesRequest(campaign_id=run.plan.campaign_id),
            metadata=md(ORGANIZER))
        for batch in pending.batches:
            if batch.kind == "results" and batch.batch_id not in approved:
                reply = await apis.notification.ApproveNotificationBatch(
                    np_.ApproveNotificationBatchRequest(batch_id=batch.batch_id),
                    metadata=md(ORGANIZER))
                approved.add(batch.batch_id)
                run.approved.append(reply)
                say(f"   {ORGANIZER.id} approved results batch {batch.batch_id[:8]}: "
                    f"{reply.released} notifications released")
        return len(approved) >= len(run.published)

    await until(every_batch, "notification holding every round's results")


async def await_mail(apis: Apis, run: CampaignRun, say: Say) -> None:
    """Every e-mail settled: each assignment's (the recused one's too) and each
    result whose nominee's form has an address (single-measure forms have none)."""
    wanted = {
        "results": sum(e.category != "single_measure_benchmark"
                       for e in run.plan.entries),
        "reviewer_assigned": (sum(map(len, run.assignments.values()))
                              + bool(run.recusal)),
    }

    async def settled() -> list[np_.EmailDelivery]:
        found = await apis.notification.ListEmailDeliveries(
            np_.ListEmailDeliveriesRequest(page_size=500), metadata=md(ORGANIZER))
        rows = list(found.deliveries)
        busy = [d for d in rows if d.status in ("queued", "sending", "retrying")]
        done = all(sum(d.kind == kind for d in rows) >= count
                   for kind, count in wanted.items())
        seen.clear()
        seen.update(Counter(f"{d.kind}/{d.status}" for d in rows))
        return rows if done and not busy else []

    seen: Counter[str] = Counter()
    try:
        run.deliveries = await until(settled, "every e-mail delivered", timeout=90)
    except TimeoutError as error:
        raise TimeoutError(f"{error}; wanted {wanted}, have {dict(seen)}") from None
    kinds: dict[str, int] = {}
    for d in run.deliveries:
        kinds[d.kind] = kinds.get(d.kind, 0) + 1
    say("   " + ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())))


# -- the whole campaign -------------------------------------------------------------


async def run_campaign(apis: Apis, size: int = 20, say: Say = lambda _: None
                       ) -> CampaignRun:
    run = CampaignRun(load_plan(size))
    say("1. organizations, the expert pool and the campaign clock (2021-11-25)")
    run.registered_organizations = await register_organizations(apis, run.plan)
    # Reviewers first: notification learns their e-mail addresses from review's
    # registrations, long before any assignment asks for one.
    await register_reviewers(apis, run.plan)
    say(f"   {run.registered_organizations} organizations and "
        f"{len(run.plan.reviewers)} reviewers registered")
    say(f"2. {size} nominations across {len(run.plan.categories)} categories (intake)")
    await nominate(apis, run, say)
    say("3. commissions endorse and forward; the center receives (intake)")
    await route_to_center(apis, run, say)
    verdicts = await await_eligibility(apis, run)
    say(f"   {ORGANIZER.id} received all {len(run.ids)}; scoring heard over Kafka and "
        f"found {sum(v.eligible for v in verdicts.values())} eligible")
    await observe(apis, run)
    say(f"4. the expert evaluation ({EVALUATION_NOW:%Y-%m-%d}): panels and assignment "
        "without conflicts (review)")
    await move_clock(apis, run.plan, EVALUATION_NOW)
    await assign_panels(apis, run, say)
    await recuse_one(apis, run, say)
    say("5. a complaint mid-stage (scoring's compliance registry)")
    await file_complaint(apis, run, say)
    say("6. blind scoring (review)")
    await score_blind(apis, run, say)
    say("7. rounds closed, rankings computed (scoring)")
    await close_and_rank(apis, run, say)
    say("8. decisions recorded and results published (review)")
    await decide_and_publish(apis, run, say)
    await observe(apis, run)
    say("9. the organizer approves the results notifications (notification)")
    await approve_results(apis, run, say)
    say("10. e-mails delivered to the SMTP sink")
    await await_mail(apis, run, say)
    return run
