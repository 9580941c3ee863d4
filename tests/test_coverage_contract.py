"""``mockserver contract --coverage FILE --min-coverage PCT``: the file and the table are what the target
really answered (checked against the fake's own counters and its journal, counted on the server side),
the gate exits 1 below and 0 at or above, other exit codes are kept, and JUnit carries the coverage."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import xml.etree.ElementTree as ET

import pytest
import requests

from mockserver.cli import main
from mockserver.spec import schemas
from mockserver.spec.coverage import render_table
from tests.coverage_support import fake, server_side, statuses, table_rows
from tests.support import LiveServer

pytestmark = pytest.mark.slow
QUICK = ("--seed", "1", "--max-examples", "3", "--phases", "examples")


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["contract", *args])
    return code, out.getvalue(), err.getvalue()


def test_the_file_and_the_table_are_what_the_fake_answered(tmp_path):
    report, junit = tmp_path / "out" / "coverage.json", tmp_path / "contract.xml"
    with fake() as server:
        code, out, err = run(server.url, "--seed", "3", "--max-examples", "5", "--phases",
                             "examples,coverage,fuzzing,stateful", "--coverage", str(report), "--junit", str(junit))
        by_the_fake, by_the_journal = server_side(server.url)
    assert code == 0, out + err
    mine = json.loads(report.read_text(encoding="utf-8"))
    assert statuses(mine) == statuses(by_the_fake) == statuses(by_the_journal)
    assert (mine["covered"], mine["total"]) == (by_the_fake["covered"], by_the_fake["total"])
    assert 0 < mine["covered"] < mine["total"] == 56
    assert mine["run"]["answers"] >= sum(sum(s.values()) for s in statuses(mine).values()) > 400
    # Undocumented answers: the same, but for what the HTTP server in front of the app answered itself
    # (Schemathesis' NUL-byte header probe: a 400 from the server's parser, which the app never sees).
    sent = {(u["method"], u["path"], u["status"]): u["count"] for u in mine["undocumented"]}
    seen = {(u["method"], u["path"], u["status"]): u["count"] for u in by_the_fake["undocumented"]}
    assert {key: n for key, n in sent.items() if seen.get(key) != n} in ({}, {("GET", "/", "400"): 1})
    assert ("TRACE", "/api/v1/customers/{customerId}/users", "405") in sent
    # The summary's table: the fake's own counts, rendered the same way; the hints are in the file.
    assert table_rows(out) == render_table(by_the_fake).splitlines()[:7]
    unseen = {(op["operationId"], u["status"]): u for op in mine["operations"] for u in op["unseen"]}
    assert unseen[("get_user", "503")]["force"] == "Prefer: code=503" and "Prefer" in unseen[("get_user", "503")]["hint"]
    assert all(u["hint"] for u in unseen.values())
    assert out.rstrip().splitlines()[-1].startswith("coverage: ")
    # JUnit: the coverage as properties of the suite.
    properties = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert properties["coverage.covered"] == str(mine["covered"]) and properties["coverage.total"] == "56"
    assert properties["coverage.percent"] == str(mine["percent"])
    assert "get_user:503" in properties["coverage.unseen"].split()
    assert len(properties["coverage.unseen"].split()) == mine["total"] - mine["covered"]


def test_min_coverage_exits_1_below_the_gate_and_0_at_or_above_it(tmp_path):
    with fake() as server:
        code, out, _ = run(server.url, *QUICK, "--coverage", str(tmp_path / "first.json"))
    assert code == 0
    first = json.loads((tmp_path / "first.json").read_text(encoding="utf-8"))
    measured = 100.0 * first["covered"] / first["total"]
    assert 0 < measured < 100

    junit = tmp_path / "gate.xml"
    with fake() as server:
        code, out, err = run(server.url, *QUICK, "--min-coverage", repr(measured + 0.01), "--junit", str(junit))
    assert code == 1, out + err
    last = out.rstrip().splitlines()[-1]
    assert last.startswith(f"coverage gate: {measured:.1f}% of documented answers seen")
    assert last.endswith(f"below --min-coverage {measured + 0.01:g}")
    assert "CONFORMS:" in out
    suite = ET.parse(junit).getroot().find("testsuite")
    gate = next(case for case in suite.iter("testcase") if case.get("classname") == "coverage")
    assert gate.find("failure") is not None and suite.get("failures") == "1"

    for gate_value in (repr(measured), "0"):
        with fake() as server:
            code, out, err = run(server.url, *QUICK, "--min-coverage", gate_value)
        assert code == 0, out + err
        assert "at or above --min-coverage" in out.rstrip().splitlines()[-1]


def test_a_run_that_could_not_run_stays_2_and_bad_gates_are_refused(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, err = run(f"http://127.0.0.1:{port}", "--min-coverage", "0", "--coverage", str(tmp_path / "c.json"))
    assert code == 2 and "could not run: cannot reach" in err
    assert not (tmp_path / "c.json").exists()
    for bad in ("120", "-1", "lots"):
        code, out, err = run(f"http://127.0.0.1:{port}", "--min-coverage", bad)
        assert code == 2, (bad, out, err)
        assert "--min-coverage" in err and "Traceback" not in err


def test_api_users_get_the_same_checks_as_the_command():
    from mockserver.contract import ContractOptions, run_contract

    for bad in (101.0, float("nan"), True):
        out, err = io.StringIO(), io.StringIO()
        code = run_contract("http://127.0.0.1:9", ContractOptions(min_coverage=bad), out=out, err=err)
        assert code == 2 and "--min-coverage" in err.getvalue() and "percentage from 0 to 100" in err.getvalue()


def test_counts_what_came_back_on_the_wire_and_violations_keep_exit_1(tmp_path):
    """A target that answers 410 where the fake says 200 on get_user: the run counts the 410s (as
    undocumented), not a 200, and a passing gate does not hide the violation."""
    from tests.contract_variants import USER_PATH, Breaker
    from tests.support import fresh_fake

    def gone(exchange, answer):
        if exchange.method == "GET" and USER_PATH.match(exchange.path) and answer.status == 200:
            answer.status = 410

    app, _store = fresh_fake()
    report = tmp_path / "coverage.json"
    with LiveServer(Breaker(app, after=gone)) as server:
        code, out, err = run(server.url, *QUICK, "--coverage", str(report), "--min-coverage", "0")
    assert code == 1, out + err
    assert "VIOLATIONS:" in out
    # A listed user that cannot be read is never changed; that is a finding, not a crash of the run.
    assert "Internal error" not in out + err
    assert out.rstrip().splitlines()[-1].endswith("at or above --min-coverage 0")
    mine = json.loads(report.read_text(encoding="utf-8"))
    get_user = next(op for op in mine["operations"] if op["operationId"] == "get_user")
    assert get_user["statuses"]["200"] == 0
    gone_answers = [u for u in mine["undocumented"] if u["status"] == "410"]
    assert [(u["method"], u["operationId"]) for u in gone_answers] == [("GET", "get_user")]
    assert gone_answers[0]["count"] > 0


def test_each_hop_of_a_followed_redirect_is_counted_once_and_other_origins_not_at_all():
    """Where the run counts (requests.Session.send): a redirect that requests follows is two answers,
    each counted once; a request to another origin (drift's own fake) is not counted."""
    from mockserver.contract.coverage_run import RunCoverage
    from tests.contract_variants import Answer, Breaker
    from tests.support import fresh_fake

    old = "/api/v1/customers/6500000000000000000000a1/users/old-home"
    new = "/api/v1/customers/6500000000000000000000a1/users/6500000000000000000001a1"

    def moved(exchange):
        if exchange.path == old:
            return Answer(307, [(b"location", new.encode()), (b"content-length", b"0")], b"")
        return None

    app, _store = fresh_fake()
    other, _ = fresh_fake()
    with LiveServer(Breaker(app, before=moved)) as target, LiveServer(other) as elsewhere:
        coverage = RunCoverage(target.url, schemas.load_spec(), min_coverage=0)
        with coverage.observing(), requests.Session() as session:
            session.headers["Authorization"] = "Bearer jane-token"
            assert session.get(target.url + old, timeout=10).status_code == 200
            assert session.get(elsewhere.url + new, timeout=10).status_code == 200
        assert session.get(target.url + new, timeout=10).status_code == 200  # after the run: not counted
    report = coverage.report()
    assert statuses(report)["get_user"]["200"] == 1
    assert [(u["method"], u["status"], u["count"]) for u in report["undocumented"]] == [("GET", "307", 1)]
    assert report["run"]["answers"] == 2 and report["run"]["unanswered"] == 0
