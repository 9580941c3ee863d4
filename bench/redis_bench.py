"""The shared state's price: GET, list and PATCH on the in-memory fake (1 worker), on Redis (1 worker) and on
Redis (2 workers), in one run, with what a Redis round trip costs and where the CPU goes.

    python bench/redis_bench.py                 # ~2 min; writes bench/RESULTS-redis.md
    python bench/redis_bench.py --seconds 3     # shorter runs

It starts its own redis-server (a free loopback port, no persistence) and its own fakes; load is wrk
(``-t1 -c10``, as bench/run.py) or the Python load generator where wrk is missing. Figures:

- req/s and p99 per request and configuration (wrk's);
- CPU per request: the fake's processes (all workers) and redis-server, from /proc (user + system time
  over the run, divided by the requests answered) - what the figures should scale with, on paper;
- the store calls alone, in-process (no HTTP): microseconds per call on each backend, and the round trips
  each request makes to Redis (GET and list: 2 - the token, then the read; PATCH: 3 - the token, the read,
  the commit), with the loopback round trip (PING) they are made of.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import (  # noqa: E402
    ACME,
    ACME_FILE,
    ACME_TOKEN,
    ACME_USER,
    INTEGRATION,
    REPO,
    LoadGenerator,
    Server,
    Target,
    ensure_wrk,
    free_port,
    log,
)

HEADERS = {"Authorization": f"Bearer {ACME_TOKEN}"}
GET = f"/api/v1/customers/{ACME}/users/{ACME_USER}"
LIST = f"/api/v1/customers/{ACME}/users?{INTEGRATION}"
PATCH = f"/api/v2/customers/{ACME}/users/{ACME_USER}"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its waited-for children, and of its live children (workers)."""
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    except OSError:
        pass
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return total


def start_redis() -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    folder = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", folder], stdout=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return proc, port, folder


def store_calls(redis_port: int, repeat: int) -> list[str]:
    """Microseconds per store call, in-process, on both backends; and the loopback round trip."""
    import redis

    from mockserver.fixtures.document import FixtureLoader
    from mockserver.store.memory import Store
    from mockserver.store.redis_backend import RedisStore, connect

    seed = FixtureLoader().load_files([ACME_FILE])
    client = connect(f"redis://127.0.0.1:{redis_port}/0")
    stores = {"memory": Store(seed), "redis": RedisStore(client, seed, namespace="bench-calls")}
    calls = {
        "principal (token lookup)": lambda s: s.principal(ACME_TOKEN),
        "get_user_json": lambda s: s.get_user_json(ACME, ACME_USER),
        "list_users_json (30 users)": lambda s: s.list_users_json(ACME),
        "update_user_json": lambda s: s.update_user_json(ACME, ACME_USER, {"jobTitle": "Partner"}),
    }
    lines = ["| store call | memory µs | redis µs | Redis round trips |", "|---|---:|---:|---:|"]
    trips = {"principal (token lookup)": 1, "get_user_json": 1, "list_users_json (30 users)": 1, "update_user_json": 2}
    for name, call in calls.items():
        row = []
        for store in stores.values():
            call(store)
            begun = time.perf_counter()
            for _ in range(repeat):
                call(store)
            row.append((time.perf_counter() - begun) / repeat * 1e6)
        lines.append(f"| {name} | {row[0]:.1f} | {row[1]:.1f} | {trips[name]} |")
    plain = redis.Redis(port=redis_port)
    begun = time.perf_counter()
    for _ in range(repeat):
        plain.ping()
    lines.append(f"| PING (one loopback round trip) | - | {(time.perf_counter() - begun) / repeat * 1e6:.1f} | 1 |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per load run (default 8)")
    parser.add_argument("--out", default=str(REPO / "bench" / "RESULTS-redis.md"))
    parser.add_argument("--no-install", action="store_true", help="never install wrk")
    args = parser.parse_args()
    wrk = ensure_wrk(not args.no_install)
    load = LoadGenerator(wrk, Path(tempfile.mkdtemp(prefix="bench-redis-lua-")))
    redis_proc, redis_port, _ = start_redis()
    url = f"redis://127.0.0.1:{redis_port}/0"
    mockserver = [sys.executable, "-m", "mockserver", "--port", "{port}", "--no-access-log"]
    configs = [
        ("in-memory, 1 worker", mockserver),
        ("Redis, 1 worker", [*mockserver, "--state", url, "--state-namespace", "bench1"]),
        ("Redis, 2 workers", [*mockserver, "--state", url, "--state-namespace", "bench2", "--workers", "2"]),
    ]
    body = json.dumps({"jobTitle": "Partner"}).encode()
    rows, cpu_rows = [], []
    scratch = Path(tempfile.mkdtemp(prefix="bench-redis-logs-"))
    try:
        for label, argv in configs:
            target = Target(label, argv, GET, LIST, PATCH, HEADERS)
            server = Server(target, free_port(), scratch)
            started = server.start()
            server.wait_first_200(started, timeout=120)
            time.sleep(1.0 if "2 workers" in label else 0)  # the second worker is up
            for name, method, path, payload in (("GET by id", "GET", GET, None), ("list", "GET", LIST, None),
                                                ("PATCH", "PATCH", PATCH, body)):
                headers = {**HEADERS, **({"Content-Type": "application/json"} if payload else {})}
                load.run(server.port, method, path, headers, payload, 1.0)  # warm-up
                fake_cpu, redis_cpu = cpu_seconds(server.proc.pid), cpu_seconds(redis_proc.pid)
                result = load.run(server.port, method, path, headers, payload, args.seconds)
                fake_cpu = cpu_seconds(server.proc.pid) - fake_cpu
                redis_cpu = cpu_seconds(redis_proc.pid) - redis_cpu
                log(f"{label} {name}: {result.rps:.0f} req/s, p99 {result.p99_ms:.1f} ms, non-2xx {result.non_2xx}")
                rows.append(f"| {label} | {name} | {result.rps:,.0f} | {result.p99_ms:.1f} | "
                            f"{result.non_2xx + result.errors} |")
                per = max(result.requests, 1)
                cpu_rows.append(f"| {label} | {name} | {fake_cpu / per * 1e6:.0f} | {redis_cpu / per * 1e6:.0f} |")
            server.stop()
        calls = store_calls(redis_port, repeat=2000)
    finally:
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
    report = [
        "# The shared state on Redis: side by side", "",
        f"`python bench/redis_bench.py --seconds {args.seconds:g}` on {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load: {load.tool} -t1 -c10; the Acme fixtures "
        "(30 users); redis-server and the load generator on the same cores.", "",
        "| configuration | request | req/s | p99 ms | non-2xx/errors |", "|---|---|---:|---:|---:|", *rows, "",
        "CPU per request (user + system, from /proc; the fake's processes together, and redis-server):", "",
        "| configuration | request | fake µs CPU | redis-server µs CPU |", "|---|---|---:|---:|", *cpu_rows, "",
        "The store calls alone, in-process (no HTTP), 2,000 calls each:", "", *calls, "",
    ]
    Path(args.out).write_text("\n".join(report) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
