"""Writing ``bench/RESULTS.md`` from a run's figures (see bench/run.py)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

from harness import (  # noqa: E402
    CEILING,
    COMMANDS,
    JSON_SERVER,
    LABELS,
    LUA_SCRIPTS,
    OURS,
    PRISM,
    REPO,
    Results,
    Settings,
)

# -- the report ----------------------------------------------------------------------------------


def fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "rps":
        return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    if kind == "ms":
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"
    if kind == "s":
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    if kind == "mib":
        return f"{value:,.1f}"
    return f"{value:g}"


def ratio(value: float | None, reference: float | None) -> str:
    if value is None or reference in (None, 0):
        return "—"
    return f"{value / reference:.2f}×"


ROWS = [  # figure key, label, kind
    ("start_s", "start-up to first 200, s (median of cold starts)", "s"),
    ("rss_start_mib", "RSS after start, MiB", "mib"),
    ("rss_load_mib", "RSS after load, MiB", "mib"),
    ("get_rps", "GET by id, req/s", "rps"),
    ("get_p50_ms", "GET by id, p50 ms", "ms"),
    ("get_p99_ms", "GET by id, p99 ms", "ms"),
    ("get_non2xx", "GET by id, non-2xx + socket errors", "n"),
    ("list_rps", "list (all users), req/s", "rps"),
    ("list_p50_ms", "list, p50 ms", "ms"),
    ("list_p99_ms", "list, p99 ms", "ms"),
    ("list_non2xx", "list, non-2xx + socket errors", "n"),
    ("patch_rps", "PATCH, req/s", "rps"),
    ("patch_p50_ms", "PATCH, p50 ms", "ms"),
    ("patch_p99_ms", "PATCH, p99 ms", "ms"),
    ("patch_non2xx", "PATCH, non-2xx + socket errors", "n"),
]


def machine_info() -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M)

    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "not available"

    return [
        f"- CPUs (nproc): {os.cpu_count()}",
        f"- CPU model: {model.group(1).strip() if model else 'unknown'}",
        f"- memory: {int(mem.group(1)) / 2**20:.1f} GiB" if mem else "- memory: unknown",
        f"- kernel: {platform.release()}; Python {platform.python_version()}; node {version(['node', '--version'])}",
        f"- load generator: {version(['wrk', '--version']) if shutil.which('wrk') else 'python (wrk not installed)'}",
    ]


def git_state() -> str:
    if os.environ.get("BENCH_CODE_LABEL"):  # e.g. a `git archive` snapshot measured outside the checkout
        return os.environ["BENCH_CODE_LABEL"]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                               text=True).stdout.strip()
        return f"{commit}{' with uncommitted changes' if dirty else ''}" if commit else "not a git checkout"
    except OSError:
        return "unknown"


# The figures of the run before this round's work (bench/RESULTS.md at 433e95f), for "as today or better".
PREVIOUS_SEARCH_P50_MS = {"big_search_p50_ms": 24.8, "big_search_c1_p50_ms": 2.30}


def targets_section(results: Results, servers: list[str], settings: Settings) -> list[str]:
    lines = ["## Targets", "", "| target | measured | verdict |", "|---|---|---|"]

    def verdict(ok: bool | None) -> str:
        return "—" if ok is None else ("met" if ok else "**missed**")

    def row(name: str, measured: str, ok: bool | None) -> None:
        lines.append(f"| {name} | {measured} | {verdict(ok)} |")

    def compare(key: str, other: str, limit: float, bigger_is_better: bool, name: str) -> None:
        ours, theirs = results.get(OURS, key), results.get(other, key)
        if other not in servers or ours is None or theirs is None:
            row(name, f"no {LABELS[other]} figure in this run", None)
            return
        kind = "rps" if "rps" in key else "s" if key.endswith("_s") else "ms"
        r = ours / theirs
        row(name, f"{r:.2f}× ({fmt(ours, kind)} vs {fmt(theirs, kind)})", r >= limit if bigger_is_better else r <= limit)

    for kind, what in (("get", "GET by id"), ("list", "list"), ("patch", "PATCH")):
        compare(f"{kind}_rps", JSON_SERVER, 1.0, True, f"{what} req/s ≥ 1.0× json-server")
        compare(f"{kind}_rps", PRISM, 1.2, True, f"{what} req/s ≥ 1.2× Prism")
        compare(f"{kind}_p99_ms", JSON_SERVER, 1.0, False, f"{what} p99 ≤ json-server's")
        compare(f"{kind}_p99_ms", PRISM, 1.0, False, f"{what} p99 ≤ Prism's")
    compare("patch_rps", JSON_SERVER, 1.2, True, "PATCH req/s ≥ 1.2× json-server")
    for kind, what in (("get", "GET by id"), ("list", "list"), ("patch", "PATCH")):
        compare(f"{kind}_rps", CEILING, 0.6, True, f"{what} req/s ≥ 0.6× the bare-Flask ceiling")
    big = settings.big_users
    rss = results.get(OURS, "big_rss_start_mib")
    size = results.extra.get("big_size_mib")
    if rss is not None and size:
        row(f"{big:,} users: RSS after start ≤ 3× the fixture file's size",
            f"{rss / size:.2f}× ({rss:,.0f} MiB RSS / {size:.1f} MiB file)", rss / size <= 3)
    load = results.get(OURS, "big_load_s")
    row(f"{big:,} users: validate + load ≤ 2 s", f"{fmt(load, 's')} s", None if load is None else load <= 2)
    start = results.get(OURS, "big_start_s")
    row(f"{big:,} users: start-up to the first 200 ≤ 3 s", f"{fmt(start, 's')} s", None if start is None else start <= 3)
    compare("big_start_s", JSON_SERVER, 3.0, False, f"{big:,} users: start-up to the first 200 ≤ 3× json-server's")
    for key, how in (("big_search_p50_ms", "10 connections"), ("big_search_c1_p50_ms", "1 connection")):
        p50, before = results.get(OURS, key), PREVIOUS_SEARCH_P50_MS[key]
        row(f"{big:,} users: search p50 ({how}) as before or better (≤ {before} ms)", f"{fmt(p50, 'ms')} ms",
            None if p50 is None else p50 <= before)
    if settings.quick:
        lines += ["", "_Quick (smoke) run: tiny durations and fixtures; the verdicts above mean nothing here._"]
    return lines


def write_report(path: Path, results: Results, servers: list[str], settings: Settings, started: dt.datetime,
                 elapsed: float, load_before: tuple, load_after: tuple, versions: dict[str, str]) -> None:
    medium, big = settings.medium_users, settings.big_users
    lines = [
        "# Benchmark results",
        "",
        f"Written by `bench/run.py{' --quick' if settings.quick else ''}` on {started:%Y-%m-%d %H:%M} UTC "
        f"in {elapsed / 60:.1f} min; code measured: `{git_state()}`.",
        "",
    ]
    if settings.quick:
        lines += ["**Quick smoke run** — durations and fixtures are tiny; do not read anything into these numbers.", ""]
    lines += ["## Machine", "", *machine_info(),
              f"- load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in load_before)}; "
              f"after: {' '.join(f'{x:.2f}' for x in load_after)} — a shared, noisy machine: compare within a run",
              ""]
    lines += [
        "## Method",
        "",
        f"- servers: {', '.join(LABELS[s] + (f' (installed: {versions[s]})' if s in versions else '') for s in servers)}; "
        "the same Acme users (fixtures/acme.json) everywhere; json-server gets them as a `users` array with `id` = `_id`.",
        f"- start-up: process start (just before exec) to the first 200 on GET-by-id, polled every 10 ms; "
        f"median of {settings.cold_starts} cold starts, servers alternating.",
        f"- load: {results.extra.get('load_tool', '?')} -t1 -c10 -d{settings.seconds:g}s --timeout 30s --latency, after "
        f"warming each server with {settings.warmup:g} s of each request kind (GET, list, PATCH); {settings.rounds} rounds, server order reversed every round "
        "(A B C, C B A, ...); each server started fresh per round; medians of the rounds.",
        "- RSS: VmRSS of the server process (the node process for node servers) 1 s after the first 200, and after "
        "its GET, list and PATCH runs.",
        "- ours is called with `Authorization: Bearer acme-admin-token`; Prism gets the same headers and query; "
        "json-server needs none. Every run counts non-2xx answers and socket errors (should be 0).",
        "",
        "## Results",
        "",
    ]
    compared = [(OURS, other) for other in (PRISM, JSON_SERVER, CEILING) if other in servers]
    compared += [(JSON_SERVER, PRISM)] if JSON_SERVER in servers and PRISM in servers else []
    header = ["figure", *(LABELS[s] for s in servers)]
    header += [f"{'ours' if a == OURS else LABELS[a]} ÷ {LABELS[b]}" for a, b in compared]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, label, kind in ROWS:
        values = [results.get(s, key) for s in servers]
        if all(v is None for v in values):
            continue
        cells = [label, *(fmt(v, kind) for v in values)]
        cells += [ratio(results.get(a, key), results.get(b, key)) if kind != "n" else "—" for a, b in compared]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Ratios divide the first server's figure by the second's from the same run: above 1 is more "
              "requests per second, or more seconds, milliseconds or MiB. The ceiling is bench/ceiling.py: a bare "
              "Flask app behind the mock's own InlineWSGI bridge on uvicorn + httptools, answering the fake's "
              "rendered JSON with nothing in between (no spec, validation, auth, state or middleware).", ""]

    lines += ["## Large fixtures (ours; json-server's start-up on the same users)", "", "| figure | value |", "|---|---|"]
    big_rows: list[tuple[str, str]] = []
    for label_key, n in (("medium", medium), ("big", big)):
        size, compact = results.extra.get(f"{label_key}_size_mib"), results.extra.get(f"{label_key}_compact_mib")
        rss = results.get(OURS, f"{label_key}_rss_start_mib")
        starts = settings.big_starts if label_key == "big" else 1
        big_rows += [
            (f"fixture generation ({n:,} users), s", fmt(results.get(OURS, f"{label_key}_generate_s"), "s")),
            (f"fixture JSON size ({n:,} users, readable form as generated), MiB", fmt(size, "mib")),
            (f"the same document without whitespace ({n:,} users), MiB", fmt(compact, "mib")),
            (f"fixture validate (FixtureLoader().load_files), {n:,} users, s — median of {settings.load_repeats}",
             fmt(results.get(OURS, f"{label_key}_validate_s"), "s")),
            (f"store build (Store(document)), {n:,} users, s", fmt(results.get(OURS, f"{label_key}_store_s"), "s")),
            (f"fixture validates and loads (both), {n:,} users, s", fmt(results.get(OURS, f"{label_key}_load_s"), "s")),
            (f"RSS of that Python process after loading ({n:,} users), MiB",
             fmt(results.get(OURS, f"{label_key}_load_rss_mib"), "mib")),
            (f"start-up to first 200 with {n:,} users, s — median of {starts}",
             fmt(results.get(OURS, f"{label_key}_start_s"), "s")),
            (f"json-server: start-up to first 200 with the same {n:,} users, s — median of its starts",
             fmt(results.get(JSON_SERVER, f"{label_key}_start_s"), "s")),
            (f"json-server: RSS after start with {n:,} users, MiB", fmt(results.get(JSON_SERVER, f"{label_key}_rss_start_mib"), "mib")),
            (f"RSS after start with {n:,} users, MiB", fmt(rss, "mib")),
            (f"RSS after start ÷ fixture JSON size ({n:,} users; readable / without whitespace)",
             f"{rss / size:.2f}× / {rss / compact:.2f}×" if rss and size and compact else "—"),
        ]
    for label_key, n in (("medium", medium), ("big", big)):
        term = results.extra.get(f"{label_key}_term")
        if term:
            big_rows += [
                (f"search `{term[0]}` ({term[1]} matches) on {n:,} users, 10 connections: req/s",
                 fmt(results.get(OURS, f"{label_key}_search_rps"), "rps")),
                (f"search on {n:,} users, 10 connections: p50 / p99 ms",
                 f"{fmt(results.get(OURS, f'{label_key}_search_p50_ms'), 'ms')} / "
                 f"{fmt(results.get(OURS, f'{label_key}_search_p99_ms'), 'ms')}"),
                (f"search on {n:,} users, 1 connection (no queueing): req/s",
                 fmt(results.get(OURS, f"{label_key}_search_c1_rps"), "rps")),
                (f"search on {n:,} users, 1 connection: p50 / p99 ms",
                 f"{fmt(results.get(OURS, f'{label_key}_search_c1_p50_ms'), 'ms')} / "
                 f"{fmt(results.get(OURS, f'{label_key}_search_c1_p99_ms'), 'ms')}"),
                (f"search on {n:,} users, non-2xx + socket errors (10 / 1 connections)",
                 f"{fmt(results.get(OURS, f'{label_key}_search_non2xx'), 'n')} / "
                 f"{fmt(results.get(OURS, f'{label_key}_search_c1_non2xx'), 'n')}"),
            ]
    lines += [f"| {label} | {text} |" for label, text in big_rows]
    lines.append("")
    lines += targets_section(results, servers, settings)
    lines += ["", "## Every round (to judge the spread)", ""]
    if compared:
        paired = []
        for key in ("start_s", "rss_start_mib", "get_rps", "get_p99_ms", "list_rps", "list_p99_ms", "patch_rps",
                    "patch_p99_ms"):
            for a, b in compared:
                mine, theirs = results.all(a, key), results.all(b, key)
                if mine and len(mine) == len(theirs):
                    ratios = [x / y for x, y in zip(mine, theirs, strict=True) if y]
                    paired.append(f"| {a} ÷ {b} | {key} | {', '.join(f'{r:.2f}×' for r in ratios)} |")
        if paired:
            lines += ["Paired ratios (the same attempt or round, measured back to back):", "",
                      "| servers | figure | ratio per round |", "|---|---|---|", *paired, ""]
    lines += ["| server | figure | values |", "|---|---|---|"]
    for (server, key), values in sorted(results.samples.items()):
        if len(values) > 1:
            lines.append(f"| {server} | {key} | {', '.join(f'{v:,.3g}' for v in values)} |")
    lines += ["", "## Response checks (one request before each load run)", ""]
    for checks in results.checks.values():
        lines += [f"- {check}" for check in checks]
    if results.notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in results.notes)]
    lines += ["", "## Exact commands", "", "Run from the repository root; `$PORT` is a free port chosen per start.", "",
              "```", f"{Path(sys.executable)} bench/run.py{' --quick' if settings.quick else ''}", *COMMANDS.seen, "```", ""]
    for text, name in LUA_SCRIPTS.items():
        lines += [f"`bench/.cache/run-XXXX/{name}`:", "", "```lua", text.rstrip(), "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text("\n".join(lines))
    os.replace(temp, path)
