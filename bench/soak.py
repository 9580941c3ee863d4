#!/usr/bin/env python3
"""Soak the Users API mock: N connections of mixed reads, writes and deletes for a fixed time.

    /work/venv/bin/python bench/soak.py                      # 60 s, 32 connections (the figures in the README)
    /work/venv/bin/python bench/soak.py --seconds 5 --connections 8 --users 500    # a quick look

It starts ``mockserver`` on a free loopback port with a generated fixture (``mockserver fixtures
generate``, one customer of ``--users`` users), then runs ``--connections`` client threads, each on
its own keep-alive connection, for ``--seconds``. Every request is one of:

    55 %  GET a user by id            10 %  list with a search (a user's first and last name: a few matches)
    25 %  PATCH a user (nickname)      5 %  GET the identity lookup (admin token: 404 by contract)
     5 %  DELETE a user (each user at most once; a user deleted earlier answers 404, as expected)

It reports the answers by status, unexpected answers (any 5xx; any 4xx but the expected 404s),
dropped connections (resets, timeouts, early closes), throughput, latency percentiles and the
server's resident memory (``VmRSS``) sampled every second. Memory is "flat" when no sample after
the warm-up (the first ``--warmup`` seconds) is more than 10 % above the first sample after it.

Exit code 0 when there were no 5xx, no unexpected answers, no dropped connections and memory was
flat; 1 otherwise. Only 127.0.0.1 is contacted; the run is bounded by ``--seconds``.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INTEGRATION = "integration=cloud-assistant-cdr"
FLAT_WITHIN = 0.10


@dataclass
class Target:
    """What the load needs to know about the served fixture."""

    port: int
    customer: str
    token: str
    user_ids: list[str]
    names: list[str]  # "first last" of every user, for searches


@dataclass
class Tally:
    statuses: collections.Counter = field(default_factory=collections.Counter)
    unexpected: collections.Counter = field(default_factory=collections.Counter)  # (method, status)
    dropped: collections.Counter = field(default_factory=collections.Counter)  # exception name
    latencies_ms: list[float] = field(default_factory=list)
    client_errors: list[str] = field(default_factory=list)
    requests: int = 0

    def merge(self, other: Tally) -> None:
        self.statuses.update(other.statuses)
        self.unexpected.update(other.unexpected)
        self.dropped.update(other.dropped)
        self.latencies_ms.extend(other.latencies_ms)
        self.client_errors.extend(other.client_errors)
        self.requests += other.requests


class Deletions:
    """Users are deleted at most once each; afterwards a 404 for them is the expected answer."""

    def __init__(self, user_ids: list[str], rng: random.Random):
        self._pending = list(user_ids)
        rng.shuffle(self._pending)
        self._deleted: set[str] = set()
        self._lock = threading.Lock()

    def take(self) -> str | None:
        with self._lock:
            return self._pending.pop() if self._pending else None

    def done(self, user_id: str) -> None:
        with self._lock:
            self._deleted.add(user_id)

    def is_deleted(self, user_id: str) -> bool:
        with self._lock:
            return user_id in self._deleted

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._deleted)


def _worker(target: Target, deletions: Deletions, deadline: float, seed: int, tally: Tally) -> None:
    try:
        _load(target, deletions, deadline, seed, tally)
    except Exception as err:  # a bug in the load itself must fail the run, not end a thread quietly
        tally.client_errors.append(f"{type(err).__name__}: {err}")


def _load(target: Target, deletions: Deletions, deadline: float, seed: int, tally: Tally) -> None:
    rng = random.Random(seed)
    base = f"/api/v1/customers/{target.customer}/users"
    auth = {"Authorization": f"Bearer {target.token}"}
    connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
    while time.monotonic() < deadline:
        roll = rng.random()
        user = rng.choice(target.user_ids)
        body = None
        headers = auth
        deleting = None
        if roll < 0.55:
            method, path = "GET", f"{base}/{user}"
        elif roll < 0.65:
            method, path = "GET", f"{base}?{INTEGRATION}&search={urllib.parse.quote(rng.choice(target.names))}"
        elif roll < 0.90:
            method, path = "PATCH", f"{base}/{user}"
            body = json.dumps({"nickname": f"soak-{rng.getrandbits(32):08x}"}).encode()
            headers = {**auth, "Content-Type": "application/json"}
        elif roll < 0.95:
            method, path = "GET", f"{base}/lookup"
        else:
            deleting = deletions.take()
            if deleting is None:
                method, path = "GET", f"{base}/{user}"
            else:
                method, path, user = "DELETE", f"{base}/{deleting}", deleting
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as err:
            tally.dropped[type(err).__name__] += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
            continue
        tally.latencies_ms.append((time.perf_counter() - started) * 1000)
        tally.requests += 1
        status = response.status
        tally.statuses[status] += 1
        if deleting is not None and status == 200:
            deletions.done(deleting)
        expected = status == 200 or (
            status == 404 and (path.endswith("/lookup") or deletions.is_deleted(user) or deleting is not None)
        )
        if not expected:
            tally.unexpected[(method, status)] += 1
    connection.close()


def _rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_load(target: Target, *, seconds: float, connections: int, seed: int = 1,
             pid: int | None = None, warmup: float = 10.0) -> dict:
    """Run the load against a served fixture; return the figures (see the module's docstring)."""
    rng = random.Random(seed)
    deletions = Deletions(target.user_ids, rng)
    tallies = [Tally() for _ in range(connections)]
    started = time.monotonic()
    deadline = started + seconds
    threads = [
        threading.Thread(target=_worker, args=(target, deletions, deadline, seed * 1000 + index, tallies[index]),
                         daemon=True)
        for index in range(connections)
    ]
    for thread in threads:
        thread.start()
    samples: list[tuple[float, int]] = []
    while time.monotonic() < deadline:
        if pid is not None and (rss := _rss_kib(pid)) is not None:
            samples.append((round(time.monotonic() - started, 1), rss))
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    for thread in threads:
        thread.join(timeout=60)
    elapsed = time.monotonic() - started
    if pid is not None and (rss := _rss_kib(pid)) is not None:
        samples.append((round(elapsed, 1), rss))

    total = Tally()
    for tally in tallies:
        total.merge(tally)
    latencies = sorted(total.latencies_ms) or [0.0]
    after_warmup = [rss for at, rss in samples if at >= warmup] if seconds > warmup else [rss for _, rss in samples]
    memory = None
    if after_warmup:
        first = after_warmup[0]
        memory = {
            "first_after_warmup_mib": round(first / 1024, 1),
            "min_mib": round(min(after_warmup) / 1024, 1),
            "max_mib": round(max(after_warmup) / 1024, 1),
            "last_mib": round(after_warmup[-1] / 1024, 1),
            "growth_pct": round((max(after_warmup) / first - 1) * 100, 2),
            "flat": max(after_warmup) <= first * (1 + FLAT_WITHIN),
            "samples_mib": [round(rss / 1024, 1) for _, rss in samples],
        }
    server_errors = sum(count for status, count in total.statuses.items() if status >= 500)
    return {
        "seconds": round(elapsed, 1),
        "connections": connections,
        "requests": total.requests,
        "throughput_rps": round(total.requests / elapsed, 1),
        "statuses": {str(status): count for status, count in sorted(total.statuses.items())},
        "server_errors": server_errors,
        "unexpected": {f"{method} {status}": count for (method, status), count in sorted(total.unexpected.items())},
        "dropped_connections": sum(total.dropped.values()),
        "dropped_by_kind": dict(total.dropped),
        "deleted_users": deletions.count,
        "client_errors": total.client_errors,
        "latency_ms": {
            "p50": round(statistics.median(latencies), 2),
            "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
            "max": round(latencies[-1], 2),
        },
        "memory": memory,
        "ok": server_errors == 0 and not total.unexpected and not total.dropped and not total.client_errors
              and (memory is None or memory["flat"] or seconds <= warmup),
    }


def target_from_fixture(path: Path, port: int) -> Target:
    document = json.loads(path.read_text(encoding="utf-8"))
    customer = document["customers"][0]
    token = next(t["token"] for t in document["tokens"] if customer["_id"] in t["customerIds"] and not t.get("userId"))
    users = customer["users"]
    return Target(port, customer["_id"], token, [u["_id"] for u in users],
                  [f"{u['firstName']} {u['lastName']}" for u in users])


class _Served:
    """``mockserver`` on a free port with ``--seed fixture``; its output is drained and discarded."""

    def __init__(self, fixture: Path, extra: list[str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mockserver", "--port", "0", "--seed", str(fixture), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )
        first = self.process.stdout.readline()
        if not first.startswith("Users API mock serving on "):
            self.process.kill()
            raise SystemExit(f"soak: the server did not start: {first}{self.process.stderr.read()}")
        self.port = int(first.rsplit(":", 1)[1])
        self.stderr: list[str] = []
        threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.process.stderr), daemon=True).start()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=20_000, help="users in the generated fixture")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before memory must stay flat")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--access-log", action="store_true", help="keep the server's access log on")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        fixture = Path(scratch) / "soak-fixture.json"
        subprocess.run([sys.executable, "-m", "mockserver", "fixtures", "generate", "--users", str(args.users),
                        "--seed", str(args.seed), "--compact", "-o", str(fixture)], check=True, cwd=ROOT,
                       capture_output=True)
        served = _Served(fixture, [] if args.access_log else ["--no-access-log"])
        try:
            target = target_from_fixture(fixture, served.port)
            started_rss = _rss_kib(served.process.pid)
            result = run_load(target, seconds=args.seconds, connections=args.connections, seed=args.seed,
                              pid=served.process.pid, warmup=args.warmup)
        finally:
            code = served.stop()
    result.update({
        "command": "python bench/soak.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "users": args.users,
        "rss_at_start_mib": round((started_rss or 0) / 1024, 1),
        "server_exit_code": code,
        "server_stderr_tail": "".join(served.stderr)[-2000:],
        "machine": f"{os.cpu_count()} CPUs, {socket.gethostname()}",
    })
    result["ok"] = result["ok"] and code == 0
    _print(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["ok"] else 1


def _print(result: dict) -> None:
    memory = result["memory"] or {}
    print(f"soak: {result['seconds']} s, {result['connections']} connections, {result['users']} users")
    print(f"  requests {result['requests']:,} ({result['throughput_rps']:,} req/s); statuses {result['statuses']}")
    print(f"  5xx {result['server_errors']}; unexpected {result['unexpected'] or 0}; "
          f"dropped connections {result['dropped_connections']} {result['dropped_by_kind'] or ''}")
    print(f"  latency p50 {result['latency_ms']['p50']} ms, p99 {result['latency_ms']['p99']} ms, "
          f"max {result['latency_ms']['max']} ms; users deleted {result['deleted_users']}")
    if memory:
        print(f"  RSS at start {result['rss_at_start_mib']} MiB; after warm-up first {memory['first_after_warmup_mib']}, "
              f"min {memory['min_mib']}, max {memory['max_mib']}, last {memory['last_mib']} MiB "
              f"(growth {memory['growth_pct']} %: {'flat' if memory['flat'] else 'NOT FLAT'})")
    if result["client_errors"]:
        print(f"  LOAD CLIENT ERRORS: {result['client_errors'][:5]}")
    print(f"  server exit code {result['server_exit_code']}; {'PASS' if result['ok'] else 'FAIL'}")


if __name__ == "__main__":
    sys.exit(main())
