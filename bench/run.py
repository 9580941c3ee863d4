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
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CACHE = BENCH / ".cache"
NPM_DIR = CACHE / "npm"
PRISM_VERSION = "5.14"
JSON_SERVER_VERSION = "0.17.4"
PRISM_JS = NPM_DIR / "node_modules/@stoplight/prism-cli/dist/index.js"
JSON_SERVER_JS = NPM_DIR / "node_modules/json-server/lib/cli/bin.js"

ACME_FILE = REPO / "fixtures/acme.json"
ACME = "6500000000000000000000a1"
ACME_USER = "6500000000000000000001a1"
ACME_TOKEN = "acme-admin-token"
INTEGRATION = "integration=cloud-assistant-cdr"

OURS, PRISM, JSON_SERVER = "ours", "prism", "json-server"
LABELS = {OURS: "ours (mockserver)", PRISM: f"Prism {PRISM_VERSION} static", JSON_SERVER: f"json-server {JSON_SERVER_VERSION}"}
HOST = "127.0.0.1"


# -- small helpers -------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Commands:
    """Every distinct command the run executed, for RESULTS.md (ports and temp paths generalised)."""

    def __init__(self) -> None:
        self.seen: dict[str, None] = {}
        self.replacements: list[tuple[str, str]] = []

    def add(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        text = shlex.join(argv)
        if env:
            text = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + text
        for old, new in self.replacements:
            text = text.replace(old, new)
        text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:$PORT", text)
        text = re.sub(r"((?:--port|-p) )\d+", r"\1$PORT", text)
        self.seen.setdefault(text)


COMMANDS = Commands()
LUA_SCRIPTS: dict[str, str] = {}  # script text -> file name in the scratch folder


# -- installing what is needed -----------------------------------------------------------------


def ensure_wrk(allow_install: bool) -> str | None:
    found = shutil.which("wrk")
    if found or not allow_install:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        log("wrk is missing and apt-get is not usable here: falling back to the Python load generator")
        return None
    log("installing wrk from Debian's packages (apt-get)")
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        COMMANDS.add(argv)
        subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("wrk")


def ensure_node_servers(allow_install: bool) -> str | None:
    """Path to node when both peers are installed (installing them with npm if allowed)."""
    node = shutil.which("node")
    if node is None:
        log("node is missing: measuring ours alone")
        return None
    if PRISM_JS.is_file() and JSON_SERVER_JS.is_file():
        return node
    npm = shutil.which("npm")
    if not allow_install or npm is None:
        log("Prism/json-server are not installed in bench/.cache/npm and installing is off: measuring ours alone")
        return None
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    package = NPM_DIR / "package.json"
    if not package.exists():
        package.write_text('{"private": true, "description": "bench peers, installed by bench/run.py"}\n')
    argv = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error",
            f"@stoplight/prism-cli@{PRISM_VERSION}", f"json-server@{JSON_SERVER_VERSION}"]
    log("installing Prism and json-server with npm into bench/.cache/npm")
    COMMANDS.add(["npm", *argv[1:]])
    subprocess.run(argv, cwd=NPM_DIR, check=False)
    return node if PRISM_JS.is_file() and JSON_SERVER_JS.is_file() else None


def node_package_version(name: str) -> str:
    try:
        return json.loads((NPM_DIR / "node_modules" / name / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


# -- servers -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Target:
    """One server under test and the requests that exercise it."""

    name: str
    argv: list[str]
    get_path: str
    list_path: str
    patch_path: str | None
    headers: dict[str, str]
    env: dict[str, str] | None = None
    cwd: Path | None = None


class Server:
    def __init__(self, target: Target, port: int, scratch: Path):
        self.target = target
        self.port = port
        self.log_path = scratch / f"{target.name}-{port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        argv = [part.replace("{port}", str(self.port)) for part in self.target.argv]
        env = {**os.environ, **(self.target.env or {})}
        COMMANDS.add(argv, self.target.env)
        handle = open(self.log_path, "wb")
        started = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, cwd=self.target.cwd or REPO, start_new_session=True)
        handle.close()
        return started

    def wait_first_200(self, started: float, timeout: float) -> float:
        """Seconds from process start to the first 200 on GET-by-id, polling every 10 ms."""
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.target.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                status, _ = request(self.port, "GET", self.target.get_path, self.target.headers, timeout=2)
                if status == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{self.target.name} gave no 200 within {timeout:.0f} s; see {self.log_path}")

    def rss_kib(self) -> int | None:
        return rss_kib(self.proc.pid) if self.proc else None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # the process we started, by its pid
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def request(port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None,
            timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# -- load generation -----------------------------------------------------------------------------


@dataclasses.dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    errors: int
    tool: str


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)([a-z]+)", text).groups()
    return float(number) * _UNITS[unit]


class LoadGenerator:
    def __init__(self, wrk: str | None, scratch: Path):
        self.wrk = wrk
        self.scratch = scratch

    @property
    def tool(self) -> str:
        return "wrk" if self.wrk else "python"

    def run(self, port: int, method: str, path: str, headers: dict[str, str], body: bytes | None,
            seconds: float, connections: int = 10) -> Load:
        if self.wrk:
            return self._wrk(port, method, path, headers, body, seconds, connections)
        return python_load(port, method, path, headers, body, seconds, connections)

    def _wrk(self, port, method, path, headers, body, seconds, connections) -> Load:
        argv = [self.wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s", "--latency"]
        if method == "GET":
            for key, value in headers.items():
                argv += ["-H", f"{key}: {value}"]
        else:
            lines = [f'wrk.method = "{method}"', f"wrk.body = {json.dumps((body or b'').decode())}"]
            lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
            text = "\n".join(lines) + "\n"
            name = LUA_SCRIPTS.setdefault(text, f"{method.lower()}-{len(LUA_SCRIPTS) + 1}.lua")
            script = self.scratch / name
            script.write_text(text)
            argv += ["-s", str(script)]
        argv.append(f"http://{HOST}:{port}{path}")
        COMMANDS.add(argv)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
        p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        return Load(rps, p50, p99, requests, int(non2xx.group(1)) if non2xx else 0,
                    sum(map(int, errors.groups())) if errors else 0, "wrk")


def python_load(port, method, path, headers, body, seconds, connections) -> Load:
    """A small closed-loop load generator (keep-alive, one thread per connection) for machines
    without wrk. Its own overhead caps what it can measure: figures are labelled ``python``."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    failures = [0] * connections
    errors = [0] * connections
    deadline = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        while time.perf_counter() < deadline:
            begun = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if not 200 <= response.status < 400:
                    failures[slot] += 1
            except (OSError, http.client.HTTPException):
                errors[slot] += 1
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=30)
                continue
            latencies[slot].append((time.perf_counter() - begun) * 1000)
        conn.close()

    begun = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begun
    every = sorted(x for slot in latencies for x in slot)
    if not every:
        return Load(0.0, float("nan"), float("nan"), 0, sum(failures), sum(errors), "python")

    def pct(p: float) -> float:
        return every[min(len(every) - 1, int(p * len(every)))]

    return Load(len(every) / elapsed, pct(0.50), pct(0.99), len(every), sum(failures), sum(errors), "python")


# -- the run -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Settings:
    quick: bool
    rounds: int
    cold_starts: int
    seconds: float
    warmup: float
    big_users: int
    medium_users: int
    big_starts: int
    load_repeats: int
    start_timeout: float


class Results:
    def __init__(self) -> None:
        self.samples: dict[tuple[str, str], list[float]] = {}
        self.notes: list[str] = []
        self.checks: dict[str, list[str]] = {}
        self.extra: dict[str, Any] = {}
        self.failed = False  # a request that should have answered 200 did not

    def add(self, server: str, figure: str, value: float | None) -> None:
        if value is not None:
            self.samples.setdefault((server, figure), []).append(value)

    def get(self, server: str, figure: str) -> float | None:
        return median(self.samples.get((server, figure), []))

    def all(self, server: str, figure: str) -> list[float]:
        return self.samples.get((server, figure), [])


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


def make_targets(node: str | None, db_json: Path, ours_cmd: list[str]) -> list[Target]:
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
from mockserver.fixtures import FixtureLoader
from mockserver.store import Store
t1 = time.perf_counter()
document = FixtureLoader().load_files([sys.argv[1]])
t2 = time.perf_counter()
store = Store(document, take_ownership=True)  # as mockserver does (cli.build_store)
t3 = time.perf_counter()
rss = int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS:')).split()[1])
print(json.dumps({"import_s": t1 - t0, "validate_s": t2 - t1, "store_s": t3 - t2, "load_s": t3 - t1, "rss_kib": rss}))
"""


def measure_fixture_load(path: Path, settings: Settings, results: Results) -> None:
    argv = [sys.executable, "-c", LOAD_SNIPPET, str(path)]
    COMMANDS.add([sys.executable, "-c", "<timing of FixtureLoader().load_files + Store(...), see bench/run.py LOAD_SNIPPET>",
                  str(path)], {"PYTHONPATH": str(REPO)})
    for attempt in range(settings.load_repeats):
        out = subprocess.run(argv, check=True, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        for key in ("validate_s", "store_s", "load_s"):
            results.add(OURS, f"big_{key}", figures[key])
        results.add(OURS, "big_load_rss_mib", figures["rss_kib"] / 1024)
        log(f"fixture load {attempt + 1}/{settings.load_repeats}: validate {figures['validate_s']:.2f} s, "
            f"store {figures['store_s']:.2f} s, RSS {figures['rss_kib'] / 1024:.0f} MiB")


def measure_big(path: Path, users: int, label: str, settings, results, scratch, loader, ours_cmd,
                starts: int, search_only: bool = False) -> None:
    document = json.loads(path.read_bytes())
    customer = document["customers"][0]
    token = next(t["token"] for t in document["tokens"] if t["customerIds"] == [customer["_id"]] and "userId" not in t)
    user = customer["users"][len(customer["users"]) // 2]["_id"]
    term, matches = rare_term(document)
    del document
    results.extra[f"{label}_term"] = (term, matches)
    target = ours_target(path, customer["_id"], user, token, ours_cmd)
    search_path = f"{target.list_path}&search={term}"
    for attempt in range(starts):
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


def targets_section(results: Results, servers: list[str], settings: Settings) -> list[str]:
    lines = ["## Targets (from the issue)", "", "| target | measured | verdict |", "|---|---|---|"]

    def verdict(ok: bool | None) -> str:
        return "—" if ok is None else ("met" if ok else "**missed**")

    def row(name: str, measured: str, ok: bool | None) -> None:
        lines.append(f"| {name} | {measured} | {verdict(ok)} |")

    have_prism = PRISM in servers
    for key, name, limit, bigger_is_better in (
        ("start_s", "start-up to first 200 ≤ 0.5× Prism", 0.5, False),
        ("rss_start_mib", "RSS after start ≤ 0.5× Prism", 0.5, False),
        ("get_rps", "GET-by-id throughput ≥ 1.0× Prism", 1.0, True),
        ("get_p99_ms", "GET-by-id p99 ≤ Prism (stretch)", 1.0, False),
    ):
        ours, prism = results.get(OURS, key), results.get(PRISM, key)
        if not have_prism or ours is None or prism is None:
            row(name, "no Prism figure in this run", None)
            continue
        r = ours / prism
        row(name, f"{r:.2f}× ({fmt(ours, 'rps' if 'rps' in key else 'ms' if 'ms' in key else 's' if key.endswith('_s') else 'mib')} vs "
                  f"{fmt(prism, 'rps' if 'rps' in key else 'ms' if 'ms' in key else 's' if key.endswith('_s') else 'mib')})",
            r >= limit if bigger_is_better else r <= limit)
    big = settings.big_users
    p50 = results.get(OURS, "big_search_p50_ms")
    row(f"search on {big:,} users p50 ≤ 50 ms (wrk -c10, as every other figure)", f"{fmt(p50, 'ms')} ms",
        None if p50 is None else p50 <= 50)
    p50 = results.get(OURS, "big_search_c1_p50_ms")
    row(f"search on {big:,} users p50 ≤ 50 ms (one client, no queueing)", f"{fmt(p50, 'ms')} ms",
        None if p50 is None else p50 <= 50)
    load = results.get(OURS, "big_load_s")
    row(f"{big:,}-user fixture validates and loads ≤ 3 s", f"{fmt(load, 's')} s", None if load is None else load <= 3)
    rss = results.get(OURS, "big_rss_start_mib")
    size = results.extra.get("big_size_mib")
    if rss is not None and size:
        row(f"memory with {big:,} users ≤ 3× the fixture's JSON size",
            f"{rss / size:.1f}× ({rss:,.0f} MiB RSS / {size:.1f} MiB file)", rss / size <= 3)
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
    header = ["figure", *(LABELS[s] for s in servers)]
    header += [f"{LABELS[s]} ÷ Prism" for s in servers if s != PRISM and PRISM in servers]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, label, kind in ROWS:
        values = [results.get(s, key) for s in servers]
        if all(v is None for v in values):
            continue
        cells = [label, *(fmt(v, kind) for v in values)]
        if PRISM in servers:
            reference = results.get(PRISM, key)
            cells += [ratio(results.get(s, key), reference) if kind != "n" else "—" for s in servers if s != PRISM]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Ratios are ours (or json-server's) figure divided by Prism's from the same run: above 1 is more "
              "requests per second, or more seconds, milliseconds or MiB.", ""]

    lines += ["## Large fixtures (ours only; Prism and json-server have no equivalent)", "", "| figure | value |", "|---|---|"]
    size, compact = results.extra.get("big_size_mib"), results.extra.get("big_compact_mib")
    rss = results.get(OURS, "big_rss_start_mib")
    big_rows = [
        (f"fixture generation ({big:,} users), s", fmt(results.get(OURS, "big_generate_s"), "s")),
        (f"fixture JSON size ({big:,} users, readable form as generated), MiB", fmt(size, "mib")),
        ("the same document without whitespace, MiB", fmt(compact, "mib")),
        (f"fixture validate (FixtureLoader().load_files), s — median of {settings.load_repeats}",
         fmt(results.get(OURS, "big_validate_s"), "s")),
        ("store build (Store(document)), s", fmt(results.get(OURS, "big_store_s"), "s")),
        ("fixture validates and loads (both), s", fmt(results.get(OURS, "big_load_s"), "s")),
        ("RSS of that Python process after loading, MiB", fmt(results.get(OURS, "big_load_rss_mib"), "mib")),
        (f"start-up to first 200 with {big:,} users, s — median of {settings.big_starts}",
         fmt(results.get(OURS, "big_start_s"), "s")),
        (f"RSS after start with {big:,} users, MiB", fmt(rss, "mib")),
        ("RSS after start ÷ fixture JSON size (readable / without whitespace)",
         f"{rss / size:.1f}× / {rss / compact:.1f}×" if rss and size and compact else "—"),
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
    if PRISM in servers:
        paired = []
        for key in ("start_s", "rss_start_mib", "get_rps", "get_p99_ms", "list_rps", "patch_rps"):
            for server in (s for s in servers if s != PRISM):
                mine, theirs = results.all(server, key), results.all(PRISM, key)
                if mine and len(mine) == len(theirs):
                    ratios = [a / b for a, b in zip(mine, theirs, strict=True) if b]
                    paired.append(f"| {server} ÷ Prism | {key} | {', '.join(f'{r:.2f}×' for r in ratios)} |")
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
    parser.add_argument("--skip-big", action="store_true", help="skip the 10k/100k fixture measurements")
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
    targets = make_targets(node, db_json, ours_cmd)
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
                path = scratch / f"users-{users}.json"
                t0 = time.perf_counter()
                generate_fixture(path, users, seed)
                if label == "big":
                    results.add(OURS, "big_generate_s", time.perf_counter() - t0)
                    results.extra["big_size_mib"] = path.stat().st_size / 2**20
                    compact = json.dumps(json.loads(path.read_bytes()), ensure_ascii=False, separators=(",", ":"))
                    results.extra["big_compact_mib"] = len(compact.encode()) / 2**20
                    del compact
                    measure_fixture_load(path, settings, results)
                measure_big(path, users, label, settings, results, scratch, loader, ours_cmd,
                            starts=settings.big_starts if label == "big" else 1)
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
