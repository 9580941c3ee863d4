#!/usr/bin/env python3
"""Per-request cost of the fake, in process: CPU instructions (callgrind) and calls (cProfile).

No HTTP server and no socket: the fake is built as the CLI builds it (the Acme fixtures, the admin API,
the journal, CORS) and driven through its ASGI interface with the scope uvicorn would hand it, so only
the app's own work is counted. Instruction counts do not depend on how busy the machine is, which
makes them the figure to compare before and after a change on a shared machine.

    python bench/instructions.py                        # instructions per request (valgrind's callgrind)
    python bench/instructions.py --calls                # cProfile: calls per request of the functions that matter
    python bench/instructions.py --requests patch --count 200

How the instructions are counted: the script runs itself under ``valgrind --tool=callgrind`` twice per
request kind, once with ``--count`` requests and once with none after the same start-up and warm-up;
the difference divided by ``--count`` is the cost of one request (start-up cancels out).
``PYTHONHASHSEED=0`` keeps the runs repeatable, and the app is built as the CLI builds it (``gc.freeze()``
after start-up), so a full collection of the whole heap does not land at random inside the measured requests.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ACME = "6500000000000000000000a1"
ACME_USER = "6500000000000000000001a1"
ACME_TOKEN = "acme-admin-token"
BASE = f"/api/v1/customers/{ACME}/users"
PATCH_BODY = json.dumps({"jobTitle": "Senior Associate", "office": "Chicago"}).encode()
# (method, path, query, body): the benchmark's requests (bench/run.py)
REQUESTS = {
    "get": ("GET", f"{BASE}/{ACME_USER}", b"", b""),
    "list": ("GET", BASE, b"integration=cloud-assistant-cdr", b""),
    "patch": ("PATCH", f"{BASE}/{ACME_USER}", b"", PATCH_BODY),
}
WARMUP = 20
# What the --calls table lists: the functions whose counts per request say how often a path is
# matched, a body read or parsed, a customer checked (file pattern, function name pattern).
WATCH = [
    (r"spec/routes\.py", r".*"),
    (r"starlette/routing\.py", r"(matches|app|__call__|handle)$"),
    (r"connexion/middleware/routing\.py", r".*"),
    (r"core/asgi\.py", r"read_body"),
    (r"server/middleware\.py", r".*"),
    (r"server/validation\.py", r".*"),
    (r"connexion/validators/abstract\.py", r".*"),
    (r"connexion/validators/json\.py", r".*"),
    (r"json/__init__\.py", r"loads"),
    (r"server/auth\.py", r".*"),
    (r"store/memory\.py", r"(may_access|principal)$"),
    (r"features/chaos\.py", r"(owns|_may_access|_operation)$"),
    (r"spec/coverage\.py", r"(find|key)$"),
    (r"server/hotpath\.py", r".*"),
    (r"server/handlers/users\.py", r".*"),
]


def build():
    """The fake the CLI serves with ``--seed fixtures/acme.json`` (bench/run.py's command line)."""
    from mockserver.app.build import ServerOptions, build_app
    from mockserver.cli import build_store

    fake = build_app(build_store([REPO / "fixtures/acme.json"]), ServerOptions(admin_token="admin-bench"))
    gc.collect()  # as the CLI does once the app is built: the seed and the app out of full collections
    gc.freeze()
    return fake.app


def scope_of(method: str, path: str, query: bytes, body: bytes) -> dict:
    """The scope uvicorn's httptools protocol hands the app for this request."""
    headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {ACME_TOKEN}".encode())]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
        "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "scheme": "http", "root_path": "",
        "headers": headers, "state": {}, "method": method, "path": path, "raw_path": path.encode(),
        "query_string": query,
    }


async def one(app, request: tuple) -> int:
    method, path, query, body = request
    sent = False
    status = 0

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # as uvicorn: nothing more until the client goes away
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope_of(method, path, query, body), receive, send)
    return status


async def drive(app, request: tuple, count: int) -> None:
    for _ in range(count):
        status = await one(app, request)
        if status != 200:
            raise SystemExit(f"{request[0]} {request[1]}: status {status}, expected 200")


def inner(kind: str, count: int) -> None:
    """Start-up, warm-up, then ``count`` requests of ``kind`` (what callgrind counts)."""
    app = build()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(drive(app, REQUESTS[kind], WARMUP))
    loop.run_until_complete(drive(app, REQUESTS[kind], count))


def callgrind_total(kind: str, count: int, scratch: Path) -> int:
    out = scratch / f"callgrind.{kind}.{count}"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
                    "--inner", kind, "--count", str(count)], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    match = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(errors="replace"), re.M)
    if match is None:
        raise SystemExit(f"no instruction total in {out}")
    return int(match.group(1))


def instructions(kinds: list[str], count: int, keep: Path | None) -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    scratch = Path(tempfile.mkdtemp(prefix="callgrind-")) if keep is None else keep
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"| request | instructions per request | (callgrind, {count} requests after {WARMUP} warm-up) |")
    print("|---|---|---|")
    for kind in kinds:
        base = callgrind_total(kind, 0, scratch)
        total = callgrind_total(kind, count, scratch)
        print(f"| {kind} | {(total - base) / count:,.0f} | {total:,} - {base:,} |", flush=True)
    if keep is None:
        shutil.rmtree(scratch, ignore_errors=True)


def calls(kinds: list[str], count: int, top: int) -> None:
    app = build()
    loop = asyncio.new_event_loop()
    for kind in kinds:
        loop.run_until_complete(drive(app, REQUESTS[kind], WARMUP))
        profile = cProfile.Profile()
        profile.enable()
        loop.run_until_complete(drive(app, REQUESTS[kind], count))
        profile.disable()
        stats = pstats.Stats(profile).stats  # (file, line, name) -> (primitive calls, calls, tottime, cumtime, callers)
        rows = []
        for (file, line, name), (_prim, ncalls, tottime, cumtime, _callers) in stats.items():
            short = re.sub(r".*/(site-packages|lib/python3\.\d+|w27b|mockserver/\.\.)/", "", file)
            watched = any(re.search(f, file) and re.search(n, name) for f, n in WATCH)
            rows.append((watched, short, line, name, ncalls / count, tottime, cumtime))
        print(f"\n## {kind}: calls per request ({count} requests)\n")
        print("| function | calls/request |")
        print("|---|---|")
        for _w, short, line, name, per, _t, _c in sorted((r for r in rows if r[0]), key=lambda r: (r[1], r[2])):
            print(f"| `{short}:{line} {name}` | {per:g} |")
        total = sum(r[5] for r in rows)
        print(f"\ntop {top} by own time (share of the profiled time):\n")
        for _w, short, line, name, per, tottime, _c in sorted(rows, key=lambda r: -r[5])[:top]:
            print(f"- {100 * tottime / total:4.1f}%  {per:g}/req  `{short}:{line} {name}`")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", nargs="+", choices=sorted(REQUESTS), default=["get", "patch", "list"])
    parser.add_argument("--count", type=int, default=100, help="requests measured per kind (default 100)")
    parser.add_argument("--calls", action="store_true", help="cProfile call counts instead of instructions")
    parser.add_argument("--top", type=int, default=25, help="with --calls: functions listed by own time")
    parser.add_argument("--keep", type=Path, help="keep callgrind's output files in this folder")
    parser.add_argument("--inner", choices=sorted(REQUESTS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        inner(args.inner, args.count)
    elif args.calls:
        calls(args.requests, args.count, args.top)
    else:
        instructions(args.requests, args.count, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
