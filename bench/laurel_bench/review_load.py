"""The client side of workload 6 after reception: scoring, review, results.

Run in child processes (`worker`), one function per stage, each timing itself
with the `Meter` from its first call to the moment the stage's outcome is
visible through the services' public gRPC APIs (as `laurel.demo.campaign`
drives them, with each actor's development token):

- `eligibility`: scoring's verdict on every received nomination (GetEligibility);
- `reviewers`: RegisterReviewer for a pool per panel group;
- `panels`: FormPanel and AssignReviewers (in chunks) for the nominations given;
- `open_round`: OpenRound;
- `reviews`: every reviewer lists their assignments, reads the form's criteria
  once and submits one blind SubmitReview per assignment, `concurrency` at a time;
- `close_and_rank`: CloseRound, then until scoring's ranking covers the whole
  round (it ranks on hearing the round closed, over Kafka), then an explicit
  ComputeResults and GetRanking;
- `decide_and_publish`: until review knows the result version, RecordDecision per
  ranked (and ineligible) nomination, then PublishResults;
- `results_notifications`: until notification holds the results batch, approve
  it, then until every nominator's inbox shows the result.

Calls a service refuses with UNAVAILABLE (a restart, say) are retried after a
pause and counted; every other refusal is counted and reported, never hidden.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc

from laurel_bench.common import Meter
from laurel_bench.load import (
    ORGANIZER,
    RPC_TIMEOUT,
    Submissions,
    _bounded,
    _latency_summary,
    commissions,
    metadata_for,
    nomination_id_for,
)

T = TypeVar("T")
CAMPAIGN = "henan-2021"
NOT_YET = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION)
RETRY = (grpc.StatusCode.UNAVAILABLE,)  # ABORTED only answers a stale expected_version
LONG_TIMEOUT = 300.0  # one call over a whole round (assignment chunks, ranking)


def round_id(category: str) -> str:
    return f"{CAMPAIGN}-{category}-r1"


def reviewer_pool(tag: str, per_group: dict[str, int]) -> list[dict[str, str]]:
    """Reviewers per group; managers each belong to one commission's area."""
    juris = commissions()
    pool = []
    for group, count in per_group.items():
        for i in range(count):
            rid = f"bench-{tag}-{group[:3]}-{i:02d}"
            pool.append({"reviewer_id": rid, "name": f"评审专家{group[:3]}{i}",
                         "organization_id": f"bench-{tag}-{group[:3]}-org-{i:02d}",
                         "jurisdiction_id": juris[i % len(juris)]
                         if group == "hospital_manager" else "",
                         "group": group, "email": f"{rid}@reviewers.example.cn"})
    return pool


def score_for(nomination_id: str, reviewer_id: str, max_score: str) -> str:
    """A deterministic score between 60% and 100% of the criterion's maximum."""
    top = float(max_score or 10)
    h = int(hashlib.sha256(f"{nomination_id}:{reviewer_id}".encode()).hexdigest()[:8], 16)
    return str(int(round(top * (0.6 + 0.4 * h / 0xFFFFFFFF))))


class Calls:
    """Counts, first error and latencies of one stage's calls."""

    def __init__(self) -> None:
        self.errors: Counter[str] = Counter()
        self.first_error = ""
        self.retries = 0
        self.latencies: list[float] = []

    async def call(self, method: Any, request: Any, md: Any,
                   timeout: float = RPC_TIMEOUT, attempts: int = 5) -> Any:
        for attempt in range(attempts):
            began = time.perf_counter()
            try:
                reply = await method(request, metadata=md, timeout=timeout)
                self.latencies.append(time.perf_counter() - began)
                return reply
            except grpc.aio.AioRpcError as error:
                if error.code() in RETRY and attempt + 1 < attempts:
                    self.retries += 1
                    await asyncio.sleep(0.5 * (attempt + 1))
                    continue
                self.errors[error.code().name] += 1
                if not self.first_error:
                    self.first_error = f"{error.code().name}: {error.details()}"
                return None
        return None

    def result(self, meter: Meter, **extra: Any) -> dict[str, Any]:
        ok = len(self.latencies)
        return meter.result(ok=ok, errors=dict(self.errors), retries=self.retries,
                            first_error=self.first_error, **_latency_summary(
                                self.latencies), **extra)


async def until(probe: Callable[[], Awaitable[T | None]], what: str,
                timeout: float = 300.0, pause: float = 0.2) -> T:
    """Poll until `probe` answers something truthy (NOT_FOUND etc.: not yet)."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            found = await probe()
        except grpc.aio.AioRpcError as error:
            if error.code() not in (*NOT_YET, *RETRY):
                raise
            found, last = None, f" (last answer: {error.code().name} {error.details()})"
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s{last}")
        await asyncio.sleep(pause)


def _stubs(address: str, service: str) -> tuple[grpc.aio.Channel, Any]:
    module = __import__(f"laurel.{service}.v1.{service}_pb2_grpc", fromlist=["x"])
    channel = grpc.aio.insecure_channel(address, options=[
        ("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    stub = getattr(module, f"{service.capitalize()}ServiceStub")(channel)
    return channel, stub


def _run(coroutine: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


# -- eligibility -------------------------------------------------------------------


def eligibility(scoring: str, tag: str, count: int, concurrency: int = 8,
                timeout: float = 300.0, data_dir: str = "") -> dict:
    """Until scoring has a verdict on nominations 0..count-1; which are eligible.

    With the stack's `data_dir`, first waits on scoring's consumer position:
    until scoring has recorded every event intake published as applied (its
    `applied_positions` for upstream `intake` against intake's outbox; a
    verdict commits with its event's mark), read from the two SQLite files
    every 20 ms. Then one pass of GetEligibility collects the verdicts (more
    passes only if some are still missing), instead of asking for every
    pending nomination over and over while scoring works."""
    return _run(_eligibility(scoring, tag, count, concurrency, timeout, data_dir))


def _scoring_heard_all_of_intake(data_dir: str, consumer: str = "scoring"
                                 ) -> tuple[int, int]:
    """(intake events published, of them applied or ignored by `consumer`)."""
    import sqlite3
    from pathlib import Path

    def count(db: str, sql: str) -> int:
        conn = sqlite3.connect(f"file:{Path(data_dir) / db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()

    published = count("intake.sqlite", "SELECT count(*) FROM outbox")
    heard = count(f"{consumer}.sqlite",
                  "SELECT count(*) FROM applied_positions WHERE upstream = 'intake'")
    return published, heard


# The campaign stages the review acts need (henan-2021's definition): panels,
# rounds, scores and decisions in the expert evaluation, publishing in the
# forums and awards stage.
EVALUATION_CLOCK = "2021-12-02T02:00:00+00:00"
AWARDS_CLOCK = "2022-01-02T02:00:00+00:00"
CLOCK_FOLLOWERS = ("scoring", "review", "notification")


def campaign_clock(intake: str, moment: str, data_dir: str, timeout: float = 300.0) -> dict:
    """Move the campaign clock (intake's development-only SetCampaignClock)
    and wait until scoring, review and notification heard it: every event
    intake published recorded in their applied_positions."""
    return _run(_campaign_clock(intake, moment, data_dir, timeout))


async def _campaign_clock(intake: str, moment: str, data_dir: str, timeout: float) -> dict:
    from google.protobuf.timestamp_pb2 import Timestamp

    from laurel.intake.v1 import intake_pb2

    channel, stub = _stubs(intake, "intake")
    now = Timestamp()
    now.FromDatetime(datetime.fromisoformat(moment))
    with Meter() as meter:
        await stub.SetCampaignClock(
            intake_pb2.SetCampaignClockRequest(campaign_id=CAMPAIGN, now=now),
            metadata=metadata_for(ORGANIZER), timeout=RPC_TIMEOUT)
        deadline = time.perf_counter() + timeout
        for consumer in CLOCK_FOLLOWERS:
            while True:
                published, heard = await asyncio.to_thread(
                    _scoring_heard_all_of_intake, data_dir, consumer)
                if published and heard >= published:
                    break
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{consumer} did not hear the campaign clock "
                                       f"({heard} of {published} intake events)")
                await asyncio.sleep(0.02)
    await channel.close()
    return meter.result(moment=moment, ok=1)


async def _eligibility(scoring: str, tag: str, count: int, concurrency: int,
                       timeout: float, data_dir: str) -> dict:
    from laurel.scoring.v1 import scoring_pb2 as sc

    channel, stub = _stubs(scoring, "scoring")
    organizer = metadata_for(ORGANIZER)
    pending = {nomination_id_for(tag, i) for i in range(count)}
    verdicts: dict[str, bool] = {}
    passes = 0
    signal_seconds = None
    with Meter() as meter:
        started = time.perf_counter()
        deadline = started + timeout
        if data_dir:
            while time.perf_counter() < deadline:
                published, heard = await asyncio.to_thread(
                    _scoring_heard_all_of_intake, data_dir)
                if published and heard >= published:
                    break
                await asyncio.sleep(0.02)
            signal_seconds = round(time.perf_counter() - started, 3)
        while pending and time.perf_counter() < deadline:
            passes += 1

            async def check(nid: str) -> None:
                try:
                    got = await stub.GetEligibility(
                        sc.GetEligibilityRequest(nomination_id=nid), metadata=organizer,
                        timeout=RPC_TIMEOUT)
                except grpc.aio.AioRpcError as error:
                    if error.code() in (*NOT_YET, *RETRY):
                        return
                    raise
                if got.evaluated:
                    verdicts[nid] = got.eligible
                    pending.discard(nid)

            await _bounded([check(n) for n in sorted(pending)], concurrency)
            if pending:
                await asyncio.sleep(0.2)
    await channel.close()
    order = [nomination_id_for(tag, i) for i in range(count)]
    return meter.result(evaluated=len(verdicts), missing=len(pending), passes=passes,
                        consumer_position_wait_s=signal_seconds,
                        eligible=[i for i, n in enumerate(order) if verdicts.get(n)],
                        ineligible=sum(1 for v in verdicts.values() if not v))


# -- reviewers, panels, rounds ---------------------------------------------------


def reviewers(review: str, tag: str, per_group: dict[str, int],
              concurrency: int = 8) -> dict:
    return _run(_reviewers(review, tag, per_group, concurrency))


async def _reviewers(review: str, tag: str, per_group: dict[str, int],
                     concurrency: int) -> dict:
    from laurel.review.v1 import review_pb2 as rv

    channel, stub = _stubs(review, "review")
    calls = Calls()
    organizer = metadata_for(ORGANIZER)
    pool = reviewer_pool(tag, per_group)
    with Meter() as meter:
        await _bounded([calls.call(stub.RegisterReviewer, rv.RegisterReviewerRequest(**r),
                                   organizer)
                        for r in pool], concurrency)
    await channel.close()
    return calls.result(meter, reviewers=len(pool),
                        rate=len(calls.latencies) / meter.seconds)


def panels(review: str, tag: str, category: str, per_group: dict[str, int],
           indices: list[int], chunk: int = 250) -> dict:
    """FormPanel for the category's round, then AssignReviewers, `chunk` at a time
    (waiting, per chunk, until review has heard of those nominations)."""
    return _run(_panels(review, tag, category, per_group, indices, chunk))


async def _panels(review: str, tag: str, category: str, per_group: dict[str, int],
                  indices: list[int], chunk: int) -> dict:
    from laurel.review.v1 import review_pb2 as rv

    channel, stub = _stubs(review, "review")
    organizer = metadata_for(ORGANIZER)
    rid = round_id(category)
    members = [r["reviewer_id"] for r in reviewer_pool(tag, per_group)]
    ids = [nomination_id_for(tag, i) for i in indices]
    assigned: Counter[str] = Counter()
    chunk_seconds = []
    with Meter() as meter:
        await stub.FormPanel(rv.FormPanelRequest(
            campaign_id=CAMPAIGN, category=category, round_id=rid, members=members,
            seed=rid), metadata=organizer, timeout=RPC_TIMEOUT)
        for start in range(0, len(ids), chunk):
            part = ids[start:start + chunk]
            began = time.perf_counter()

            async def assign(part: list[str] = part) -> Any:
                return await stub.AssignReviewers(rv.AssignReviewersRequest(
                    round_id=rid, nomination_ids=part), metadata=organizer,
                    timeout=LONG_TIMEOUT)

            made = await until(assign, f"review knowing nominations {start}..")
            chunk_seconds.append(time.perf_counter() - began)
            assigned.update(a.group for a in made.assignments)
    await channel.close()
    total = sum(assigned.values())
    return meter.result(ok=len(ids), assignments=total, by_group=dict(assigned),
                        chunk=chunk, chunk_seconds=chunk_seconds,
                        rate=len(ids) / meter.seconds)


def open_round(review: str, category: str) -> dict:
    return _run(_open_round(review, category))


async def _open_round(review: str, category: str) -> dict:
    from google.protobuf.timestamp_pb2 import Timestamp

    from laurel.review.v1 import review_pb2 as rv

    channel, stub = _stubs(review, "review")
    deadline = Timestamp()
    deadline.FromDatetime(datetime.now(UTC) + timedelta(days=7))
    with Meter() as meter:
        await stub.OpenRound(rv.OpenRoundRequest(round_id=round_id(category),
                                                 deadline=deadline),
                             metadata=metadata_for(ORGANIZER), timeout=LONG_TIMEOUT)
    await channel.close()
    return meter.result(ok=1)


# -- blind reviews -----------------------------------------------------------------


def reviews(review: str, tag: str, category: str, per_group: dict[str, int],
            concurrency: int = 8) -> dict:
    return _run(_reviews(review, tag, category, per_group, concurrency))


async def _reviews(review: str, tag: str, category: str, per_group: dict[str, int],
                   concurrency: int) -> dict:
    from laurel.review.v1 import review_pb2 as rv

    channel, stub = _stubs(review, "review")
    rid = round_id(category)
    pool = [r["reviewer_id"] for r in reviewer_pool(tag, per_group)]
    submits = Calls()
    reads = Calls()
    semaphore = asyncio.Semaphore(concurrency)
    with Meter() as meter:
        # Each reviewer: their list, the form's criteria once (one read).
        async def prepare(who: str) -> list[tuple[str, str, Any, dict[str, str]]]:
            md = metadata_for((who, "reviewer", ""))
            async with semaphore:
                mine = await reads.call(stub.ListMyAssignments,
                                        rv.ListMyAssignmentsRequest(round_id=rid), md)
            if mine is None or not mine.assignments:
                return []
            first = mine.assignments[0].nomination_id
            async with semaphore:
                form = await reads.call(stub.GetNominationForReview,
                                        rv.GetNominationForReviewRequest(
                                            round_id=rid, nomination_id=first), md)
            if form is None:
                return []
            maxima = {c.key: c.max_score for c in form.criteria}
            return [(a.nomination_id, who, md, maxima) for a in mine.assignments
                    if not a.submitted]

        work = [w for batch in await asyncio.gather(*(prepare(r) for r in pool))
                for w in batch]
        listed = time.perf_counter()

        async def submit(nid: str, who: str, md: Any, maxima: dict[str, str]) -> None:
            scores = {k: score_for(nid, who, m) for k, m in maxima.items()}
            async with semaphore:
                await submits.call(stub.SubmitReview, rv.SubmitReviewRequest(
                    round_id=rid, nomination_id=nid, scores=scores,
                    comment="材料翔实，成效明显。"), md)

        # Interleaved across reviewers, as many people scoring at once would be.
        work.sort(key=lambda w: hashlib.sha256(f"{w[0]}:{w[1]}".encode()).digest())
        await asyncio.gather(*(submit(*w) for w in work))
    await channel.close()
    submit_seconds = meter.seconds - (listed - meter._t0)
    return submits.result(
        meter, reviews=len(work), reviewers=len(pool), concurrency=concurrency,
        reads=len(reads.latencies), read_errors=dict(reads.errors),
        submit_seconds=submit_seconds,
        rate=len(submits.latencies) / submit_seconds if submit_seconds else None)


# -- results -------------------------------------------------------------------


def close_and_rank(review: str, scoring: str, category: str, expected: int,
                   timeout: float = 600.0) -> dict:
    return _run(_close_and_rank(review, scoring, category, expected, timeout))


async def _close_and_rank(review: str, scoring: str, category: str, expected: int,
                          timeout: float) -> dict:
    from laurel.review.v1 import review_pb2 as rv
    from laurel.scoring.v1 import scoring_pb2 as sc

    r_channel, r_stub = _stubs(review, "review")
    s_channel, s_stub = _stubs(scoring, "scoring")
    organizer = metadata_for(ORGANIZER)
    rid = round_id(category)
    asked = sc.GetRankingRequest(campaign_id=CAMPAIGN, category=category, round_id=rid)
    recomputed = 0
    with Meter() as meter:
        closed = await r_stub.CloseRound(rv.CloseRoundRequest(round_id=rid),
                                         metadata=organizer, timeout=LONG_TIMEOUT)
        close_seconds = time.perf_counter() - meter._t0

        async def complete() -> Any:
            nonlocal recomputed
            ranking = await s_stub.GetRanking(asked, metadata=organizer,
                                              timeout=LONG_TIMEOUT)
            covered = len(ranking.entries) + len(ranking.ineligible)
            if covered >= expected and not ranking.unscored:
                return ranking
            # scoring ranked before hearing every review: ask it to rank again
            recomputed += 1
            await s_stub.ComputeResults(sc.ComputeResultsRequest(
                campaign_id=CAMPAIGN, category=category, round_id=rid),
                metadata=organizer, timeout=LONG_TIMEOUT)
            return None

        await until(complete, f"scoring's complete ranking of {rid}", timeout,
                    pause=0.5)
        heard_seconds = time.perf_counter() - meter._t0
        began = time.perf_counter()
        computed = await s_stub.ComputeResults(sc.ComputeResultsRequest(
            campaign_id=CAMPAIGN, category=category, round_id=rid),
            metadata=organizer, timeout=LONG_TIMEOUT)
        compute_seconds = time.perf_counter() - began
        began = time.perf_counter()
        ranking = await s_stub.GetRanking(asked, metadata=organizer,
                                          timeout=LONG_TIMEOUT)
        get_seconds = time.perf_counter() - began
    await r_channel.close()
    await s_channel.close()
    return meter.result(
        ok=1, closed=closed.closed, early=closed.early,
        outstanding=len(closed.outstanding), close_round_s=close_seconds,
        ranked_after_close_s=heard_seconds, compute_results_s=compute_seconds,
        compute_changed=computed.changed, get_ranking_s=get_seconds,
        recompute_requests=recomputed, version=ranking.version,
        entries=len(ranking.entries), ineligible=len(ranking.ineligible),
        awarded=sum(1 for e in ranking.entries if e.tier))


def decide_and_publish(review: str, scoring: str, category: str, version: int,
                       concurrency: int = 8, intake: str = "", data_dir: str = "") -> dict:
    """Decisions, then (with `intake`: after moving the campaign clock into
    the awards stage, untimed) the results published."""
    return _run(_decide_and_publish(review, scoring, category, version, concurrency,
                                    intake, data_dir))


async def _decide_and_publish(review: str, scoring: str, category: str, version: int,
                              concurrency: int, intake: str = "",
                              data_dir: str = "") -> dict:
    from laurel.review.v1 import review_pb2 as rv
    from laurel.scoring.v1 import scoring_pb2 as sc

    r_channel, r_stub = _stubs(review, "review")
    s_channel, s_stub = _stubs(scoring, "scoring")
    organizer = metadata_for(ORGANIZER)
    rid = round_id(category)
    ranking = await s_stub.GetRanking(sc.GetRankingRequest(
        campaign_id=CAMPAIGN, category=category, round_id=rid, version=version),
        metadata=organizer, timeout=LONG_TIMEOUT)  # read before the clock starts
    calls = Calls()
    with Meter() as meter:
        async def noted() -> bool:
            got = await r_stub.GetRound(rv.GetRoundRequest(round_id=rid),
                                        metadata=organizer, timeout=LONG_TIMEOUT)
            return got.latest_result_version >= version

        await until(noted, f"review noting scoring's result {version} of {rid}")
        noted_seconds = time.perf_counter() - meter._t0
        requests = [rv.RecordDecisionRequest(
            round_id=rid, nomination_id=e.nomination_id,
            outcome="award" if e.tier else "not_awarded",
            reason=(f"第{e.rank}名，得分{e.score_display}" if e.tier
                    else f"得分{e.score_display}，未达到获奖分数线"),
            result_version=version) for e in ranking.entries]
        requests += [rv.RecordDecisionRequest(
            round_id=rid, nomination_id=x.nomination_id, outcome="not_awarded",
            reason=f"不符合参评条件：{x.reason}", result_version=version)
            for x in ranking.ineligible]
        decided_at = time.perf_counter()
        await _bounded([calls.call(r_stub.RecordDecision, r, organizer)
                        for r in requests], concurrency)
        decide_seconds = time.perf_counter() - decided_at
        if intake:
            await _campaign_clock(intake, AWARDS_CLOCK, data_dir, LONG_TIMEOUT)
        began = time.perf_counter()
        published = await r_stub.PublishResults(rv.PublishResultsRequest(round_id=rid),
                                                metadata=organizer,
                                                timeout=LONG_TIMEOUT)
        publish_seconds = time.perf_counter() - began
    await r_channel.close()
    await s_channel.close()
    return calls.result(meter, decisions=len(requests),
                        published=published.decisions,
                        result_version=published.result_version,
                        review_noted_result_s=noted_seconds,
                        record_decisions_s=decide_seconds,
                        publish_results_s=publish_seconds, concurrency=concurrency,
                        rate=len(calls.latencies) / decide_seconds
                        if decide_seconds else None)


def results_notifications(notification: str, tag: str, indices: list[int],
                          concurrency: int = 16, timeout: float = 600.0) -> dict:
    return _run(_results_notifications(notification, tag, indices, concurrency,
                                       timeout))


async def _results_notifications(notification: str, tag: str, indices: list[int],
                                 concurrency: int, timeout: float) -> dict:
    from laurel.notification.v1 import notification_pb2 as np_

    channel, stub = _stubs(notification, "notification")
    organizer = metadata_for(ORGANIZER)
    submissions = Submissions(tag, True)
    pending = {nomination_id_for(tag, i): submissions.request(i)[1] for i in indices}
    approved: list[Any] = []
    passes = 0
    with Meter() as meter:
        async def batch_held() -> Any:
            found = await stub.ListPendingBatches(np_.ListPendingBatchesRequest(
                campaign_id=CAMPAIGN), metadata=organizer, timeout=RPC_TIMEOUT)
            return [b for b in found.batches if b.kind == "results"]

        batches = await until(batch_held, "notification holding the results batch",
                              timeout)
        held_seconds = time.perf_counter() - meter._t0
        began = time.perf_counter()
        for batch in batches:
            approved.append(await stub.ApproveNotificationBatch(
                np_.ApproveNotificationBatchRequest(batch_id=batch.batch_id),
                metadata=organizer, timeout=LONG_TIMEOUT))
        approve_seconds = time.perf_counter() - began
        deadline = time.perf_counter() + timeout
        while pending and time.perf_counter() < deadline:
            passes += 1

            async def check(nid: str, md: Any) -> None:
                reply = await stub.ListNotifications(
                    np_.ListNotificationsRequest(nomination_id=nid), metadata=md,
                    timeout=RPC_TIMEOUT)
                if any(n.kind == "results" for n in reply.notifications):
                    pending.pop(nid, None)

            await _bounded([check(n, md) for n, md in list(pending.items())],
                           concurrency)
            if pending:
                await asyncio.sleep(0.2)
    await channel.close()
    released = sum(a.released for a in approved)
    return meter.result(ok=len(indices) - len(pending), missing=len(pending),
                        batches=len(batches), batch_size=sum(b.size for b in batches),
                        released=released, batch_held_s=held_seconds,
                        approve_s=approve_seconds, passes=passes,
                        rate=released / meter.seconds if released else None)
