"""The benchmark's machinery: servers, load generation, installs, figures (used by run.py and
profiling.py; see bench/README.md)."""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
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

OURS, PRISM, JSON_SERVER, CEILING = "ours", "prism", "json-server", "ceiling"
LABELS = {OURS: "ours (mockserver)", PRISM: f"Prism {PRISM_VERSION} static", JSON_SERVER: f"json-server {JSON_SERVER_VERSION}",
          CEILING: "bare-Flask ceiling"}
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
