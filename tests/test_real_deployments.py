"""contract and drift against deployments that differ from the fake only in ways a correct one may:
served under a gateway's base path, behind a rate limit (429 with and without Retry-After, 503 with
Retry-After), with a gateway's own headers and wording; a server that is not the Users API at all;
and the developer's own running fake, whose state a run leaves as it was."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.remote.client import RateLimited, WaitBudget
from mockserver.remote.safety import Policy, UsageProblem, guard_requests, parse_target
from tests.conftest import ACME, JANE
from tests.contract_variants import Breaker
from tests.drift_support import run_cli
from tests.gateway_support import Gateway
from tests.replay_support import AISHA, SESSION, page_entry, replay, session_har
from tests.support import LiveServer, fresh_fake, wait_for

CONTRACT = ("--rate-limit", "off", "--seed", "3", "--max-examples", "3", "--phases", "examples,coverage,fuzzing")
DRIFT = ("--rate-limit", "off", "--seed", "3", "--steps", "10")


# -- the URL: an origin and a base path ------------------------------------------------------------


def test_a_base_path_is_kept_and_the_spec_paths_go_under_it():
    target = parse_target("https://gateway.example.com/identity/")
    assert (target.origin, target.base_path, target.base) == (
        "https://gateway.example.com", "/identity", "https://gateway.example.com/identity")
    assert target.spec_path("/identity/api/v1/customers") == "/api/v1/customers"
    assert parse_target("http://127.0.0.1:8080/").base_path == ""


@settings(derandomize=True, max_examples=200)
@given(segments=st.lists(st.from_regex(r"\A[A-Za-z0-9._~-]{1,12}\Z"), min_size=1, max_size=4))
def test_any_plain_base_path_is_kept_whole_and_stripped_back(segments):
    base = "/" + "/".join(segments)
    if any(f"{prefix}/" in base + "/" for prefix in ("/api/v1", "/api/v2")) or {".", ".."} & set(segments):
        with pytest.raises(UsageProblem):
            parse_target("https://gw.example.com" + base)
        return
    target = parse_target("https://gw.example.com" + base + "/")
    assert target.base_path == base and target.base == "https://gw.example.com" + base
    assert target.spec_path(base + f"/api/v1/customers/{ACME}/users") == f"/api/v1/customers/{ACME}/users"
    assert target.spec_path("/elsewhere" + base) == "/elsewhere" + base


@pytest.mark.parametrize("url, words", [
    ("https://host/identity/api/v1", "names the spec's own paths"),
    ("https://host/api/v2/customers", "names the spec's own paths"),
    ("https://host/identity?x=1", "query or fragment"),
    ("https://host/identity#top", "query or fragment"),
    ("https://host/identity/../admin", "not a plain path"),
    ("https://host/a b", "not a plain path"),
])
def test_a_url_that_cannot_be_a_base_gets_one_clear_line(url, words):
    with pytest.raises(UsageProblem, match=words):
        parse_target(url)


def test_the_write_guard_reads_paths_under_the_base_path():
    policy = Policy(unrestricted=False, allow_patch=True, customer_id=ACME, users=frozenset({JANE}),
                    base_path="/identity")
    assert policy.refusal("PATCH", f"https://h/identity/api/v1/customers/{ACME}/users/{JANE}") is None
    assert policy.refusal("PATCH", f"https://h/identity/api/v1/customers/{ACME}/users/{'f' * 24}") is not None


@pytest.mark.slow
def test_a_base_path_is_never_taken_for_the_proven_fake():
    app, _store = fresh_fake()
    with LiveServer(app) as fake:
        code, out, err = run_cli("contract", fake.url + "/identity", "--phases", "examples", "--max-examples", "1")
    assert code == 2  # the fake serves the spec's paths at its root: nothing is found under /identity
    assert "not served under /identity" in err


# -- the rate-limit wait -----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_guard_waits_out_a_429_and_gives_up_when_the_budget_is_spent():
    app, _store = fresh_fake()
    url = f"/api/v1/customers/{ACME}/users/{JANE}"
    headers = {"Authorization": "Bearer jane-token"}
    with LiveServer(app) as fake, Gateway(fake.url, every=2, retry_after="0") as every_other:
        target = parse_target(every_other.url)
        with guard_requests(Policy(unrestricted=False), target=target, budget=WaitBudget(5)) as log:
            answers = [requests.get(every_other.url + url, headers=headers, timeout=5).status_code for _ in range(4)]
        assert answers == [200] * 4 and every_other.refused == log.budget.waits == 3  # requests 2, 4 and 6
    with LiveServer(app) as fake, Gateway(fake.url, every=1, retry_after="1") as always:
        target = parse_target(always.url)
        with guard_requests(Policy(unrestricted=False), target=target, budget=WaitBudget(2.5)) as log:
            with pytest.raises(RateLimited, match="kept answering 429"):
                requests.get(always.url + url, headers=headers, timeout=5)
            sent = always.count
            with pytest.raises(RateLimited):  # spent: nothing more is sent
                requests.get(always.url + url, headers=headers, timeout=5)
        assert always.count == sent == 3 and log.rate_limited


# -- the table of the issue: contract and drift are clean behind each gateway -----------------------


def _fake_behind(**gateway):
    app, _store = fresh_fake()
    fake = LiveServer(app).start()
    return fake, Gateway(fake.url, **gateway).__enter__()


GATEWAYS = {
    "base path": {"base_path": "/identity"},
    "429 with Retry-After, every 20th": {"base_path": "/identity/api-gw", "every": 20, "retry_after": "1"},
    "429 without Retry-After, every 20th": {"every": 20, "retry_after": None},
    "503 with Retry-After, every 20th": {"every": 20, "status": 503, "retry_after": "1"},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(GATEWAYS))
def test_contract_is_clean_behind_a_gateway(name):
    fake, gateway = _fake_behind(**GATEWAYS[name])
    try:
        code, out, err = run_cli("contract", gateway.url, *CONTRACT)
    finally:
        gateway.__exit__()
        fake.stop()
    assert code == 0, out[-3000:] + err
    assert "CONFORMS" in out and "Failures" not in out
    # progress in a CI log: one plain line per phase, nothing else on stderr
    assert [line.split(":")[1].strip() for line in err.splitlines()] == [
        "behavioural checks", "examples phase", "coverage phase", "fuzzing phase"], err
    assert "\x1b" not in err
    if GATEWAYS[name].get("every"):
        assert gateway.refused > 0
    if GATEWAYS[name].get("base_path"):
        assert f"the spec's paths under {GATEWAYS[name]['base_path']}" in out
        assert not gateway.outside, gateway.outside[:5]  # every request went under the base path
        assert any(path.startswith("/api/v1/") for _method, path in gateway.passed)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(GATEWAYS))
def test_drift_is_clean_behind_a_gateway(name):
    fake, gateway = _fake_behind(**GATEWAYS[name])
    try:
        code, out, err = run_cli("drift", gateway.url, *DRIFT)
    finally:
        gateway.__exit__()
        fake.stop()
    assert code == 0, out[-3000:] + err
    assert "NO DRIFT" in out
    assert "Function argument" not in err and "not defined in specification" not in err
    # the counts agree: the header's fixed requests (the progress total) are the verdict's
    probes, generated = map(int, re.search(r"requests: (\d+) probes \+ (\d+) generated", out).groups())
    fixed, model = map(int, re.search(r"\((\d+) fixed \+ (\d+) in model-based sequences\)", out).groups())
    assert fixed == probes + generated and model > 0
    if GATEWAYS[name].get("every"):
        assert gateway.refused > 0


def _dressed(app):
    """A gateway's own habits: keys in another order, gzip, ETag/X-Request-Id/HSTS, other error wording."""
    counter = iter(range(10**9))

    def after(exchange, answer):
        document = answer.json() if answer.body else None
        if isinstance(document, dict):
            reordered = dict(reversed(list(document.items())))
            if "detail" in reordered:
                reordered["detail"] = "Request rejected by the API (" + str(reordered["detail"]) + ")"
            answer.set_json(reordered)
        answer.headers += [(b"etag", b'"%d"' % next(counter)), (b"x-request-id", b"req-%d" % next(counter)),
                           (b"strict-transport-security", b"max-age=63072000")]
        accepts = (exchange.header(b"accept-encoding") or b"").lower()
        if b"gzip" in accepts and answer.body:
            answer.body = gzip.compress(answer.body)
            answer.headers = [(k, v) for k, v in answer.headers if k.lower() != b"content-length"]
            answer.headers += [(b"content-encoding", b"gzip"), (b"content-length", str(len(answer.body)).encode())]
        return answer

    return Breaker(app, after=after)


@pytest.mark.slow
@pytest.mark.parametrize("tool, args, verdict", [("contract", CONTRACT, "CONFORMS"), ("drift", DRIFT, "NO DRIFT")])
def test_clean_behind_a_gateway_with_its_own_headers_order_gzip_and_wording(tool, args, verdict):
    app, _store = fresh_fake()
    with LiveServer(_dressed(app)) as fake, Gateway(fake.url, base_path="/gw") as gateway:
        code, out, err = run_cli(tool, gateway.url, *args)
    assert code == 0, out[-3000:] + err
    assert verdict in out


@pytest.mark.slow
def test_replay_of_an_app_recorded_behind_one_gateway_is_clean_behind_another(tmp_path):
    # The app's session was recorded against staging's gateway, where the API sits under /identity
    # beside other services; it is replayed against a deployment behind another gateway path, with a
    # rate limit. The recording's prefix is taken off, the target's put on.
    recorded = json.loads(session_har(tmp_path).read_text())
    staging = "https://staging.example.com/identity"
    for entry in recorded["log"]["entries"]:
        parts = urlsplit(entry["request"]["url"])
        entry["request"]["url"] = staging + parts.path + (f"?{parts.query}" if parts.query else "")
    recorded["log"]["entries"] += [page_entry("https://staging.example.com/billing/api/v1/invoices"),
                                   page_entry("https://staging.example.com/")]
    har = tmp_path / "staging.har"
    har.write_text(json.dumps(recorded))
    fake, gateway = _fake_behind(base_path="/gw/users-api", every=7, retry_after="1")
    try:
        code, out, err = replay(gateway.url, har, json_file=str(tmp_path / "r.json"))
    finally:
        gateway.__exit__()
        fake.stop()
    assert code == 0, out[-3000:] + err
    assert "NO DRIFT" in out and f"to the Users API at {staging} " in out, out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["harOrigin"] == staging and report["target"] == gateway.url
    outcomes = [entry["outcome"] for entry in report["requests"]]
    assert outcomes.count("same") == len(SESSION) - 3 and outcomes.count("not sent") == 3  # read-only: no writes
    assert outcomes[-2:] == ["skipped", "skipped"]
    assert report["requests"][-2]["reason"] == "not a path of the Users API's spec"
    assert gateway.refused > 0 and not gateway.outside, gateway.outside[:5]
    assert all(path.startswith("/api/") or path.startswith("/__") for _method, path in gateway.passed), gateway.passed


@pytest.mark.slow
@pytest.mark.parametrize("tool, args", [("contract", CONTRACT), ("drift", DRIFT)])
def test_a_gateway_that_never_stops_answering_429_ends_the_run_with_exit_2(tool, args):
    fake, gateway = _fake_behind(every=1, retry_after="1")
    try:
        started = time.monotonic()
        code, out, err = run_cli(tool, gateway.url, *args, "--wait-budget", "3")
        took = time.monotonic() - started
    finally:
        gateway.__exit__()
        fake.stop()
    assert code == 2, out[-2000:] + err
    assert "kept answering 429 Too Many Requests" in err and "--wait-budget" in err
    assert "VIOLATION" not in out and "DRIFT:" not in out
    assert gateway.count <= 5, (gateway.count, took)  # nothing more is sent once the budget is spent


@pytest.mark.slow
@pytest.mark.parametrize("tool, args", [("contract", CONTRACT), ("drift", DRIFT)])
def test_a_rate_limit_that_starts_in_the_middle_of_the_run_stops_it_with_exit_2(tool, args):
    fake, gateway = _fake_behind(every=1, retry_after="1", after=60)
    try:
        code, out, err = run_cli(tool, gateway.url, *args, "--wait-budget", "2")
    finally:
        gateway.__exit__()
        fake.stop()
    assert code == 2, out[-2000:] + err
    assert "RATE LIMITED: the run stopped: the target kept answering 429" in out
    assert f"mockserver {tool}: could not run: RATE LIMITED" in err
    assert "VIOLATIONS" not in out and "DRIFT:" not in out
    assert gateway.count <= 60 + 5, gateway.count


# -- not the Users API -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["contract", "drift"])
def test_a_static_file_server_does_not_look_like_the_users_api(tool, tmp_path):
    (tmp_path / "index.html").write_text("<h1>hello</h1>")
    server = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (http://127.0.0.1:N/) ..."
        port = int(line.split(" port ")[1].split()[0])
        code, out, err = run_cli(tool, f"http://127.0.0.1:{port}", "--rate-limit", "off")
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert code == 2
    assert "does not look like the Users API" in err and "text/html" in err
    assert "was not found" not in err


# -- the developer's own fake: its state is left as it was -------------------------------------------


def _fixtures(url: str) -> bytes:
    answer = requests.get(f"{url}/__admin/fixtures", headers={"Authorization": "Bearer admin-secret"}, timeout=10)
    assert answer.status_code == 200
    return answer.content


def _sessions(url: str) -> list:
    answer = requests.get(f"{url}/__admin/sessions", headers={"Authorization": "Bearer admin-secret"}, timeout=10)
    body = answer.json()
    return body.get("sessions", body) if isinstance(body, dict) else body


@pytest.mark.slow
@pytest.mark.parametrize("tool, args", [
    ("contract", ("--seed", "3", "--max-examples", "3", "--phases", "examples,stateful")),
    ("drift", ("--seed", "3", "--steps", "20")),
])
def test_a_run_against_the_running_fake_leaves_its_state_byte_identical(tool, args):
    from mockserver.app.build import ServerOptions, create_app
    from mockserver.cli import build_store

    app = create_app(build_store([]), ServerOptions(admin_token="admin-secret"))
    with LiveServer(app) as fake:
        before = _fixtures(fake.url)
        code, out, err = run_cli(tool, fake.url, *args)
        after = _fixtures(fake.url)
        sessions = _sessions(fake.url)
        assert code in (0, 1), out[-2000:] + err
        assert "a session of its own (X-Mock-Session: mockserver-" in out
        assert after == before
        assert not sessions, sessions  # dropped at the end
        assert "admin-secret" not in out + err
        # --shared-state: the default state is the run's (and a writing run changes it)
        code, out, err = run_cli(tool, fake.url, *args, "--shared-state")
        assert "the fake's default state (--shared-state)" in out
        assert _fixtures(fake.url) != before


@pytest.mark.slow
def test_the_fixtures_comparison_sees_a_change():
    """The byte comparison above can fail: a PATCH to the default state shows in GET /__admin/fixtures."""
    from mockserver.app.build import ServerOptions, create_app
    from mockserver.cli import build_store

    app = create_app(build_store([]), ServerOptions(admin_token="admin-secret"))
    with LiveServer(app) as fake:
        before = _fixtures(fake.url)
        answer = requests.patch(f"{fake.url}/api/v1/customers/{ACME}/users/{JANE}", json={"nickname": "JJ"},
                                headers={"Authorization": "Bearer acme-admin-token"}, timeout=10)
        assert answer.status_code == 200
        wait_for(lambda: _fixtures(fake.url) != before, timeout=5)
        assert json.loads(_fixtures(fake.url)) != json.loads(before)


@pytest.mark.slow
def test_record_reads_a_customer_under_a_base_path_behind_a_rate_limit(tmp_path):
    app, _store = fresh_fake()
    output = tmp_path / "recorded.json"
    with LiveServer(app) as fake, Gateway(fake.url, base_path="/identity", every=7, retry_after="0") as gateway:
        code, out, err = run_cli("record", gateway.url, "--customer-id", ACME, "-o", str(output), "--rate-limit", "off")
    assert code == 0, err
    assert gateway.refused > 0 and not gateway.outside
    assert len(json.loads(output.read_text())["customers"][0]["users"]) > 10


@pytest.mark.slow
def test_a_user_whose_get_answers_an_undocumented_status_is_a_violation_of_a_read_only_run():
    from tests.contract_variants import USER_PATH
    from tests.support import Relay

    app, _store = fresh_fake()

    def after(exchange, answer):
        if exchange.method == "GET" and USER_PATH.match(exchange.path):
            answer.status = 418

    with LiveServer(Breaker(app, after=after)) as fake, Relay(fake.url) as relay:
        code, out, err = run_cli("contract", relay.url, "--rate-limit", "off", "--seed", "1", "--max-examples", "2",
                                 "--phases", "examples", "--user-id", JANE, "--allow-writes")
    assert code == 1, out[-2000:] + err
    assert f"Run read-only: user {JANE} cannot be read before the run: GET answered 418" in out
    assert "Undocumented status code" in out and "Received: 418" in out
    assert set(relay.seen) <= {"GET", "HEAD", "OPTIONS"}



HIDDEN = "6500000000000000000001a8"  # a test user whose GET the deployment answers 418 (the session never reads it)


@pytest.mark.slow
def test_drift_and_replay_with_an_unreadable_user_run_read_only_and_say_why(tmp_path):
    from tests.contract_variants import USER_PATH
    from tests.support import Relay

    def after(exchange, answer):
        if exchange.method == "GET" and USER_PATH.match(exchange.path) and exchange.path.endswith(HIDDEN):
            answer.status = 418

    app, _store = fresh_fake()
    har = session_har(tmp_path)
    fixture = str(Path(__file__).resolve().parent.parent / "fixtures" / "acme.json")
    unreadable = f"  Run read-only: user {HIDDEN} cannot be read before the run: GET answered 418"
    with LiveServer(Breaker(app, after=after)) as fake, Relay(fake.url) as relay:
        code, out, err = run_cli("drift", relay.url, *DRIFT, "--allow-writes", "--allow-delete", "--user-id", HIDDEN,
                                 "--fixture", fixture, "--json", str(tmp_path / "drift.json"))
        assert code == 1, out[-3000:] + err  # the 418 itself is a difference
        assert unreadable in out and "safety: read-only" in out and "418" in out.split(unreadable)[1]
        assert json.loads((tmp_path / "drift.json").read_text())["readOnlyBecause"].startswith(f"user {HIDDEN}")
        assert set(relay.seen) <= {"GET", "HEAD", "OPTIONS"}, relay.seen
        code, out, err = replay(relay.url, har, allow_writes=True, user_ids=(AISHA, HIDDEN), fixture=fixture,
                                json_file=str(tmp_path / "replay.json"))
    assert code == 0, out[-3000:] + err
    assert unreadable.replace("  Run", "Run") in out
    report = json.loads((tmp_path / "replay.json").read_text())
    assert report["readOnlyBecause"].startswith(f"user {HIDDEN}")
    withheld = [entry for entry in report["requests"] if entry["outcome"] == "not sent"]
    assert len(withheld) == 3 and all(e["reason"].startswith("the safety policy: ") for e in withheld), withheld
    assert set(relay.seen) <= {"GET", "HEAD", "OPTIONS"}, relay.seen
