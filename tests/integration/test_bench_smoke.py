"""`bench/run.py --quick --only append` writes both result files, well formed.

A smoke test of the benchmark machinery, not of speed: no figure is compared
with any target. PostgreSQL figures are measured when the bench's server
(LAUREL_BENCH_POSTGRES_URL, else LAUREL_TEST_POSTGRES_URL, else the local
default) answers, and are recorded as not measured, with the reason, otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ("many_streams", "long_stream")
KINDS = ("laurel", "plain_per_event_tx", "plain_batched", "eventsourcing")


@pytest.fixture(scope="module")
def quick_append_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench-out")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only", "append",
         "--out", str(out), "--work", str(out / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return out


@pytest.mark.slow
def test_results_json_records_machine_settings_and_every_append_figure(
    quick_append_run: Path,
) -> None:
    results = json.loads((quick_append_run / "results.json").read_text("utf-8"))

    assert results["schema"] == "laurel-bench/1"
    assert (results["quick"], results["only"], results["complete"]) == (True, ["append"],
                                                                        True)
    assert results["rounds"] >= 3
    machine = results["machine"]
    for key in ("cpu_model", "cpus_usable", "memory_gib", "python", "sqlite_library",
                "packages", "postgres"):
        assert key in machine
    assert machine["laurel_sqlite_settings"]["journal_mode"] == "wal"
    assert machine["laurel_sqlite_settings"]["synchronous"] == "FULL"
    assert machine["packages"]["eventsourcing"] == "9.5.6"

    append = results["workloads"]["append"]
    assert append["status"] == "measured"
    figures = {f["id"]: f for f in append["figures"]}
    expected = {f"{backend}.{shape}.{kind}" for backend in ("sqlite", "postgres")
                for shape in SHAPES for kind in KINDS}
    assert set(figures) == expected
    assert {f["role"] for f in figures.values()} == {"laurel", "limit", "peer"}
    for figure_id in (f"sqlite.{shape}.{kind}" for shape in SHAPES for kind in KINDS):
        figure = figures[figure_id]
        assert "error" not in figure, figure.get("error")
        assert len(figure["runs"]) == results["rounds"]
        assert set(figure["value"]) == {"median", "min", "max", "n"}
        assert figure["value"]["min"] <= figure["value"]["median"] <= figure["value"]["max"]
        assert figure["peak_rss_mb"]["median"] > 0
    for figure in figures.values():  # PostgreSQL: measured, or said why not
        assert figure["runs"] or figure["error"]


@pytest.mark.slow
def test_each_laurel_figure_is_set_beside_its_limit_and_peer(quick_append_run: Path) -> None:
    results = json.loads((quick_append_run / "results.json").read_text("utf-8"))
    comparisons = results["workloads"]["append"]["comparisons"]

    assert len(comparisons) == 4  # 2 backends x 2 shapes
    for entry in comparisons:
        assert entry["laurel"].endswith(".laurel")
        assert [a["kind"] for a in entry["against"]] == ["limit", "limit", "peer"]
        if entry["laurel"].startswith("sqlite."):
            assert all(a["ratio"]["median"] > 0 for a in entry["against"])


@pytest.mark.slow
def test_results_md_is_a_readable_table_with_ratios(quick_append_run: Path) -> None:
    text = (quick_append_run / "RESULTS.md").read_text("utf-8")

    assert text.startswith("# Laurel benchmark results")
    for heading in ("## How to read this", "## Machine, versions, settings",
                    "## 1. Event store append", "## What was not measured, and why"):
        assert heading in text
    assert "| case | Laurel | limit → Laurel's ratio | peer → Laurel's ratio |" in text
    assert "synchronous=FULL" in text
    assert "×**" in text  # ratios are printed
