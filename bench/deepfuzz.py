#!/usr/bin/env python3
"""Deep fuzzing of the fake with the Schemathesis CLI: every check, every phase, thousands of cases.

    /work/venv/bin/python bench/deepfuzz.py                       # 2,000 examples per operation (the README's figures)
    /work/venv/bin/python bench/deepfuzz.py --max-examples 50     # a quick look

Runs, each against a fresh ``mockserver`` on a free loopback port (runs that PATCH and DELETE
consume the seed, so each starts from it):

- ``random``: every operation and phase in one run, customer ids as Schemathesis generates them
  (mostly 403s and 404s: the auth and routing edges);
- ``acme``: ``customerId`` fixed to the Acme customer of the bundled fixtures, so generated cases
  reach real users (200s, 409s, 422s, deletes): one run per operation (examples, coverage and
  fuzzing; in a run of all six, Schemathesis gave DELETE and lookup only a handful of cases), then
  one stateful run over all of them. With the customer fixed, ``lookup`` has no input left to vary:
  it gets a handful of cases here and its thousands in the ``random`` run.

Each run: ``st --config-file <contract/schemathesis.toml [+ the customerId]> run openapi/users.yaml
--url URL -H 'Authorization: Bearer jane-token' --checks all --phases ... --max-examples N --seed S
[--include-operation-id ID]``. The server runs with ``--state-file``, so every fuzzed write is also
saved; at the end the server must stop cleanly (SIGTERM, exit 0) and its state file must load as a
valid fixture. The access log counts the requests each operation received.

Exit code 0 when both runs pass with zero failures and errors and the state files load; 1 otherwise.
Only 127.0.0.1 is contacted; each run is bounded by ``--max-time`` (default 40 minutes).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "contract" / "schemathesis.toml"
SPEC = ROOT / "openapi" / "users.yaml"
ACME = "6500000000000000000000a1"
PHASES = "examples,coverage,fuzzing,stateful"
OPERATION_IDS = ("list_users", "lookup_user_identity", "get_user", "update_user_v1", "update_user_v2", "delete_user")
ST = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"

# Request line in uvicorn's access log: '"PATCH /api/v1/customers/x/users/y HTTP/1.1" 200'
_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/1\.1" (?P<status>\d{3})')
_OPERATIONS = [
    ("GET", re.compile(r"/api/v1/customers/[^/]+/users/lookup/?"), "GET .../users/lookup"),
    ("GET", re.compile(r"/api/v1/customers/[^/]+/users/?"), "GET .../users"),
    ("GET", re.compile(r"/api/v1/customers/[^/]+/users/[^/]+/?"), "GET v1 .../users/{userId}"),
    ("PATCH", re.compile(r"/api/v1/customers/[^/]+/users/[^/]+/?"), "PATCH v1 .../users/{userId}"),
    ("PATCH", re.compile(r"/api/v2/customers/[^/]+/users/[^/]+/?"), "PATCH v2 .../users/{userId}"),
    ("DELETE", re.compile(r"/api/v1/customers/[^/]+/users/[^/]+/?"), "DELETE v1 .../users/{userId}"),
]


def _operation(method: str, target: str) -> str:
    path = target.split("?", 1)[0]
    for op_method, pattern, name in _OPERATIONS:
        if method == op_method and pattern.fullmatch(path):
            return name
    return f"{method} (other path or method)"


class _Served:
    def __init__(self, scratch: Path):
        self.log = scratch / "access.log"
        self.state = scratch / "state.json"
        self._out = self.log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mockserver", "--port", "0", "--state-file", str(self.state)],
            stdout=self._out, stderr=subprocess.STDOUT, cwd=ROOT, text=True,
        )
        deadline = time.monotonic() + 60
        while True:
            first = self.log.read_text(encoding="utf-8").split("\n", 1)[0]
            if first.startswith("Users API mock serving on "):
                self.url = first.rsplit(" ", 1)[1].strip()
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise SystemExit(f"deepfuzz: the server did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._out.close()
        return code

    def requests(self) -> tuple[collections.Counter, collections.Counter]:
        per_operation: collections.Counter = collections.Counter()
        statuses: collections.Counter = collections.Counter()
        for match in _ACCESS.finditer(self.log.read_text(encoding="utf-8", errors="replace")):
            per_operation[_operation(match["method"], match["target"])] += 1
            statuses[match["status"]] += 1
        return per_operation, statuses


def run_once(name: str, *, max_examples: int, seed: int, max_time: int, scratch: Path,
             phases: str = PHASES, operation_id: str | None = None) -> dict:
    scratch.mkdir(parents=True, exist_ok=True)
    config = scratch / "schemathesis.toml"
    text = CONFIG.read_text(encoding="utf-8")
    if name.startswith("acme"):
        text += f'\n[parameters]\ncustomerId = "{ACME}"\n'
    config.write_text(text, encoding="utf-8")
    report = scratch / "report.json"
    served = _Served(scratch)
    command = [
        ST, "--config-file", str(config), "run", str(SPEC), "--url", served.url,
        "-H", "Authorization: Bearer jane-token", "--checks", "all", "--phases", phases,
        "--max-examples", str(max_examples), "--seed", str(seed), "--no-color",
        "--report", "json", "--report-json-path", str(report),
        *(["--include-operation-id", operation_id] if operation_id else []),
    ]
    started = time.monotonic()
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=max_time, cwd=ROOT)
        output, code = finished.stdout + finished.stderr, finished.returncode
    except subprocess.TimeoutExpired as err:
        output, code = f"{err.stdout or ''}{err.stderr or ''}\ndeepfuzz: timed out after {max_time} s", -1
    elapsed = time.monotonic() - started
    server_code = served.stop()
    per_operation, statuses = served.requests()

    state_ok, state_problem = True, ""
    try:
        sys.path.insert(0, str(ROOT))
        from mockserver.fixtures.document import FixtureError, FixtureLoader

        FixtureLoader().load_files([served.state])
    except FixtureError as err:
        state_ok, state_problem = False, err.render()
    summary = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    test_cases = summary.get("test_cases", {})
    return {
        "run": name,
        "command": " ".join(command).replace(served.url, "http://127.0.0.1:PORT").replace(str(scratch), "<scratch>"),
        "exit_code": code,
        "seconds": round(elapsed, 1),
        "generated": test_cases.get("generated"),
        "with_failures": test_cases.get("with_failures"),
        "unique_failures": test_cases.get("unique_failures"),
        "errored": test_cases.get("errored"),
        "phases": {phase: info.get("status") for phase, info in summary.get("phases", {}).items()},
        "warnings": {kind: items for kind, items in summary.get("warnings", {}).items() if items},
        "requests_per_operation": dict(sorted(per_operation.items())),
        "statuses": dict(sorted(statuses.items())),
        "server_5xx": sum(count for status, count in statuses.items() if status.startswith("5")),
        "server_exit_code": server_code,
        "state_file_loads": state_ok,
        "state_problem": state_problem,
        "summary_tail": "\n".join(output.rstrip().splitlines()[-22:]),
        "ok": code == 0 and server_code == 0 and state_ok and not test_cases.get("with_failures")
              and not test_cases.get("errored") and summary.get("complete", False),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--runs", default="random,acme", help="comma-separated: random, acme")
    parser.add_argument("--max-time", type=int, default=2400, help="seconds allowed per run")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", type=Path, help="keep logs, reports and state files in this directory")
    args = parser.parse_args(argv)

    results = []
    with tempfile.TemporaryDirectory(prefix="deepfuzz-") as scratch:
        base = args.keep or Path(scratch)
        plan: list[tuple[str, str, str | None]] = []
        for name in (name.strip() for name in args.runs.split(",")):
            if name == "acme":
                plan += [(f"acme-{op}", "examples,coverage,fuzzing", op) for op in OPERATION_IDS]
                plan.append(("acme-stateful", "stateful", None))
            else:
                plan.append((name, PHASES, None))
        for name, phases, operation_id in plan:
            result = run_once(name, max_examples=args.max_examples, seed=args.seed, max_time=args.max_time,
                              scratch=base / name, phases=phases, operation_id=operation_id)
            results.append(result)
            _print(result)
        print(f"deepfuzz: requests per operation over all runs: {_total_requests(results)}")
    ok = all(result["ok"] for result in results)
    print(f"deepfuzz: {'PASS' if ok else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps({"max_examples": args.max_examples, "seed": args.seed, "runs": results,
                                         "ok": ok}, indent=2) + "\n", encoding="utf-8")
    return 0 if ok else 1


def _total_requests(results: list[dict]) -> dict[str, int]:
    total: collections.Counter = collections.Counter()
    for result in results:
        total.update(result["requests_per_operation"])
    return dict(sorted(total.items()))


def _print(result: dict) -> None:
    print(f"== run {result['run']}: {'PASS' if result['ok'] else 'FAIL'} in {result['seconds']} s")
    print(f"   {result['command']}")
    print(f"   test cases generated {result['generated']}, with failures {result['with_failures']}, "
          f"errored {result['errored']}; phases {result['phases']}")
    print(f"   requests the server received per operation: {result['requests_per_operation']}")
    print(f"   statuses {result['statuses']}; 5xx {result['server_5xx']}; server exit {result['server_exit_code']}; "
          f"state file loads: {result['state_file_loads']} {result['state_problem']}")
    if result["warnings"]:
        print(f"   warnings: {result['warnings']}")
    if not result["ok"]:
        print(result["summary_tail"])


if __name__ == "__main__":
    sys.exit(main())
