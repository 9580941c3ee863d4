"""What ``mockserver proxy`` adds per request: median and p99 latency through the proxy beside the same
request sent straight to the fake, for GET by id, the list and a PATCH.

Starts the fake (``mockserver --port 0``) and the proxy in front of it (``mockserver proxy URL --port 0``;
the fake proves itself, so the PATCH is forwarded) as users start them, then runs ROUNDS rounds; in each
round, every operation is sent N times straight and N times through the proxy, which of the two first
alternating from round to round, one request at a time on one kept-alive connection per side (latency,
not throughput). Prints one line per operation and the exact commands.
Usage: python bench/proxy_overhead.py [N] [ROUNDS]
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 6
CUSTOMER, USER = "6500000000000000000000a1", "6500000000000000000001a1"
AUTH = {"Authorization": "Bearer acme-admin-token"}
OPERATIONS = {
    "GET by id": ("GET", f"/api/v1/customers/{CUSTOMER}/users/{USER}", None),
    "list": ("GET", f"/api/v1/customers/{CUSTOMER}/users?integration=cloud-assistant-cdr", None),
    "PATCH": ("PATCH", f"/api/v1/customers/{CUSTOMER}/users/{USER}", b'{"jobTitle": "Senior Associate"}'),
}


def start(command: list[str], marker: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    for line in process.stdout:
        if line.startswith(marker):
            url = line.rsplit(" ", 1)[1].strip()
            for rest in process.stdout:  # the banner, to its end; later output is discarded by the OS pipe buffer
                if rest.startswith("Press Ctrl-C"):
                    break
            return process, url
    raise RuntimeError(f"{command[2:4]} did not start")


def timed(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None) -> float:
    headers = {**AUTH, **({"Content-Type": "application/json"} if body else {})}
    started = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    assert response.status == 200, (method, path, response.status)
    return elapsed


def main() -> None:
    runtime = tempfile.mkdtemp(prefix="proxy-bench-")
    env = {**os.environ, "MOCKSERVER_RUNTIME_DIR": runtime}
    fake, fake_url = start([sys.executable, "-m", "mockserver", "--port", "0", "--no-access-log"],
                           "Users API mock serving on ", env)
    # The proxy's violation lines would fill its stdout pipe: it writes them to a file here.
    log = open(os.path.join(runtime, "proxy.log"), "w")  # noqa: SIM115 - open for the proxy's lifetime
    proxy = subprocess.Popen([sys.executable, "-m", "mockserver", "proxy", fake_url, "--port", "0"],
                             stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        proxy_url = None
        for _ in range(300):
            with open(log.name) as out:
                lines = out.read().splitlines()
            proxy_url = next((line.rsplit(" ", 1)[1] for line in lines if line.startswith("Users API proxy serving on ")), None)
            if proxy_url and any(line.startswith("Press Ctrl-C") for line in lines):
                break
            time.sleep(0.1)
        assert proxy_url, "the proxy did not start"
        assert any("every method is forwarded" in line for line in lines), lines
        sides = {}
        for name, url in (("direct", fake_url), ("proxy", proxy_url)):
            host, port = url.split("//", 1)[1].rsplit(":", 1)
            sides[name] = http.client.HTTPConnection(host, int(port), timeout=30)
        samples: dict[tuple[str, str], list[float]] = {(op, side): [] for op in OPERATIONS for side in sides}
        for conn in sides.values():  # warm-up
            for method, path, body in OPERATIONS.values():
                for _ in range(50):
                    timed(conn, method, path, body)
        for round_number in range(ROUNDS):
            order = ["direct", "proxy"] if round_number % 2 == 0 else ["proxy", "direct"]
            for op, (method, path, body) in OPERATIONS.items():
                for side in order:
                    # A fresh connection, warmed by one untimed request: the server closes one idle for 5 s.
                    sides[side].close()
                    timed(sides[side], method, path, body)
                    samples[(op, side)] += [timed(sides[side], method, path, body) for _ in range(N)]
        with open(log.name) as out:
            violations = sum(1 for line in out if "VIOLATION" in line)
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
        fake.terminate()
        fake.wait(timeout=30)
        log.close()
    print(f"{N} requests x {ROUNDS} rounds per operation and side, one at a time, keep-alive; "
          f"violations reported by the proxy: {violations}")
    results = {}
    for op in OPERATIONS:
        row = {}
        for side in sides:
            values = sorted(samples[(op, side)])
            row[side] = (statistics.median(values) * 1000, values[int(len(values) * 0.99) - 1] * 1000)
        results[op] = row
        (dm, dp), (pm, pp) = row["direct"], row["proxy"]
        print(f"{op:<10} direct median {dm:.2f} ms p99 {dp:.2f} ms | through the proxy median {pm:.2f} ms "
              f"p99 {pp:.2f} ms | overhead median +{pm - dm:.2f} ms, p99 +{pp - dp:.2f} ms")
    print(json.dumps({op: {side: {"median_ms": round(m, 3), "p99_ms": round(p, 3)} for side, (m, p) in row.items()}
                      for op, row in results.items()}))
    print(f"commands: {sys.executable} -m mockserver --port 0 --no-access-log; "
          f"{sys.executable} -m mockserver proxy <fake URL> --port 0")


if __name__ == "__main__":
    main()
