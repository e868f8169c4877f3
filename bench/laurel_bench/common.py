"""What every workload shares: child processes, the meter, statistics, the data.

The meter measures one operation inside one child process: wall time with
`time.perf_counter`, CPU time of the process with `resource.getrusage`, and
peak resident memory as the kernel's high-water mark (VmHWM in
/proc/self/status), reset just before the operation by writing 5 to
/proc/self/clear_refs, so the peak is that of the operation (plus whatever the
process already held, which is reported as `rss_start_mb`).
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parents[1]
PROJECT_ROOT = BENCH_DIR.parent
BENCH_SITE = PROJECT_ROOT / ".venv-bench"
RESULT_MARK = "@@LAUREL-BENCH-RESULT "
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


# -- memory and time ---------------------------------------------------------


def proc_status_kb(pid: int | str = "self", key: str = "VmHWM") -> int:
    """One `kB` field of /proc/<pid>/status (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return 0


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Meter:
    """Times one operation and records its peak memory; a context manager."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.rss_start_kb = 0
        self.peak_rss_kb = 0
        self.peak_reset = False

    def __enter__(self) -> Meter:
        gc.collect()
        self.peak_reset = reset_peak_rss()
        self.rss_start_kb = proc_status_kb("self", "VmRSS")
        self._cpu = cpu_seconds()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0
        self.cpu_seconds = cpu_seconds() - self._cpu
        self.peak_rss_kb = proc_status_kb("self", "VmHWM")

    def result(self, **extra: Any) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "rss_start_mb": round(self.rss_start_kb / 1024, 1),
            "peak_rss_mb": round(self.peak_rss_kb / 1024, 1),
            "peak_is_of_operation": self.peak_reset,
            **extra,
        }


# -- statistics --------------------------------------------------------------


def summary(values: Sequence[float]) -> dict[str, Any]:
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


# -- child processes ---------------------------------------------------------


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(BENCH_DIR)]
    if BENCH_SITE.exists():
        paths.append(str(BENCH_SITE))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("PYTHONHASHSEED", "0")
    env.update(extra or {})
    return env


class ChildFailed(RuntimeError):
    pass


def run_child(func: str, args: dict[str, Any], *, timeout: float = 300) -> dict[str, Any]:
    """Run `module:function(args)` in a fresh interpreter; return its result."""
    spec = json.dumps({"func": func, "args": args})
    done = subprocess.run(
        [sys.executable, "-m", "laurel_bench.worker"],
        input=spec, capture_output=True, text=True, env=child_env(),
        cwd=PROJECT_ROOT, timeout=timeout, check=False,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
    raise ChildFailed(f"{func} exited {done.returncode}:\n" + "\n".join(tail))


# -- figures -----------------------------------------------------------------


@dataclass
class Figure:
    """One measured thing: its runs, and what they summarize to."""

    id: str
    label: str
    role: str  # "laurel" | "limit" | "peer"
    unit: str  # unit of `value`: "events/s", "ms", "requests/s", "s"
    higher_is_better: bool
    runs: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    notes: str = ""
    value_key: str = "rate"

    def add(self, run: dict[str, Any]) -> None:
        self.runs.append(run)

    def values(self, key: str | None = None) -> list[float]:
        key = key or self.value_key
        return [r[key] for r in self.runs if r.get(key) is not None]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id, "label": self.label, "role": self.role, "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "value": summary(self.values()),
            "seconds": summary(self.values("seconds")),
            "peak_rss_mb": summary(self.values("peak_rss_mb")),
            "runs": self.runs,
        }
        if self.error:
            data["error"] = self.error
        if self.notes:
            data["notes"] = self.notes
        return data


def round_ratios(laurel: Figure, other: Figure) -> dict[str, Any]:
    """Laurel's speed relative to `other`, per round (runs are interleaved).

    The ratio is always "how fast Laurel is, in multiples of the other":
    for throughputs Laurel ÷ other, for times and latencies other ÷ Laurel.
    Below 1 Laurel is slower.
    """
    theirs_by_round = {r.get("round"): r.get(other.value_key) for r in other.runs}
    ratios = []
    for run in laurel.runs:
        mine = run.get(laurel.value_key)
        theirs = theirs_by_round.get(run.get("round"))
        if not mine or not theirs:
            continue
        ratios.append(mine / theirs if laurel.higher_is_better else theirs / mine)
    return summary(ratios)


def run_rounds(
    figures: Sequence[tuple[Figure, Callable[[], dict[str, Any]]]],
    rounds: int,
    log: Callable[[str], None],
) -> None:
    """Run every figure once per round, in order, `rounds` times."""
    for round_no in range(1, rounds + 1):
        for figure, measure in figures:
            if figure.error:
                continue
            try:
                run = measure()
            except Exception as error:  # recorded, never hidden
                figure.error = f"{type(error).__name__}: {error}"[:2000]
                log(f"  ! {figure.id}: {figure.error.splitlines()[0]}")
                continue
            run["round"] = round_no
            figure.add(run)
            value = run.get(figure.value_key)
            shown = f"{value:,.1f} {figure.unit}" if isinstance(value, float | int) else "-"
            log(f"  round {round_no} {figure.id:<44} {shown:>22}"
                f"  {run.get('seconds', 0):7.2f}s  peak {run.get('peak_rss_mb', 0):.0f} MB")


# -- the data every store workload writes ------------------------------------

SAMPLE_FALLBACK: dict[str, Any] = {
    "campaign_id": "henan-2021",
    "category": "ten_measures_benchmark",
    "submitted_by": {"id": "nominator-hnpph-1", "role": "nominator",
                     "organization_id": "henan-provincial-peoples"},
    "nominee": {"kind": "hospital", "name": "河南省人民医院",
                "organization_id": "henan-provincial-peoples"},
    "fields": {"hospital_name": "河南省人民医院"},
}


def load_demo_sample() -> dict[str, Any]:
    """The demo's sample nomination (the real form), else a small stand-in."""
    try:
        from laurel.demo import load_sample

        return load_sample("henan-2021-ten-measures.yaml")
    except Exception:
        return json.loads(json.dumps(SAMPLE_FALLBACK))


def flatten_fields(fields: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in fields.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_fields(value, name + "."))
        elif isinstance(value, list):
            flat[name] = ",".join(str(v) for v in value)
        else:
            flat[name] = "" if value is None else str(value)
    return flat


# The 19 events that follow a submission in a stream: intake's own lifecycle
# events in the payload shapes its fold reads (endorse, forward, receive, amend,
# attach evidence), then what scoring records, at realistic sizes. Intake's fold
# applies the first six kinds and passes the others through (version and time).
FOLLOW_UPS: list[tuple[str, str, dict[str, Any]]] = [
    ("NominationEndorsed", "endorser",
     {"commission_id": "zhengzhou", "opinion": "经审核，材料真实完整，同意推荐。"}),
    ("NominationForwarded", "endorser", {"to": "henan-center"}),
    ("NominationReceived", "organizer", {"center_id": "henan-center"}),
    ("NominationAmended", "nominator",
     {"changes": {"contact.mobile": {"before": "13900000002", "after": "13900000003"}}}),
    ("NominationAmended", "nominator",
     {"changes": {"honors_last_two_years": {
         "before": "2020年全国改善医疗服务示范医院；2021年河南省文明单位。",
         "after": "2020年全国改善医疗服务示范医院；2021年河南省文明单位；"
                  "2021年全国医院质量管理优秀案例。"}}}),
    ("EvidenceAttached", "nominator",
     {"sha256": "9f2c" * 16, "filename": "十大举措自评表.pdf",
      "media_type": "application/pdf", "size": 482133, "kind": "self_assessment"}),
    ("ExpertAssigned", "organizer", {"expert_id": "expert-01", "panel": "panel-2"}),
    ("ExpertAssigned", "organizer", {"expert_id": "expert-02", "panel": "panel-2"}),
    ("ExpertAssigned", "organizer", {"expert_id": "expert-03", "panel": "panel-2"}),
    ("ScoreRecorded", "reviewer", {"expert_id": "expert-01", "criterion": "measures",
                                   "score": 27, "comment": "举措具体，成效明显。"}),
    ("ScoreRecorded", "reviewer", {"expert_id": "expert-01", "criterion": "outcomes",
                                   "score": 18, "comment": "候诊时间缩短有数据支撑。"}),
    ("ScoreRecorded", "reviewer", {"expert_id": "expert-01", "criterion": "replicable",
                                   "score": 16, "comment": "可在县级医院推广。"}),
    ("ScoreRecorded", "reviewer", {"expert_id": "expert-02", "criterion": "measures",
                                   "score": 25, "comment": "一站式服务中心运行良好。"}),
    ("ScoreRecorded", "reviewer", {"expert_id": "expert-02", "criterion": "outcomes",
                                   "score": 17, "comment": "满意度调查样本偏小。"}),
    ("ScoreRecorded", "reviewer", {"expert_id": "expert-02", "criterion": "replicable",
                                   "score": 15, "comment": "远程医疗经验值得总结。"}),
    ("ScoreRecorded", "reviewer", {"expert_id": "expert-03", "criterion": "measures",
                                   "score": 26, "comment": "预约诊疗覆盖率高。"}),
    ("ScoreRecorded", "reviewer", {"expert_id": "expert-03", "criterion": "outcomes",
                                   "score": 18, "comment": "指标完整。"}),
    ("ScoreRecorded", "reviewer", {"expert_id": "expert-03", "criterion": "replicable",
                                   "score": 16, "comment": "示范作用较强。"}),
    ("ScoresFinalized", "organizer", {"total": 59.3, "rank": 4, "experts": 3}),
]


@dataclass(frozen=True)
class Command:
    """One command's worth of events for one stream (what one append writes)."""

    nomination_id: str
    stream_id: str
    expected_version: int
    events: list[tuple[str, dict[str, Any]]]  # (type, payload)
    metadata: dict[str, Any]
    event_ids: list[str]


class Workload:
    """Deterministic streams of nomination events (seeded, so runs match)."""

    def __init__(self, seed: int = 7, events_per_stream: int = 20) -> None:
        self.seed = seed
        self.events_per_stream = events_per_stream
        sample = load_demo_sample()
        self.campaign_id = sample["campaign_id"]
        self.category = sample["category"]
        self.nominee = dict(sample["nominee"])
        self.submitter = dict(sample["submitted_by"])
        self.fields = flatten_fields(sample["fields"])

    def nomination_ids(self, n: int, *, offset: int = 0) -> list[str]:
        rng = random.Random(f"{self.seed}:{offset}")
        return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]

    def event(self, nomination_id: str, version: int) -> tuple[str, dict[str, Any], str]:
        """(type, payload, actor role) of event `version` (1-based) of a stream."""
        if version == 1:
            return ("NominationSubmitted", {
                "nomination_id": nomination_id,
                "campaign_id": self.campaign_id,
                "category": self.category,
                "nominee": self.nominee,
                "fields": self.fields,
            }, "nominator")
        kind, role, payload = FOLLOW_UPS[(version - 2) % len(FOLLOW_UPS)]
        return kind, dict(payload, nomination_id=nomination_id), role

    @staticmethod
    def event_id(nomination_id: str, version: int) -> str:
        return str(uuid.uuid5(uuid.UUID(nomination_id), str(version)))

    def metadata(self, nomination_id: str, version: int, role: str) -> dict[str, Any]:
        actor = (self.submitter if role == "nominator"
                 else {"id": f"{role}-1", "role": role, "organization_id": "henan-center"})
        trace_id = uuid.uuid5(uuid.NAMESPACE_OID, f"{nomination_id}:{version}").hex
        return {
            "actor": dict(actor),
            "correlation_id": str(uuid.uuid5(uuid.NAMESPACE_URL, trace_id)),
            "causation_id": "",
            "trace": {"traceparent": f"00-{trace_id}-{trace_id[:16]}-01"},
        }

    def commands(
        self, nomination_ids: Sequence[str], events_per_command: int = 1,
        *, interleave: bool = True,
    ) -> Iterator[Command]:
        """Each stream's events as commands; streams interleaved version by version."""
        per = self.events_per_stream
        steps = range(1, per + 1, events_per_command)
        order: Iterable[tuple[int, str]] = (
            ((v, nid) for v in steps for nid in nomination_ids) if interleave
            else ((v, nid) for nid in nomination_ids for v in steps)
        )
        for first, nid in order:
            versions = range(first, min(first + events_per_command, per + 1))
            events = []
            roles = []
            for version in versions:
                kind, payload, role = self.event(nid, version)
                events.append((kind, payload))
                roles.append(role)
            yield Command(
                nomination_id=nid,
                stream_id=f"nomination-{nid}",
                expected_version=first - 1,
                events=events,
                metadata=self.metadata(nid, first, roles[0]),
                event_ids=[self.event_id(nid, version) for version in versions],
            )


def laurel_rows(commands: Iterable[Command], recorded_at: str, start_position: int = 1
                ) -> list[dict[str, Any]]:
    """The exact rows Laurel's store writes for these commands, hash chain and all.

    Built with Laurel's own public encoding (canonical_json, event_hash), so the
    plain-driver baselines insert byte-identical rows.
    """
    from laurel.envelope import GENESIS_HASH, canonical_json, event_hash

    heads: dict[str, str] = {}
    rows = []
    position = start_position
    for command in commands:
        prev = heads.get(command.stream_id, GENESIS_HASH)
        metadata_json = canonical_json(command.metadata)
        for offset, ((kind, payload), event_id) in enumerate(
            zip(command.events, command.event_ids, strict=True)
        ):
            payload_json = canonical_json(payload)
            version = command.expected_version + 1 + offset
            digest = event_hash(
                position=position, event_id=event_id, stream_id=command.stream_id,
                version=version, type=kind, schema_version=1,
                payload_json=payload_json, metadata_json=metadata_json,
                recorded_at=recorded_at, prev_hash=prev,
            )
            rows.append({
                "position": position, "event_id": event_id,
                "stream_id": command.stream_id, "version": version, "type": kind,
                "schema_version": 1, "payload": payload_json,
                "metadata": metadata_json, "recorded_at": recorded_at,
                "prev_hash": prev, "hash": digest,
            })
            prev = digest
            position += 1
        heads[command.stream_id] = prev
    return rows


ROW_COLUMNS = ("position", "event_id", "stream_id", "version", "type", "schema_version",
               "payload", "metadata", "recorded_at", "prev_hash", "hash")


# -- databases ---------------------------------------------------------------


def postgres_admin_url() -> str:
    """The server the bench creates its throwaway databases on."""
    return (os.environ.get("LAUREL_BENCH_POSTGRES_URL")
            or os.environ.get("LAUREL_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)


def postgres_dsn(sqlalchemy_url: str) -> str:
    """A libpq URL for psycopg from a SQLAlchemy one."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def postgres_url_for(database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(postgres_admin_url()).set(database=database).render_as_string(
        hide_password=False
    )


def create_postgres_database(prefix: str = "laurel_bench") -> str:
    """A fresh, empty database; returns its SQLAlchemy URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn(postgres_admin_url()), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_url_for(name)


def drop_postgres_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    if not name or not name.startswith("laurel_bench_"):
        raise ValueError(f"refusing to drop {name!r}: not a bench database")
    with psycopg.connect(postgres_dsn(postgres_admin_url()), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_problem() -> str:
    """Empty when the bench's PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(postgres_dsn(postgres_admin_url()), connect_timeout=5) as c:
            c.execute("SELECT 1")
        return ""
    except Exception as error:
        return f"PostgreSQL at {postgres_admin_url()} unusable: {error}"


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def sqlite_file_mb(path: Path) -> float:
    return round(sum(Path(f"{path}{s}").stat().st_size
                     for s in ("", "-wal") if Path(f"{path}{s}").exists()) / 2**20, 1)


# -- the run's context ---------------------------------------------------------


@dataclass
class Context:
    """What the runner hands every workload."""

    quick: bool
    rounds: int
    work_dir: Path
    log: Callable[[str], None]
    postgres_problem: str = ""
    started: float = field(default_factory=time.monotonic)
    budget_seconds: float = 1140.0
    scale_sizes: list[int] | None = None
    reserved_seconds: float = 0.0  # still needed by the workloads after this one

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.budget_seconds - self.elapsed() - self.reserved_seconds

    def backends(self) -> list[str]:
        return ["sqlite", "postgres"]

    def scratch(self, name: str) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return self.work_dir / f"{name}-{uuid.uuid4().hex[:8]}"


def comparison(label: str, laurel: Figure, limits: Sequence[Figure] = (),
               peers: Sequence[Figure] = (), no_peer: str = "",
               no_limit: str = "") -> Callable[[], dict[str, Any]]:
    """Laurel's figure beside its limit(s) and peer(s), with per-round ratios.

    Returns a closure: call it once the rounds have run.
    """

    def render() -> dict[str, Any]:
        return {
            "label": label,
            "laurel": laurel.id,
            "against": [
                {"kind": f.role, "figure": f.id, "label": f.label,
                 "ratio": round_ratios(laurel, f),
                 **({"error": f.error} if f.error else {})}
                for f in [*limits, *peers]
            ],
            **({"no_peer": no_peer} if no_peer else {}),
            **({"no_limit": no_limit} if no_limit else {}),
        }

    return render
