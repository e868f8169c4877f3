"""Workload 6: a campaign-sized run — henan-2021 with 2,000 nominations.

Each round starts a fresh broker and all four services as processes (as
`laurel up` does), then times the campaign stage by stage, as far as Laurel
implements it today:
- registration: the demo's organizations (center, 29 commissions and their
  hospitals) plus one hospital per nomination, so quotas never refuse one;
- submission: 2,000 SubmitNomination calls, 8 at a time;
- receipts: from the first submission until every nominator's receipt shows
  in the inbox (notification, over Kafka);
- endorsement, forwarding, reception: each commission's endorser endorses and
  forwards, the provincial center receives (intake);
- eligibility: until scoring (which hears of each reception over Kafka) has a
  verdict on all of them: waits on scoring's consumer position (every event
  intake published recorded as applied in scoring's store), then collects the
  verdicts with one GetEligibility each;
- then, for the first REVIEW_SIZE eligible nominations (all of them with
  --quick), the review as `laurel.demo.campaign` drives it
  (`review_load`): reviewers registered (REVIEWERS per panel group), the
  category's panel formed and reviewers assigned (2 managers, 2 experts,
  1 media each, conflicts excluded), the round opened, every blind
  SubmitReview (8 at a time), the round closed and ranked (until scoring's
  ranking covers the round, then ComputeResults + GetRanking), a decision
  recorded per nomination and the results published, the results batch
  approved and every nominator's result in their inbox;
- e-mail: not measured, the services run without an SMTP server.
Why not all 2,000 through review: 10,000 reviews and 2,000 decisions, three
times, do not fit the 20-minute budget on this machine. Review folds a round
incrementally, so the throughput at REVIEW_SIZE stands for the larger round.
RESULTS.md states the size used next to the figures.
The submission stage also runs against the no-op gRPC service (limit) and the
eventsourcing-backed one (peer), same requests, same concurrency.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from laurel_bench.common import Context, Figure, comparison, run_child, summary
from laurel_bench.services import SERVICES, BaselineServer, Stack

CONCURRENCY = 8
RATE_UNITS = {
    "eligibility verdicts (scoring, via Kafka)": "verdicts/s",
    "panel formed, reviewers assigned": "nominations assigned/s",
    "blind reviews submitted": "reviews/s (SubmitReview, after each reviewer's list)",
    "decisions recorded, results published (review)": "RecordDecision/s",
    "results batch approved, nominators notified (notification)":
        "notifications/s (released ÷ stage time)",
}
SIZE_KEYS = ("reviewers", "assignments", "reviews", "entries", "decisions", "released")
CATEGORY = "ten_measures_benchmark"  # the demo sample's, so every nomination's
# Review and results run for the first REVIEW_SIZE eligible nominations of the
# 2,000, so that the whole `make bench` stays within its 20 minutes.
REVIEW_SIZE = 400
REVIEW_SIZE_REASON = (
    ": 2,000 nominations are 10,000 reviews and 2,000 decisions, which three rounds "
    "of would not fit the 20-minute budget of `make bench` on this machine; review "
    "folds a round incrementally, so a call's cost does not grow with the round "
    "and the throughput at 400 stands for the larger round")
# Reviewers per panel group (henan-2021 asks 2 managers, 2 experts, 1 media each).
REVIEWERS = {"hospital_manager": 16, "industry_expert": 16, "media": 8}
QUICK_REVIEWERS = {"hospital_manager": 4, "industry_expert": 3, "media": 2}
INTAKE_STAGES = [("endorse", "endorsement"), ("forward", "forwarding"),
                 ("receive", "reception")]


def nominations(quick: bool) -> int:
    return 20 if quick else 2000


def run(ctx: Context) -> dict[str, Any]:
    count = nominations(ctx.quick)
    stage_runs: dict[str, list[dict[str, Any]]] = {}
    rounds: list[dict[str, Any]] = []
    errors: list[str] = []
    sub_laurel = Figure("campaign.submission.laurel",
                        f"{count:,} SubmitNomination to intake, {CONCURRENCY} at a time",
                        "laurel", "nominations/s", True)
    sub_limit = Figure("campaign.submission.noop", "same requests, no-op gRPC service",
                       "limit", "nominations/s", True)
    sub_peer = Figure("campaign.submission.eventsourcing",
                      "same requests, eventsourcing gRPC service", "peer",
                      "nominations/s", True)
    memory_runs: list[dict[str, Any]] = []
    for round_no in range(1, ctx.rounds + 1):
        tag = uuid.uuid4().hex[:6]
        record: dict[str, Any] = {"round": round_no, "stages": {}}
        began = time.monotonic()
        stack = Stack(ctx.scratch("campaign"), services=SERVICES)
        try:
            stack.start()
            _stage(stage_runs, record, "start broker and 4 services",
                   {"seconds": time.monotonic() - began})
            prep = run_child("laurel_bench.load:prepare", {
                "address": stack.address("intake"), "tag": tag, "hospitals": count + 2})
            if not prep["probe"].get("ok"):
                raise RuntimeError(f"intake refused the probe submission: "
                                   f"{prep['probe'].get('code')} "
                                   f"{prep['probe'].get('details')}")
            registered = prep["registered"]
            _stage(stage_runs, record, "register organizations", {
                "seconds": prep["registration_seconds"],
                "organizations": prep["demo_organizations"] + prep["hospitals"]})
            submitted_at = time.monotonic()
            submit = run_child("laurel_bench.load:campaign_stage", {
                "address": stack.address("intake"), "tag": tag, "registered": registered,
                "stage": "submit", "count": count, "concurrency": CONCURRENCY})
            _stage(stage_runs, record, "submission", submit)
            sub_laurel.add({"round": round_no, **submit})
            receipts = run_child("laurel_bench.load:wait_receipts", {
                "notification": stack.address("notification"), "tag": tag,
                "registered": registered, "count": submit["ok"]})
            _stage(stage_runs, record, "receipts (notification, via Kafka)", {
                **receipts, "seconds": time.monotonic() - submitted_at,
                "after_last_submission_s": receipts["seconds"]})
            for stage, label in INTAKE_STAGES:
                result = run_child("laurel_bench.load:campaign_stage", {
                    "address": stack.address("intake"), "tag": tag,
                    "registered": registered, "stage": stage, "count": submit["ok"],
                    "concurrency": CONCURRENCY})
                _stage(stage_runs, record, label, result)
            _review_stages(ctx, stack, tag, submit["ok"], stage_runs, record)
            memory = stack.memory()
            record["memory"] = memory
            memory_runs.append({"round": round_no, **memory})
            ctx.log(f"  round {round_no}: " + "; ".join(
                f"{k} {v.get('seconds', 0):.1f}s" for k, v in record["stages"].items())
                + " | peak RSS " + ", ".join(f"{k} {v['peak_rss_mb']:.0f} MB"
                                             for k, v in memory.items()))
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            ctx.log(f"  ! campaign round {round_no}: {message}")
            record["error"] = message
            errors.append(message)
        finally:
            stack.stop()
        for mode, figure in (("noop", sub_limit), ("eventsourcing", sub_peer)):
            server = BaselineServer(mode, ctx.scratch(f"campaign-{mode}"))
            try:
                server.start()
                result = run_child("laurel_bench.load:campaign_stage", {
                    "address": server.address, "tag": tag, "registered": False,
                    "stage": "submit", "count": count, "concurrency": CONCURRENCY})
                figure.add({"round": round_no, **result, **server.memory()})
            except Exception as error:
                ctx.log(f"  ! campaign {mode} round {round_no}: {error}")
            finally:
                server.stop()
        rounds.append(record)
    if errors and not sub_laurel.runs:
        sub_laurel.error = errors[0]
    stages = _stage_summaries(stage_runs, errors)
    stages.append({
        "stage": "e-mails (results, reviewer assignments)", "status": "not measured",
        "notes": "the bench runs the services without an SMTP server (no "
                 "LAUREL_SMTP_PORT), so notification keeps to the in-app inbox; the "
                 "results stage above times notifications up to the inbox"})
    measured = any(s["status"] == "measured" for s in stages)
    return {
        "title": f"A campaign-sized run: henan-2021, {count:,} nominations",
        "review_size": review_size(ctx.quick, count),
        "status": "partial" if measured else "not measured",
        "reason": errors[0][:600] if errors and not measured else "",
        "settings": {
            "nominations": count, "client_concurrency": CONCURRENCY,
            "services": "broker + intake, scoring, review, notification as processes, "
                        "SQLite stores, LAUREL_ENV=development",
            "nominees": "the demo sample nomination, one registered hospital each",
            "review and results": (
                f"the first {review_size(ctx.quick, count):,} eligible of the "
                f"{count:,} nominations go through review, ranking, decisions and "
                "results notifications (one round of the category); every stage "
                "before them, scoring's eligibility verdicts included, runs on all "
                f"{count:,}" + ("" if ctx.quick or review_size(ctx.quick, count) >= count
                                else REVIEW_SIZE_REASON)),
            "reviewers": {g: n for g, n in reviewers_per_group(ctx.quick).items()},
            "reviews per nomination": "2 hospital managers, 2 industry experts, "
                                      "1 media (henan-2021's panel groups)",
        },
        "stages": stages,
        "rounds": rounds,
        "memory": {name: summary([r[name]["peak_rss_mb"] for r in memory_runs
                                  if name in r])
                   for name in (*SERVICES, "broker")},
        "figures": [f.to_json() for f in (sub_laurel, sub_limit, sub_peer)],
        "comparisons": [comparison(f"submission stage, {count:,} nominations",
                                   sub_laurel, [sub_limit], [sub_peer])()],
    }


def review_size(quick: bool, count: int) -> int:
    """How many of the received nominations go through review (see REVIEW_SIZE)."""
    return count if quick else min(count, REVIEW_SIZE)


def reviewers_per_group(quick: bool) -> dict[str, int]:
    return QUICK_REVIEWERS if quick else REVIEWERS


def _review_stages(ctx: Context, stack: Stack, tag: str, received: int,
                   stage_runs: dict[str, list[dict[str, Any]]],
                   record: dict[str, Any]) -> None:
    """Scoring's verdicts on all received, then review and results for a part."""
    scoring, review = stack.address("scoring"), stack.address("review")
    verdicts = run_child("laurel_bench.review_load:eligibility", {
        "scoring": scoring, "tag": tag, "count": received,
        "concurrency": CONCURRENCY, "data_dir": str(stack.data_dir)}, timeout=600)
    eligible = verdicts.pop("eligible")
    _stage(stage_runs, record, "eligibility verdicts (scoring, via Kafka)", {
        **verdicts, "ok": verdicts["evaluated"],
        "rate": verdicts["evaluated"] / verdicts["seconds"]
        if verdicts["seconds"] else None})
    if verdicts["missing"]:
        raise RuntimeError(f"scoring gave no verdict on {verdicts['missing']} of "
                           f"{received} received nominations")
    size = review_size(ctx.quick, received)
    indices = eligible[:size]
    if not indices:
        raise RuntimeError("scoring found none of the nominations eligible")
    per_group = reviewers_per_group(ctx.quick)
    data_dir = str(stack.data_dir)
    # The review acts need the expert evaluation stage (henan-2021: from
    # 2021-12-01); the clock moves untimed, not a stage of its own.
    run_child("laurel_bench.review_load:campaign_clock", {
        "intake": stack.address("intake"), "moment": "2021-12-02T02:00:00+00:00",
        "data_dir": data_dir}, timeout=600)
    steps: list[tuple[str, str, dict[str, Any], float]] = [
        ("reviewers registered", "reviewers",
         {"review": review, "tag": tag, "per_group": per_group,
          "concurrency": CONCURRENCY}, 120),
        ("panel formed, reviewers assigned", "panels",
         {"review": review, "tag": tag, "category": CATEGORY, "per_group": per_group,
          "indices": indices}, 900),
        ("round opened", "open_round", {"review": review, "category": CATEGORY}, 300),
        ("blind reviews submitted", "reviews",
         {"review": review, "tag": tag, "category": CATEGORY, "per_group": per_group,
          "concurrency": CONCURRENCY}, 1200),
        ("round closed, results computed (scoring)", "close_and_rank",
         {"review": review, "scoring": scoring, "category": CATEGORY,
          "expected": len(indices)}, 900),
    ]
    ranked: dict[str, Any] = {}
    for label, func, args, timeout in steps:
        result = run_child(f"laurel_bench.review_load:{func}", args, timeout=timeout)
        _stage(stage_runs, record, label, result)
        if result.get("errors"):
            raise RuntimeError(f"{label}: refused {result['errors']} "
                               f"(first: {result.get('first_error', '')[:300]})")
        ranked = result
    decided = run_child("laurel_bench.review_load:decide_and_publish", {
        "review": review, "scoring": scoring, "category": CATEGORY,
        "version": ranked["version"], "concurrency": CONCURRENCY,
        "intake": stack.address("intake"), "data_dir": data_dir}, timeout=900)
    _stage(stage_runs, record, "decisions recorded, results published (review)",
           decided)
    if decided.get("errors"):
        raise RuntimeError(f"decisions refused {decided['errors']} "
                           f"(first: {decided.get('first_error', '')[:300]})")
    told = run_child("laurel_bench.review_load:results_notifications", {
        "notification": stack.address("notification"), "tag": tag,
        "indices": indices}, timeout=900)
    _stage(stage_runs, record, "results batch approved, nominators notified "
           "(notification)", told)
    record["review_size"] = len(indices)
    record["eligible"] = len(eligible)


def _stage(runs: dict[str, list[dict[str, Any]]], record: dict[str, Any], name: str,
           result: dict[str, Any]) -> None:
    runs.setdefault(name, []).append(result)
    record["stages"][name] = result


def _stage_summaries(runs: dict[str, list[dict[str, Any]]], errors: list[str]
                     ) -> list[dict[str, Any]]:
    stages = []
    for name, results in runs.items():
        ok = [r for r in results if r.get("ok", 1)]
        refused = {k: v for r in results for k, v in r.get("errors", {}).items()}
        notes = []
        rates = [r["rate"] for r in results if r.get("rate")]
        if rates:
            unit = RATE_UNITS.get(name, "calls/s")
            notes.append(f"{summary(rates)['median']:,.1f} {unit}")
        sizes = {k: r[k] for r in results for k in SIZE_KEYS if r.get(k)}
        if sizes:
            notes.append(", ".join(f"{v:,} {k}" for k, v in sizes.items()))
        parts = sorted({k for r in results for k, v in r.items()
                        if k.endswith("_s") and isinstance(v, int | float)})
        if parts:
            notes.append("of which " + ", ".join(
                f"{k[:-2].replace('_', ' ')} "
                f"{summary([r[k] for r in results if k in r])['median']:.2f} s"
                for k in parts))
        if refused:
            first = next((r.get("first_error") for r in results if r.get("first_error")),
                         "")
            notes.append(f"refused {refused} (first: {first[:200]})")
        if name.startswith("receipts"):
            missing = sum(r.get("missing", 0) for r in results)
            notes.append("from the first submission to the last receipt"
                         + (f"; {missing} receipts missing" if missing else ""))
        status = "measured" if ok and any(r.get("ok", 1) for r in results) else \
            "failed"
        stages.append({
            "stage": name, "status": status,
            "seconds": summary([r["seconds"] for r in results]),
            "runs": len(results), "notes": "; ".join(notes),
        })
    if errors and runs:
        stages.append({"stage": "(rounds that failed)", "status": "failed",
                       "notes": errors[0].splitlines()[0][:300]})
    return stages
