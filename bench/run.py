#!/usr/bin/env python3
"""Benchmark the Users API mock beside Prism 5.14 (static mock) and json-server 0.17.4.

One command, public tools only; writes ``bench/RESULTS.md`` (the table, the machine, the date and
the exact commands). See ``bench/README.md``.

    /work/venv/bin/python bench/run.py            # full run (about 10-15 minutes on 2 cores)
    /work/venv/bin/python bench/run.py --quick    # smoke: seconds, small fixtures, no installs

What it does:
- installs what is missing: ``wrk`` (Debian package, via apt-get) and, with npm,
  ``@stoplight/prism-cli@5.14`` and ``json-server@0.17.4`` into ``bench/.cache/npm`` (gitignored);
  ``--quick`` installs nothing: without wrk it uses a small Python load generator, without the
  npm packages it measures ours alone;
- generates the large fixtures with ``mockserver fixtures generate`` (10,000 and 100,000 users);
- measures every server in alternating order (A B C, then C B A, ...) so machine drift cancels,
  and reports medians and each figure as a ratio to Prism's from the same run.

Only 127.0.0.1 is ever contacted; every load run is bounded in time.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    ACME,
    ACME_FILE,
    ACME_TOKEN,
    ACME_USER,
    BENCH,
    CACHE,
    CEILING,
    COMMANDS,
    HOST,
    INTEGRATION,
    JSON_SERVER,
    JSON_SERVER_JS,
    OURS,
    PRISM,
    PRISM_JS,
    REPO,
    Load,
    LoadGenerator,
    Results,
    Server,
    Settings,
    Target,
    ensure_node_servers,
    ensure_wrk,
    free_port,
    log,
    node_package_version,
    request,
)
from report import write_report  # noqa: E402


def ours_target(seed_file: Path, customer: str, user: str, token: str, ours_cmd: list[str]) -> Target:
    base = f"/api/v1/customers/{customer}/users"
    return Target(
        name=OURS,
        argv=[*ours_cmd, "--port", "{port}", "--no-access-log", "--seed", str(seed_file)],
        get_path=f"{base}/{user}",
        list_path=f"{base}?{INTEGRATION}",
        patch_path=f"{base}/{user}",
        headers={"Authorization": f"Bearer {token}"},
        env={"PYTHONPATH": str(REPO)},
    )


def ceiling_target() -> Target:
    """bench/ceiling.py: a bare Flask app behind the mock's InlineWSGI bridge on uvicorn + httptools,
    answering the fake's own rendered JSON for the same requests (no spec, auth, state or middleware)."""
    ours = ours_target(ACME_FILE, ACME, ACME_USER, ACME_TOKEN, [])
    return dataclasses.replace(ours, name=CEILING, argv=[sys.executable, str(BENCH / "ceiling.py"), "--port", "{port}",
                                                         "--seed", str(ACME_FILE)])


def make_targets(node: str | None, db_json: Path, ours_cmd: list[str], ceiling: bool = True) -> list[Target]:
    targets = [ours_target(ACME_FILE, ACME, ACME_USER, ACME_TOKEN, ours_cmd)]
    if node:
        base = f"/api/v1/customers/{ACME}/users"
        targets.append(Target(
            name=PRISM,
            argv=[node, str(PRISM_JS), "mock", "-h", HOST, "-p", "{port}", str(REPO / "openapi/users.yaml")],
            get_path=f"{base}/{ACME_USER}",
            list_path=f"{base}?{INTEGRATION}",
            patch_path=f"{base}/{ACME_USER}",
            headers={"Authorization": f"Bearer {ACME_TOKEN}"},
        ))
        targets.append(Target(
            name=JSON_SERVER,
            argv=[node, str(JSON_SERVER_JS), "--quiet", "--host", HOST, "--port", "{port}", str(db_json)],
            get_path=f"/users/{ACME_USER}",
            list_path="/users",
            patch_path=f"/users/{ACME_USER}",
            headers={},
        ))
    if ceiling:
        targets.append(ceiling_target())
    return targets


PATCH_BODY = json.dumps({"jobTitle": "Senior Associate", "office": "Chicago"}).encode()


def write_json_server_db(path: Path) -> None:
    """json-server's database: the Acme users, with ``id`` (json-server's key) = ``_id``."""
    acme = next(c for c in json.loads(ACME_FILE.read_text())["customers"] if c["_id"] == ACME)
    path.write_text(json.dumps({"users": [{"id": u["_id"], **u} for u in acme["users"]]}, indent=2))


def generate_fixture(path: Path, users: int, seed: int) -> None:
    argv = [sys.executable, "-m", "mockserver", "fixtures", "generate", "--customers", "1",
            "--users", str(users), "--seed", str(seed), "-o", str(path)]
    COMMANDS.add(argv, {"PYTHONPATH": str(REPO)})
    subprocess.run(argv, check=True, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)


def rare_term(document: dict) -> tuple[str, int]:
    """A selective search: the rarest last name of the first customer, and how many users match it
    by the contract's rule (substring of first name, last name, nickname or email, any case)."""
    users = document["customers"][0]["users"]
    counts: dict[str, int] = {}
    for user in users:
        counts[user["lastName"]] = counts.get(user["lastName"], 0) + 1
    term = min(counts, key=lambda name: (counts[name], name)).casefold()
    fields = ("firstName", "lastName", "nickname", "email")
    matches = sum(any(term in (u.get(f) or "").casefold() for f in fields) for u in users)
    return term, matches


def measure_cold_starts(targets: list[Target], settings: Settings, results: Results, scratch: Path) -> None:
    for attempt in range(settings.cold_starts):
        order = targets if attempt % 2 == 0 else targets[::-1]
        for target in order:
            server = Server(target, free_port(), scratch)
            try:
                started = server.start()
                seconds = server.wait_first_200(started, settings.start_timeout)
                results.add(target.name, "start_s", seconds)
                log(f"cold start {attempt + 1}/{settings.cold_starts} {target.name}: {seconds:.3f} s")
            finally:
                server.stop()


def check_response(server: Server, method: str, path: str, body: bytes | None, headers: dict, results: Results,
                   what: str) -> None:
    status, payload = request(server.port, method, path, headers, body)
    line = f"{server.target.name} {what}: {method} {path} -> {status}, {len(payload)} bytes"
    results.checks.setdefault(server.target.name, [])
    if line not in results.checks[server.target.name]:
        results.checks[server.target.name].append(line)
    if status != 200:
        results.notes.append(f"FAILED: {line} (expected 200)")
        results.failed = True


def measure_throughput(targets, settings, results, scratch, loader: LoadGenerator) -> None:
    for round_index in range(settings.rounds):
        order = targets if round_index % 2 == 0 else targets[::-1]
        for target in order:
            server = Server(target, free_port(), scratch)
            try:
                started = server.start()
                server.wait_first_200(started, settings.start_timeout)
                time.sleep(1.0)
                results.add(target.name, "rss_start_mib", (server.rss_kib() or 0) / 1024)
                json_headers = {**target.headers, "Content-Type": "application/json"}
                runs = [("get", "GET", target.get_path, target.headers, None),
                        ("list", "GET", target.list_path, target.headers, None)]
                if target.patch_path:
                    runs.append(("patch", "PATCH", target.patch_path, json_headers, PATCH_BODY))
                # Warm every request kind first: node's JIT (and any lazy cache) must not be measured on
                # whichever kind happens to come first.
                for figure, method, path, headers, body in runs:
                    check_response(server, method, path, body, headers, results, figure)
                    if settings.warmup:
                        loader.run(server.port, method, path, headers, body, settings.warmup)
                for figure, method, path, headers, body in runs:
                    load = loader.run(server.port, method, path, headers, body, settings.seconds)
                    record_load(results, target.name, figure, load)
                    log(f"round {round_index + 1}/{settings.rounds} {target.name} {figure}: {load.rps:,.0f} req/s "
                        f"p50 {load.p50_ms:.2f} ms p99 {load.p99_ms:.2f} ms non-2xx {load.non_2xx} errors {load.errors}")
                results.add(target.name, "rss_load_mib", (server.rss_kib() or 0) / 1024)
            finally:
                server.stop()


def record_load(results: Results, server: str, figure: str, load: Load) -> None:
    results.add(server, f"{figure}_rps", load.rps)
    results.add(server, f"{figure}_p50_ms", load.p50_ms)
    results.add(server, f"{figure}_p99_ms", load.p99_ms)
    results.add(server, f"{figure}_non2xx", load.non_2xx + load.errors)
    results.add(server, f"{figure}_requests", load.requests)
    results.extra["load_tool"] = load.tool


LOAD_SNIPPET = r"""
import json, sys, time
t0 = time.perf_counter()
from mockserver.fixtures.document import FixtureLoader
from mockserver.store.memory import Store
t1 = time.perf_counter()
document = FixtureLoader().load_files([sys.argv[1]])
t2 = time.perf_counter()
store = Store(document, take_ownership=True)  # as mockserver does (cli.build_store)
t3 = time.perf_counter()
rss = int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS:')).split()[1])
print(json.dumps({"import_s": t1 - t0, "validate_s": t2 - t1, "store_s": t3 - t2, "load_s": t3 - t1, "rss_kib": rss}))
"""


def measure_fixture_load(path: Path, settings: Settings, results: Results, label: str = "big") -> None:
    argv = [sys.executable, "-c", LOAD_SNIPPET, str(path)]
    COMMANDS.add([sys.executable, "-c", "<timing of FixtureLoader().load_files + Store(...), see bench/run.py LOAD_SNIPPET>",
                  str(path)], {"PYTHONPATH": str(REPO)})
    for attempt in range(settings.load_repeats):
        out = subprocess.run(argv, check=True, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        for key in ("validate_s", "store_s", "load_s"):
            results.add(OURS, f"{label}_{key}", figures[key])
        results.add(OURS, f"{label}_load_rss_mib", figures["rss_kib"] / 1024)
        log(f"{label} fixture load {attempt + 1}/{settings.load_repeats}: validate {figures['validate_s']:.2f} s, "
            f"store {figures['store_s']:.2f} s, RSS {figures['rss_kib'] / 1024:.0f} MiB")


def json_server_target(node: str, db_json: Path, user: str) -> Target:
    return Target(
        name=JSON_SERVER,
        argv=[node, str(JSON_SERVER_JS), "--quiet", "--host", HOST, "--port", "{port}", str(db_json)],
        get_path=f"/users/{user}",
        list_path="/users",
        patch_path=f"/users/{user}",
        headers={},
    )


def json_server_cold_start(target: Target, label: str, settings, results, scratch) -> None:
    server = Server(target, free_port(), scratch)
    try:
        started = server.start()
        seconds = server.wait_first_200(started, settings.start_timeout)
        time.sleep(1.0)
        results.add(JSON_SERVER, f"{label}_start_s", seconds)
        results.add(JSON_SERVER, f"{label}_rss_start_mib", (server.rss_kib() or 0) / 1024)
        log(f"{label}: json-server start-up to first 200 {seconds:.2f} s")
    finally:
        server.stop()


def measure_big(path: Path, users: int, label: str, settings, results, scratch, loader, ours_cmd,
                starts: int, search_only: bool = False, node: str | None = None) -> None:
    document = json.loads(path.read_bytes())
    customer = document["customers"][0]
    token = next(t["token"] for t in document["tokens"] if t["customerIds"] == [customer["_id"]] and "userId" not in t)
    user = customer["users"][len(customer["users"]) // 2]["_id"]
    term, matches = rare_term(document)
    peer = None
    if node:  # json-server on the same users (as for the Acme users: `id` = `_id`), cold starts alternating with ours
        db_json = scratch / f"db-{label}.json"
        db_json.write_text(json.dumps({"users": [{"id": u["_id"], **u} for u in customer["users"]]}, indent=2))
        peer = json_server_target(node, db_json, user)
    customer_id = customer["_id"]
    del document, customer
    results.extra[f"{label}_term"] = (term, matches)
    target = ours_target(path, customer_id, user, token, ours_cmd)
    search_path = f"{target.list_path}&search={term}"
    for attempt in range(starts):
        if peer is not None and attempt % 2 == 0:
            json_server_cold_start(peer, label, settings, results, scratch)
        server = Server(target, free_port(), scratch)
        try:
            started = server.start()
            seconds = server.wait_first_200(started, settings.start_timeout)
            results.add(OURS, f"{label}_start_s", seconds)
            log(f"{label}: start-up to first 200 {seconds:.2f} s")
            if attempt == starts - 1:
                time.sleep(1.0)
                results.add(OURS, f"{label}_rss_start_mib", (server.rss_kib() or 0) / 1024)
                for round_index in range(settings.rounds):
                    check_response(server, "GET", search_path, None, target.headers, results, f"search {label}")
                    for connections, suffix in ((10, ""), (1, "_c1")):
                        load = loader.run(server.port, "GET", search_path, target.headers, None, settings.seconds,
                                          connections=connections)
                        record_load(results, OURS, f"{label}_search{suffix}", load)
                        log(f"{label} search {term!r} ({matches} matches) -c{connections} round {round_index + 1}: "
                            f"{load.rps:,.1f} req/s p50 {load.p50_ms:.1f} ms p99 {load.p99_ms:.1f} ms "
                            f"non-2xx {load.non_2xx} errors {load.errors}")
        finally:
            server.stop()
        if peer is not None and attempt % 2 == 1:
            json_server_cold_start(peer, label, settings, results, scratch)

# -- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s loads, 1 round, small fixtures, no installs")
    parser.add_argument("--out", type=Path, help="report path (default bench/RESULTS.md; --quick: bench/.cache/RESULTS-quick.md)")
    parser.add_argument("--rounds", type=int, help="alternating load rounds (default 3; quick 1)")
    parser.add_argument("--seconds", type=float, help="seconds per load run (default 10; quick 1)")
    parser.add_argument("--big-users", type=int, help="users in the large fixture (default 100000; quick 2000)")
    parser.add_argument("--no-install", action="store_true", help="never run apt-get or npm")
    parser.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto",
                        help="auto: wrk when installed (installing it unless --quick/--no-install), else python")
    parser.add_argument("--ours-only", action="store_true", help="skip Prism and json-server")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the bare-Flask ceiling (bench/ceiling.py)")
    parser.add_argument("--skip-big", action="store_true", help="skip the 10k/100k fixture measurements")
    parser.add_argument("--skip-medium", action="store_true", help="skip the 10k fixture measurements")
    args = parser.parse_args(argv)

    quick = args.quick
    settings = Settings(
        quick=quick,
        rounds=args.rounds or (1 if quick else 3),
        cold_starts=1 if quick else 5,
        seconds=args.seconds or (1 if quick else 10),
        warmup=0 if quick else 4,
        big_users=args.big_users or (2000 if quick else 100_000),
        medium_users=1000 if quick else 10_000,
        big_starts=1 if quick else 3,
        load_repeats=1 if quick else 3,
        start_timeout=120 if quick else 300,
    )
    out = args.out or (CACHE / "RESULTS-quick.md" if quick else BENCH / "RESULTS.md")
    allow_install = not (quick or args.no_install)
    began = time.perf_counter()
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()

    CACHE.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=CACHE))
    COMMANDS.replacements.append((str(scratch), "bench/.cache/run-XXXX"))
    COMMANDS.replacements.append((f"PYTHONPATH={REPO}", "PYTHONPATH=."))
    COMMANDS.replacements.append((str(REPO) + "/", ""))
    wrk = None if args.load_generator == "python" else ensure_wrk(allow_install)
    if args.load_generator == "wrk" and not wrk:
        parser.error("wrk is not installed (and could not be installed)")
    node = None if args.ours_only else ensure_node_servers(allow_install)
    loader = LoadGenerator(wrk, scratch)
    log(f"load generator: {loader.tool}; peers: {'Prism + json-server' if node else 'none'}; scratch: {scratch}")

    ours_script = Path(sys.executable).with_name("mockserver")
    ours_cmd = [str(ours_script)] if ours_script.exists() else [sys.executable, "-m", "mockserver"]
    db_json = scratch / "db.json"
    write_json_server_db(db_json)
    targets = make_targets(node, db_json, ours_cmd, ceiling=not args.no_ceiling)
    servers = [t.name for t in targets]
    # the table's column order: ours, Prism, json-server
    versions = {PRISM: node_package_version("@stoplight/prism-cli"), JSON_SERVER: node_package_version("json-server")} if node else {}
    results = Results()
    try:
        log("cold starts")
        measure_cold_starts(targets, settings, results, scratch)
        log("throughput rounds")
        measure_throughput(targets, settings, results, scratch, loader)
        if not args.skip_big:
            for label, users, seed in (("medium", settings.medium_users, 1), ("big", settings.big_users, 1)):
                if label == "medium" and args.skip_medium:
                    continue
                path = scratch / f"users-{users}.json"
                t0 = time.perf_counter()
                generate_fixture(path, users, seed)
                results.add(OURS, f"{label}_generate_s", time.perf_counter() - t0)
                results.extra[f"{label}_size_mib"] = path.stat().st_size / 2**20
                compact = json.dumps(json.loads(path.read_bytes()), ensure_ascii=False, separators=(",", ":"))
                results.extra[f"{label}_compact_mib"] = len(compact.encode()) / 2**20
                del compact
                measure_fixture_load(path, settings, results, label)
                measure_big(path, users, label, settings, results, scratch, loader, ours_cmd,
                            starts=settings.big_starts if label == "big" else 1, node=node if label == "big" else None)
    finally:
        elapsed = time.perf_counter() - began
        write_report(out, results, servers, settings, started, elapsed, load_before, os.getloadavg(), versions)
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"wrote {out} in {elapsed / 60:.1f} min")
    if results.failed:
        log("FAILED: a request that should answer 200 did not; see the report's notes")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
