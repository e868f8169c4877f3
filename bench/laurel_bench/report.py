"""RESULTS.md from results.json: every Laurel figure beside its limit and peer."""

from __future__ import annotations

from typing import Any

ORDER = ["append", "rebuild", "scale", "system", "replicas", "campaign"]


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    if unit in ("ms",):
        return f"{value:,.2f}" if value < 10 else f"{value:,.1f}"
    if unit in ("s", "MB"):
        return f"{value:,.2f}" if value < 10 else f"{value:,.1f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"


def span(summary: dict[str, Any] | None, unit: str = "") -> str:
    if not summary or summary.get("median") is None:
        return "–"
    return (f"{fmt(summary['median'], unit)} "
            f"[{fmt(summary['min'], unit)}–{fmt(summary['max'], unit)}]")


def ratio(summary: dict[str, Any] | None) -> str:
    if not summary or summary.get("median") is None:
        return "–"
    return (f"**{summary['median']:.2f}×** "
            f"[{summary['min']:.2f}–{summary['max']:.2f}]")


def render(results: dict[str, Any]) -> str:
    lines = [
        "# Laurel benchmark results",
        "",
        f"Written by `make bench` (`bench/run.py{' --quick' if results['quick'] else ''}"
        f"{' --only ' + ','.join(results['only']) if results.get('only') else ''}`) "
        f"on {results['started_at']}; the whole run took "
        f"**{results.get('wall_seconds', 0):.0f} s**. The raw numbers, every run of "
        "every figure, are in `results.json` beside this file.",
        "",
        *_sharing(results),
        "## How to read this",
        "",
        f"- Each figure is the **median of {results['rounds']} runs [min–max]**. Every "
        "run is a fresh Python process (so caches, heap and peak memory of one run "
        "never carry into the next), and the runs go round by round — Laurel, its "
        "limit and its peer, then again — so machine noise falls on all of them alike.",
        "- **Limit**: the bare driver (sqlite3, psycopg) or transport doing the least "
        "that gives the same result, on the same rows, in the same run. **Peer**: the "
        "best Python alternative, the `eventsourcing` library "
        f"{results['machine']['packages'].get('eventsourcing') or '(missing)'} "
        "with its own SQLite and PostgreSQL persistence.",
        "- **Ratio** = Laurel's speed in multiples of the other's, computed per round "
        "and then summarized: for throughputs Laurel ÷ other, for times and latencies "
        "other ÷ Laurel. **Below 1× Laurel is slower**; 0.25× means the other does "
        "the same work 4 times faster.",
        "- **Peak RSS** is the kernel's high-water mark (VmHWM) of the measuring "
        "process during the operation (reset just before it), so it includes the "
        "interpreter and what the process already held; the PostgreSQL server's "
        "memory is not included. For services it is each service process's VmHWM.",
        "",
    ]
    lines += _machine(results)
    for key in ORDER:
        workload = results["workloads"].get(key)
        if workload is None:
            continue
        lines += _workload(ORDER.index(key) + 1, key, workload)
    lines += _not_measured(results)
    return "\n".join(lines).rstrip() + "\n"


def _sharing(results: dict[str, Any]) -> list[str]:
    """A plain statement of whether other work ran on the machine meanwhile."""
    load = results.get("load") or {}
    one = load.get("one_minute_load") or {}
    if not one:
        return []
    figures = (f"1-minute load average median {one['median']:.1f}, max {one['max']:.1f} "
               f"on {load['cores']} cores (sampled every {one['every_seconds']} s)")
    if load.get("shared"):
        return [f"**The machine was shared during this run**: other engineers' test "
                f"suites ran on the same cores ({figures}; pytest processes seen in "
                f"{load['share_of_samples_with_pytest_running']:.0%} of the samples, up "
                f"to {load['pytest_processes_max']} at once). Absolute figures are "
                "lower and noisier than on an idle machine; the ratios, measured "
                "round by round in the same run, hold better.", ""]
    return [f"No other test suite ran during this run ({figures}; the load is the "
            "bench's own services, broker and load generators on 2 cores).", ""]


def _machine(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    pg = m.get("postgres", {})
    sq = m.get("laurel_sqlite_settings", {})
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    rows = [
        ("CPU", f"{m['cpu_model']}, {m['cpus_usable']} usable of {m['cpus_online']} "
                f"online"),
        ("Memory", f"{m['memory_gib']} GiB"),
        ("OS / kernel", f"{m['os']} / {m['kernel']}"),
        ("Disk (work dir)", f"{m['filesystem_of_work_dir'].get('device', '')}"),
        ("Load average at start / end",
         f"{' '.join(f'{x:.2f}' for x in m['load_average_at_start'])} / "
         f"{' '.join(f'{x:.2f}' for x in results.get('load_average_at_end', []))}"),
        ("Python", m["python"]),
        ("SQLite library", m["sqlite_library"]),
        ("Laurel's SQLite settings",
         f"journal_mode={sq.get('journal_mode')}, synchronous={sq.get('synchronous')}, "
         f"writes in {sq.get('write_transactions')} (read back from a connection of "
         "`engine_for`)"),
        ("PostgreSQL", pg.get("version", pg.get("error", "–")).split(" on ")[0]),
        ("PostgreSQL durability",
         ", ".join(f"{k}={pg[k]}" for k in ("fsync", "synchronous_commit",
                                            "wal_sync_method", "full_page_writes",
                                            "shared_buffers") if k in pg) or "–"),
        ("Packages", packages),
        ("Laurel commit", m["laurel_commit"][:12] + (
            " (working tree has uncommitted changes)" if m["laurel_tree_dirty"] else "")),
    ]
    out = ["## Machine, versions, settings", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    return out + [""]


def _workload(number: int, key: str, w: dict[str, Any]) -> list[str]:
    out = [f"## {number}. {w.get('title', key)}", ""]
    if w.get("status") == "failed":
        out += ["**The workload failed**:", "", "```", w.get("reason", "").strip(), "```",
                ""]
        return out
    if w.get("status") not in ("measured", "partial"):
        out += [f"**Laurel not measured**: {_first_line(w.get('reason', w.get('status')))}",
                ""]
    if w.get("summary"):
        out += [w["summary"], ""]
    settings = w.get("settings", {})
    for name, value in settings.items():
        if name in ("datasets",):
            continue
        out.append(f"- {name.replace('_', ' ')}: {_plain(value)}")
    out.append("")
    figures = {f["id"]: f for f in w.get("figures", [])}
    if key == "scale":
        out += _scale(w)
    if key == "campaign":
        out += _campaign(w)
    if w.get("comparisons"):
        out += ["| case | Laurel | limit → Laurel's ratio | peer → Laurel's ratio |",
                "|---|---|---|---|"]
        for c in w["comparisons"]:
            laurel = figures[c["laurel"]]
            cells = {"limit": [], "peer": []}
            for other in c["against"]:
                fig = figures[other["figure"]]
                if fig.get("error"):
                    cells[other["kind"]].append(f"{fig['label']}: not measured")
                    continue
                cells[other["kind"]].append(
                    f"{fig['label']}: {fmt(fig['value']['median'], fig['unit'])} → "
                    f"{ratio(other['ratio'])}")
            if c.get("no_peer"):
                cells["peer"].append(f"none ({c['no_peer']})")
            if c.get("no_limit"):
                cells["limit"].append(f"none ({c['no_limit']})")
            shown = ("not measured: " + laurel["error"].splitlines()[0][:160]
                     if laurel.get("error") else
                     f"{span(laurel['value'], laurel['unit'])} {laurel['unit']}")
            out.append(f"| {c['label']} | {shown} | {'<br>'.join(cells['limit']) or '–'} "
                       f"| {'<br>'.join(cells['peer']) or '–'} |")
        out.append("")
    if figures:
        out += ["<details><summary>every figure of this workload</summary>", "",
                "| figure | role | value, median [min–max] | wall s | CPU s | peak RSS MB |",
                "|---|---|---|---|---|---|"]
        for f in figures.values():
            if f.get("error"):
                out.append(f"| `{f['id']}` {f['label']} | {f['role']} | not measured | "
                           "– | – | – |")
                continue
            cpu = [r.get("cpu_seconds") for r in f["runs"] if r.get("cpu_seconds")]
            cpu_s = fmt(sorted(cpu)[len(cpu) // 2], "s") if cpu else "–"
            out.append(
                f"| `{f['id']}` {f['label']} | {f['role']} | "
                f"{span(f['value'], f['unit'])} {f['unit']} | "
                f"{span(f['seconds'], 's')} | {cpu_s} | {span(f['peak_rss_mb'], 'MB')} |")
        out += ["", "</details>", ""]
    for note in w.get("notes", []):
        out.append(f"- {note}")
    if w.get("notes"):
        out.append("")
    return out


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0][:400] if (text or "").strip() else ""


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _scale(w: dict[str, Any]) -> list[str]:
    out = []
    for step in w.get("steps", []):
        if step["status"] == "measured":
            build = step["build"]
            out.append(f"- {step['events']:,} events ({step['streams']:,} streams): "
                       f"file {step['db_mb']} MB; generated at "
                       f"{fmt(build['rate'])} events/s (one run, "
                       f"{fmt(build['seconds'], 's')} s)")
        else:
            out.append(f"- {step['events']:,} events: {step['reason']}")
    out.append("")
    growth = w.get("growth", [])
    if growth:
        sizes = [s["events"] for s in growth[0]["sizes"]]
        out += ["How time and peak memory grow (medians; × = multiple of the first size):",
                "",
                "| operation | " + " | ".join(f"{n:,} events" for n in sizes) + " |",
                "|---|" + "---|" * len(sizes)]
        for row in growth:
            cells = []
            for s in row["sizes"]:
                growth_note = (f" (time ×{s['time_x']:.1f}, mem ×{s['memory_x']:.1f})"
                               if s["events_x"] != 1 and s["time_x"] else "")
                cells.append(f"{fmt(s['seconds'], 's')} s, {fmt(s['peak_rss_mb'], 'MB')}"
                             f" MB{growth_note}")
            out.append(f"| {row['label']} ({row['role']}) | " + " | ".join(cells) + " |")
        out.append("")
    return out


def _campaign(w: dict[str, Any]) -> list[str]:
    out = ["| stage | status | median [min–max] | notes |", "|---|---|---|---|"]
    for stage in w.get("stages", []):
        value = span(stage.get("seconds"), "s") + " s" if stage.get("seconds") else "–"
        out.append(f"| {stage['stage']} | {stage['status']} | {value} | "
                   f"{stage.get('notes', '')} |")
    return out + [""]


def _not_measured(results: dict[str, Any]) -> list[str]:
    items = list(results.get("not_measured", []))
    for key in ORDER:
        w = results["workloads"].get(key)
        if not w:
            continue
        if w.get("status") not in ("measured", "partial"):
            items.append(f"{w.get('title', key)}: "
                         f"{_first_line(w.get('reason') or w.get('status'))}")
        for f in w.get("figures", []):
            if f.get("error"):
                items.append(f"`{f['id']}`: {f['error'].splitlines()[0][:300]}")
        for step in w.get("steps", []):
            if step.get("status") == "skipped":
                items.append(f"scale at {step['events']:,} events: {step['reason']}")
        for stage in w.get("stages", []):
            if stage["status"] != "measured":
                items.append(f"campaign stage '{stage['stage']}': {stage['status']}"
                             f"{' — ' + stage['notes'] if stage.get('notes') else ''}")
        items += w.get("not_measured", [])
    out = ["## What was not measured, and why", ""]
    out += [f"- {item}" for item in items] or ["- Everything listed above was measured."]
    return out + [""]
