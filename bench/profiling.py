#!/usr/bin/env python3
"""Profile the mock where the benchmark says it is slow; writes ``bench/PROFILE.md``.

    /work/venv/bin/python bench/profiling.py                 # GET-by-id under wrk + 100k fixture load
    /work/venv/bin/python bench/profiling.py --seconds 20 --fixture-users 100000 --speedscope /tmp/get.json

1. The GET-by-id hot path: serve the Acme fixtures, drive ``wrk -t1 -c10`` at GET-by-id, and sample
   the server with ``py-spy record`` (installed into the running Python's environment with pip if
   missing). The raw stacks are summarised by layer (Connexion's middleware, uvicorn/h11, a2wsgi,
   Flask/Werkzeug, jsonschema, JSON, ``copy``, our code): self time (the frame on the CPU) and
   inclusive time (the layer anywhere on the stack), per thread, and the top functions.
2. The fixture load: ``cProfile`` of ``FixtureLoader().load_files`` and ``Store(...)`` on a
   generated fixture (100,000 users by default).

Only 127.0.0.1 is contacted; the load is bounded in time.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: servers, wrk, fixtures)
from report import git_state  # noqa: E402

REPO = bench.REPO

# (label, regex on "function (file:line)") — first match wins for self time.
LAYERS = [  # py-spy names files relative to site-packages / the stdlib: "func (pkg/mod.py:12)"
    ("uvicorn + h11/httptools (HTTP parsing, protocol)", r"[(/](uvicorn|h11|httptools)/"),
    ("connexion: security middleware", r"[(/]connexion/(middleware/security\.py|security/)"),
    ("connexion: request validation (middleware + validators)",
     r"[(/]connexion/(middleware/request_validation\.py|validators/)"),
    ("connexion: routing middleware", r"[(/]connexion/middleware/routing\.py"),
    ("connexion: swagger-ui middleware", r"[(/]connexion/middleware/swagger_ui\.py"),
    ("connexion: other middleware (main, context, lifespan, exceptions, abstract)", r"[(/]connexion/middleware/"),
    ("connexion: flask app, decorators, parameter parsing", r"[(/]connexion/"),
    ("starlette (routing, requests, datastructures)", r"[(/]starlette/"),
    ("a2wsgi (ASGI->WSGI bridge)", r"[(/]a2wsgi/"),
    ("flask", r"[(/]flask/"),
    ("werkzeug", r"[(/]werkzeug/"),
    ("jsonschema (+ referencing, rpds)", r"[(/](jsonschema|jsonschema_specifications|referencing|rpds)/"),
    ("email_validator", r"[(/]email_validator/"),
    ("json encode/decode (stdlib json)", r"[(/]json/"),
    ("copy.deepcopy (stdlib copy)", r"[(/]copy\.py"),
    ("mockserver: store", r"[(/]mockserver/store\.py"),
    ("mockserver: validation", r"[(/]mockserver/validation\.py"),
    ("mockserver: middleware", r"[(/]mockserver/middleware\.py"),
    ("mockserver: other", r"[(/]mockserver/"),
    ("asyncio + event loop", r"[(/]asyncio/|uvloop"),
    ("threads, queues, futures", r"[(/](threading|queue|concurrent/futures/[a-z_]+)\.py"),
    ("logging", r"[(/]logging/"),
    ("click (CLI frames around the server)", r"[(/]click/"),
]
# Where the time goes, as a partition: each sample goes to the frame nearest the CPU (leaf first)
# that names one of these; helpers that match none (re, typing, functools, ...) count for their caller.
SPOTS = [
    ("JSON encoding of the response (stdlib json)",
     r"[(/]json/"),
    ("jsonschema (parameter validation)", r"[(/](jsonschema|jsonschema_specifications|referencing|rpds)/"),
    ("copy.deepcopy", r"[(/]copy\.py"),
    ("inspect.signature and friends (per-request introspection)", r"[(/]inspect\.py"),
    ("email_validator", r"[(/]email_validator/"),
    ("our code (mockserver: store, handlers, middleware, validation, auth)", r"[(/]mockserver/"),
    ("uvicorn + h11 (parse requests, frame responses, socket writes)", r"[(/](uvicorn|h11|httptools)/"),
    ("a2wsgi + the thread hop (executor, futures, Condition, run_coroutine_threadsafe)",
     r"[(/](a2wsgi/|concurrent/futures/|threading\.py|queue\.py|asyncio/(futures|base_futures|tasks|events|mixins|queues|locks)\.py)"),
    ("event loop internals (uvloop run, callbacks)", r"[(/]asyncio/runners\.py"),
    ("Connexion ASGI middleware (security, validation, routing, swagger-ui, context, exceptions)",
     r"[(/]connexion/(middleware/|security\.py|validators/)"),
    ("Connexion Flask side (decorators, parameter and URI parsing, ConnexionRequest, response building)",
     r"[(/]connexion/"),
    ("Starlette (routers in Connexion's middleware, Request/Headers objects, exception middleware)", r"[(/]starlette/"),
    ("Flask", r"[(/]flask/"),
    ("Werkzeug (WSGI request/response objects, URL matching, context locals)", r"[(/]werkzeug/"),
]
_SPOT_RE = [(label, re.compile(pattern)) for label, pattern in SPOTS]


def spot_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for label, pattern in _SPOT_RE:
            if pattern.search(frame):
                return label
    return "other"


_LAYER_RE = [(label, re.compile(pattern)) for label, pattern in LAYERS]


def layer_of(frame: str) -> str:
    for label, pattern in _LAYER_RE:
        if pattern.search(frame):
            return label
    return "other (stdlib re, typing, functools, ...)"


def ensure_py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if Path(found).exists():
        return found
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    return str(Path(sys.executable).with_name("py-spy"))


def parse_raw(path: Path) -> list[tuple[list[str], int]]:
    samples = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack.split(";"), int(count)))
    return samples


def summarise(samples: list[tuple[list[str], int]], top: int) -> list[str]:
    total = sum(count for _, count in samples)
    if not total:
        return ["(no samples)"]
    threads: Counter[str] = Counter()
    self_layer: Counter[str] = Counter()
    incl_layer: Counter[str] = Counter()
    self_func: Counter[str] = Counter()
    incl_func: Counter[str] = Counter()
    for stack, count in samples:
        frames = [f for f in stack if not f.startswith(("thread", "process"))]
        if not frames:
            continue
        threads[thread_kind(frames)] += count
        self_layer[layer_of(frames[-1])] += count
        self_func[short(frames[-1])] += count
        for layer in {layer_of(f) for f in frames}:
            incl_layer[layer] += count
        for func in {short(f) for f in frames}:
            incl_func[func] += count

    def pct(n: int) -> str:
        return f"{100 * n / total:.1f}%"

    lines = [f"{total:,} samples (py-spy `--gil`: only the thread holding the GIL, i.e. where the Python CPU time "
             "goes; threads waiting on locks, queues or sockets are not counted).", "", "### By thread", "",
             "| thread | share |", "|---|---|"]
    lines += [f"| {name} | {pct(n)} |" for name, n in threads.most_common()]
    spots: Counter[str] = Counter()
    for stack, count in samples:
        spots[spot_of([f for f in stack if not f.startswith(("thread", "process"))])] += count
    lines += ["", "### Where the time goes (a partition: each sample counts once, for the named part nearest the CPU)",
              "", "| part | share |", "|---|---|"]
    lines += [f"| {label} | {pct(n)} |" for label, n in spots.most_common()]
    lines += ["", "### By layer", "", "Self: the frame on the CPU belongs to the layer. Inclusive: the layer is "
              "anywhere on the stack (a layer's inclusive time contains the layers it calls).", "",
              "| layer | self | inclusive |", "|---|---|---|"]
    for label in sorted(set(self_layer) | set(incl_layer), key=lambda k: -incl_layer[k]):
        lines.append(f"| {label} | {pct(self_layer[label])} | {pct(incl_layer[label])} |")
    lines += ["", f"### Top {top} functions by inclusive time", "", "| function | inclusive | self |", "|---|---|---|"]
    lines += [f"| `{f}` | {pct(n)} | {pct(self_func[f])} |" for f, n in incl_func.most_common(top)]
    lines += ["", f"### Top {top} functions by self time", "", "| function | self |", "|---|---|"]
    lines += [f"| `{f}` | {pct(n)} |" for f, n in self_func.most_common(top)]
    return lines


def thread_kind(frames: list[str]) -> str:
    text = ";".join(frames[:6])
    if "a2wsgi" in ";".join(frames) and "_worker" in text or "run (concurrent/futures/thread.py" in text:
        return "a2wsgi worker threads (the WSGI/Flask side)"
    if "uvicorn" in text or "asyncio" in text or "<module>" in text:
        return "main thread: asyncio event loop (uvicorn, Connexion's ASGI middleware)"
    return "other"


def short(frame: str) -> str:
    """``function (…/site-packages/pkg/mod.py:12)`` -> ``pkg/mod.py:function``."""
    match = re.match(r"(.+?) \((.+?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    func, filename = match.groups()
    filename = re.sub(r"^.*/(site-packages|lib/python3\.\d+)/", "", filename)
    filename = re.sub(r"^.*/work/main/", "", filename)
    return f"{filename}:{func}"


def profile_hot_path(seconds: float, scratch: Path, speedscope: Path | None, rate: int, request: str = "get") -> list[str]:
    py_spy = ensure_py_spy()
    wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("wrk is needed (apt-get install wrk, or run bench/run.py once)")
    ours_script = Path(sys.executable).with_name("mockserver")
    ours_cmd = [str(ours_script)] if ours_script.exists() else [sys.executable, "-m", "mockserver"]
    target = bench.ours_target(bench.ACME_FILE, bench.ACME, bench.ACME_USER, bench.ACME_TOKEN, ours_cmd)
    server = bench.Server(target, bench.free_port(), scratch)
    lines: list[str] = []
    try:
        started = server.start()
        server.wait_first_200(started, 60)
        path = target.get_path if request == "get" else target.list_path
        url = f"http://{bench.HOST}:{server.port}{path}"
        header = f"Authorization: {target.headers['Authorization']}"
        unprofiled = run_wrk(wrk, url, header, 5)
        load = subprocess.Popen([wrk, "-t1", "-c10", f"-d{int(seconds) + 4}s", "--latency", "-H", header, url],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(2)
        raw = scratch / "get.raw"
        subprocess.run([py_spy, "record", "-p", str(server.proc.pid), "-d", str(int(seconds)), "-r", str(rate),
                        "--gil", "--threads", "-f", "raw", "-o", str(raw)], check=True, capture_output=True)
        profiled = load.communicate(timeout=seconds + 60)[0]
        if speedscope:
            load2 = subprocess.Popen([wrk, "-t1", "-c10", f"-d{int(seconds) + 4}s", "-H", header, url],
                                     stdout=subprocess.DEVNULL)
            time.sleep(2)
            subprocess.run([py_spy, "record", "-p", str(server.proc.pid), "-d", str(int(seconds)), "-r", str(rate),
                            "--gil", "-f", "speedscope", "-o", str(speedscope)], check=True, capture_output=True)
            load2.wait(timeout=seconds + 60)
        lines += [
            f"Server: `mockserver --port $PORT --no-access-log --seed fixtures/acme.json` (PID sampled by py-spy at "
            f"{rate} Hz for {seconds:g} s, `--gil --threads`, raw stacks); load: `wrk -t1 -c10 --latency -H '{header}' "
            f"http://127.0.0.1:$PORT{path}`.",
            "",
            f"- without the profiler (5 s): {describe_wrk(unprofiled)}",
            f"- while sampled: {describe_wrk(profiled)} (py-spy pauses the process to sample: slower, same proportions)",
            "",
        ]
        lines += summarise(parse_raw(raw), top=40)
    finally:
        server.stop()
    return lines


def run_wrk(wrk: str, url: str, header: str, seconds: int) -> str:
    return subprocess.run([wrk, "-t1", "-c10", f"-d{seconds}s", "--latency", "-H", header, url],
                          capture_output=True, text=True, timeout=seconds + 60).stdout


def describe_wrk(out: str) -> str:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return (f"{float(rps.group(1)):,.0f} req/s, p50 {p50.group(1)}, p99 {p99.group(1)}, "
            f"non-2xx {non2xx.group(1) if non2xx else 0}") if rps and p50 and p99 else "(wrk output not understood)"


def profile_fixture_load(path: Path, top: int) -> list[str]:
    from mockserver.fixtures.document import FixtureLoader
    from mockserver.store.memory import Store

    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    document = FixtureLoader().load_files([path])
    validated = time.perf_counter()
    Store(document)
    profiler.disable()
    done = time.perf_counter()
    lines = [f"`FixtureLoader().load_files([{path.name}])` then `Store(document)` under cProfile: "
             f"{validated - began:.1f} s + {done - validated:.1f} s (cProfile roughly doubles Python-heavy code; "
             "bench/run.py has the unprofiled times).", ""]
    for order, title in (("tottime", "self time"), ("cumulative", "cumulative time")):
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats(order).print_stats(top)
        text = stream.getvalue()
        text = re.sub(r"/[^ ]*/(site-packages|lib/python3\.\d+)/", "", text)
        text = text.replace(str(REPO) + "/", "")
        body = text[text.index("ncalls"):] if "ncalls" in text else text
        lines += [f"### Top {top} by {title}", "", "```", body.rstrip(), "```", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="sampling time under load (default 20)")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second (default 200)")
    parser.add_argument("--fixture-users", type=int, default=100_000, help="users in the profiled fixture")
    parser.add_argument("--fixture", type=Path, help="profile this fixture file instead of generating one")
    parser.add_argument("--speedscope", type=Path, help="also write a speedscope profile of the hot path here")
    parser.add_argument("--request", choices=("get", "list"), default="get",
                        help="the request to profile under load: GET-by-id (default) or the list of all Acme users")
    parser.add_argument("--skip-hot-path", action="store_true")
    parser.add_argument("--skip-fixture", action="store_true")
    parser.add_argument("--out", type=Path, default=bench.BENCH / "PROFILE.md")
    args = parser.parse_args(argv)

    bench.CACHE.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="profile-", dir=bench.CACHE))
    lines = ["# Profile of the mock", "",
             f"Written by `bench/profiling.py` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; code: "
             f"`{git_state()}`; machine: {os.cpu_count()} CPUs, load average "
             f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}.", ""]
    try:
        if not args.skip_hot_path:
            title = "GET-by-id" if args.request == "get" else "list (all 26 Acme users)"
            bench.log(f"profiling {title} under load")
            lines += [f"## {title} under load", "",
                      *profile_hot_path(args.seconds, scratch, args.speedscope, args.rate, args.request), ""]
        if not args.skip_fixture:
            path = args.fixture
            if path is None:
                path = scratch / f"users-{args.fixture_users}.json"
                bench.generate_fixture(path, args.fixture_users, 1)
            bench.log(f"profiling the fixture load of {path.name}")
            lines += [f"## Fixture load ({path.stat().st_size / 2**20:.1f} MiB)", "", *profile_fixture_load(path, 30)]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    args.out.write_text("\n".join(lines) + "\n")
    bench.log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
