"""The contract runner (``mockserver contract URL``): it passes the fake, names the right check for
every deliberately broken variant, never sends a writing method in read-only mode, restores the
users it may change, keeps the token out of every output, and exits 0/1/2 as documented.

Every target is served on a real loopback socket (uvicorn in a thread, or the ``mockserver``
command in a subprocess); the broken variants wrap the fake (tests/contract_variants.py). Runs are
short and reproducible: small ``--max-examples``, fixed ``--seed``.
"""

from __future__ import annotations

import _thread
import io
import re
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests

from mockserver.cli import main
from mockserver.contract import decide_policy, is_loopback_host, parse_target
from mockserver.contract.results import WireRequest
from mockserver.remote.report import Redactor, curl_line
from mockserver.remote.restore import restore_body
from mockserver.remote.safety import Policy, UsageProblem, WriteRefused, guard_requests
from tests.conftest import ACME, JANE, ROBERT
from tests.contract_variants import USER_PATH, VARIANTS, Breaker
from tests.drift_support import run_cli
from tests.support import ALL_PHASES, LiveServer, MethodRecorder, Server, fresh_fake, non_loopback_address

pytestmark = pytest.mark.slow  # starts servers or runs whole contract, drift, kill or browser runs

WRITING = {"PATCH", "PUT", "POST", "DELETE"}
SAFE = {"GET", "HEAD", "OPTIONS"}


def run(*args: str) -> tuple[int, str, str]:
    """``mockserver contract ARGS`` in-process: (exit code, stdout, stderr)."""
    return run_cli("contract", *args)


def failing_checks(stdout: str) -> set[str]:
    """Check names of the failures the runner printed (``1. [check] OPERATION: title``)."""
    return set(re.findall(r"^\d+\. \[(\w+)\] ", stdout, re.MULTILINE))


def get_user(url: str, user_id: str, token: str = "acme-admin-token") -> dict:
    response = requests.get(
        f"{url}/api/v1/customers/{ACME}/users/{user_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def without_updated_at(user: dict) -> dict:
    return {key: value for key, value in user.items() if key != "updatedAt"}


# -- units: target, policy, guard, report helpers ------------------------------------------------


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("192.0.2.2", False),
        ("::2", False),
        ("staging.example.com", False),
        ("localhost.example.com", False),
        ("127.0.0.1.example.com", False),
    ],
)
def test_loopback_is_127_8_or_ipv6_loopback_or_localhost(host, loopback):
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    "url", ["staging.example.com", "ftp://staging.example.com", "https://staging.example.com/api/v1", "http://u:p@x.example"]
)
def test_the_url_must_be_an_http_origin(url):
    with pytest.raises(UsageProblem):
        parse_target(url)


def test_origin_keeps_scheme_host_and_port():
    assert parse_target("https://staging.example.com/").origin == "https://staging.example.com"
    assert parse_target("http://[::1]:8080").origin == "http://[::1]:8080"


def _policy(url, **flags):
    defaults = dict(customer_id=ACME, user_ids=(), read_only=False, allow_writes=False, allow_delete=False)
    return decide_policy(parse_target(url), **{**defaults, **flags})


def test_policy_only_the_proven_fake_is_unrestricted_loopback_or_not():
    assert _policy("https://staging.example.com").read_only
    assert _policy("http://127.0.0.1:9").read_only  # loopback alone proves nothing
    assert _policy("http://127.0.0.1:9", proven=True).unrestricted
    assert _policy("http://127.0.0.1:9", proven=True, read_only=True).read_only


@pytest.mark.parametrize(
    "flags, message",
    [
        (dict(allow_writes=True), "--allow-writes on a target that is not the proven fake needs --user-id"),
        (dict(allow_delete=True), "--allow-delete is refused for a target that is not the proven fake unless --user-id"),
        (dict(read_only=True, allow_writes=True, user_ids=(JANE,)), "--read-only cannot be combined"),
    ],
)
def test_policy_refuses_unsafe_combinations(flags, message):
    with pytest.raises(UsageProblem, match=re.escape(message)):
        _policy("https://staging.example.com", **flags)


def test_policy_allows_writes_only_on_the_named_users_of_the_customer():
    policy = _policy("https://staging.example.com", allow_writes=True, user_ids=(JANE,))
    origin = "https://staging.example.com"
    assert policy.refusal("PATCH", f"{origin}/api/v1/customers/{ACME}/users/{JANE}") is None
    assert policy.refusal("PATCH", f"{origin}/api/v2/customers/{ACME}/users/{JANE}?x=1") is None
    assert policy.refusal("GET", f"{origin}/anything") is None
    refused = [
        ("PATCH", f"/api/v1/customers/{ACME}/users/{ROBERT}"),
        ("PATCH", f"/api/v1/customers/6500000000000000000000b2/users/{JANE}"),
        ("PATCH", f"/api/v1/customers/{ACME}/users"),
        ("PATCH", f"/api/v1/customers/{ACME}/users/{JANE}/../{ROBERT}"),
        ("PATCH", f"/api/v1/customers/{ACME}/users/{JANE}%2F..%2F{ROBERT}"),
        ("DELETE", f"/api/v1/customers/{ACME}/users/{JANE}"),
        ("PUT", f"/api/v1/customers/{ACME}/users/{JANE}"),
        ("POST", f"/api/v1/customers/{ACME}/users"),
        ("TRACE", f"/api/v1/customers/{ACME}/users"),
    ]
    for method, path in refused:
        assert policy.refusal(method, origin + path) is not None, (method, path)


def test_policy_allow_delete_on_a_remote_target_only_for_the_named_users():
    policy = _policy("https://staging.example.com", allow_delete=True, user_ids=(JANE,))
    origin = f"https://staging.example.com/api/v1/customers/{ACME}/users"
    assert policy.refusal("DELETE", f"{origin}/{JANE}?isForwarded=true") is None
    assert policy.refusal("DELETE", f"{origin}/{ROBERT}") is not None
    assert policy.refusal("PATCH", f"{origin}/{JANE}") is not None  # --allow-delete is not --allow-writes
    local = _policy("http://127.0.0.1:9", allow_delete=True, proven=True)
    assert local.refusal("DELETE", f"http://127.0.0.1:9/api/v1/customers/{ACME}/users/{ROBERT}") is None
    assert local.refusal("PATCH", f"http://127.0.0.1:9/api/v1/customers/{ACME}/users/{ROBERT}") is not None


def test_a_remote_run_is_rate_limited_and_read_only_by_default_in_the_schemathesis_config():
    from mockserver.contract.plan import ContractOptions, plan_contract
    from mockserver.contract.schema import build_config

    options = ContractOptions(customer_id=ACME, token="remote-token-123", seed=1)
    plan = plan_contract("https://staging.example.com", options)
    config = build_config(plan, options).projects.get_default()
    assert plan.rate_limit == "10/s"
    assert config.rate_limit is not None
    assert config.base_url == "https://staging.example.com"
    assert config.phases.coverage.unexpected_methods == set()
    assert config.checks.unsupported_method.enabled is False
    assert plan.policy.read_only


def test_guard_stops_writing_methods_before_they_reach_the_wire():
    app, _store = fresh_fake()
    recorder = MethodRecorder(app)
    with LiveServer(recorder) as server:
        users = f"{server.url}/api/v1/customers/{ACME}/users"
        policy = Policy(unrestricted=False, customer_id=ACME)
        with guard_requests(policy) as log:
            session = requests.Session()
            assert session.get(f"{users}?integration=cloud-assistant-cdr", timeout=10).status_code == 401
            for method in sorted(WRITING) + ["TRACE"]:
                with pytest.raises(WriteRefused):
                    session.request(method, f"{users}/{JANE}", json={}, timeout=10)
            with pytest.raises(WriteRefused):
                requests.patch(f"{users}/{JANE}", json={}, timeout=10)  # a fresh session is guarded too
        # Outside the guard, requests is itself again.
        assert requests.delete(f"{users}/{JANE}", timeout=10).status_code == 401
    assert [method for method, _ in recorder.seen] == ["GET", "DELETE"]
    assert len(log.refused) == 6


def test_restore_body_takes_every_updatable_field_and_the_relation_ids():
    snapshot = get_user_snapshot()
    body = restore_body(snapshot)
    assert set(body) == {
        "firstName", "lastName", "email", "jobTitle", "nickname", "seniority", "department", "office",
        "subdepartment", "pod", "roleIds", "delegateIds",
    }
    assert body["roleIds"] == [role["_id"] for role in snapshot["roles"]]
    assert body["delegateIds"] == [delegate["_id"] for delegate in snapshot["delegates"]]


def get_user_snapshot() -> dict:
    app, store = fresh_fake()
    return store.get_user(ACME, JANE)


def test_curl_lines_mask_the_authorization_value_and_keep_the_request():
    request = WireRequest(
        method="PATCH",
        url=f"http://127.0.0.1:1/api/v1/customers/{ACME}/users/{JANE}",
        headers={"Authorization": "Bearer s3cr3t", "Content-Type": "application/json", "User-Agent": "x"},
        body=b'{"firstName": "O\'Brien"}',
    )
    line = curl_line(request)
    assert "s3cr3t" not in line
    assert "-H 'Authorization: Bearer ***'" in line
    assert "User-Agent" not in line
    assert line.startswith("curl -X PATCH ")
    assert Redactor(("s3cr3t",))("a s3cr3t b") == "a *** b"


# -- exit code 0: the fake conforms ---------------------------------------------------------------


def test_the_fake_conforms_with_every_check_and_phase(tmp_path):
    app, _store = fresh_fake()
    junit = tmp_path / "reports" / "contract.xml"
    with LiveServer(app) as server:
        code, out, err = run(server.url, "--checks", "all", "--phases", ALL_PHASES, "--seed", "7",
                             "--max-examples", "10", "--junit", str(junit))
    assert code == 0, out + err
    assert out.rstrip().splitlines()[-1].startswith(f"CONFORMS: {server.url} matches openapi/users.yaml")
    assert failing_checks(out) == set()
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    cases = {(case.get("classname"), case.get("name")) for case in suite.iter("testcase")}
    assert ("GET /api/v1/customers/{customerId}/users/{userId}", "response_schema_conformance") in cases
    assert ("PATCH /api/v2/customers/{customerId}/users/{userId}", "update_persistence") in cases
    assert ("DELETE /api/v1/customers/{customerId}/users/{userId}", "use_after_free") in cases


def test_run_contract_takes_an_asgi_app_and_serves_it_on_a_loopback_port():
    from mockserver.contract import ContractOptions, run_contract

    app, _store = fresh_fake()
    out, err = io.StringIO(), io.StringIO()
    code = run_contract(app, ContractOptions(seed=1, max_examples=3, phases=("examples", "fuzzing")), out=out, err=err)
    assert code == 0, out.getvalue() + err.getvalue()
    assert re.search(r"^Contract check of http://127\.0\.0\.1:\d+ ", out.getvalue())


# -- exit code 1: every broken variant is caught by the right check -------------------------------


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_broken_variant_fails_naming_the_right_check(name, tmp_path):
    variant = VARIANTS[name]
    junit = tmp_path / "junit.xml"
    with LiveServer(variant.build()) as server:
        code, out, err = run(server.url, "--phases", variant.phases or ALL_PHASES, "--seed", "2",
                             "--max-examples", "10", "--junit", str(junit))
    assert code == 1, out + err
    assert variant.check in failing_checks(out), out
    assert out.rstrip().splitlines()[-1].startswith("VIOLATIONS:")
    assert variant.check in out.rstrip().splitlines()[-1]
    failure_types = {failure.get("type") for failure in ET.parse(junit).getroot().iter("failure")}
    assert variant.check in failure_types
    # Each failure comes with the request that reproduces it.
    assert re.search(r"^     curl -X [A-Z]+ ", out, re.MULTILINE)
    assert "   Came back: " in out


# -- safety: read-only means no writing method on the wire, in any phase --------------------------


def _assert_only_safe_methods(recorder: MethodRecorder, out: str) -> None:
    methods = recorder.methods()
    assert methods & WRITING == set(), sorted(recorder.seen)
    assert methods <= SAFE, methods
    assert len(recorder.seen) > 100, "the run sent too little to prove anything"
    assert "safety: read-only" in out
    # Every phase sent requests, Schemathesis' coverage and stateful phases included.
    assert re.search(r"\(examples [1-9]\d*, coverage [1-9]\d*, fuzzing [1-9]\d*, stateful [1-9]\d*\)", out), out
    assert re.search(r"methods on the wire: GET \d+; refused by the safety guard: 0", out), out


def test_read_only_sends_no_writing_method_in_any_phase():
    app, store = fresh_fake()
    recorder = MethodRecorder(app)
    with LiveServer(recorder) as server:
        code, out, err = run(server.url, "--read-only", "--phases", ALL_PHASES, "--seed", "3", "--max-examples", "10")
    assert code == 0, out + err
    _assert_only_safe_methods(recorder, out)
    # Every phase ran, the stateful one included; the writing operations were reported as not tested.
    assert "PATCH is not sent" in out and "DELETE is not sent" in out
    assert len(store.list_users(ACME)) == 30


def test_a_non_loopback_target_is_read_only_by_default():
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to serve on")
    app, store = fresh_fake()
    recorder = MethodRecorder(app)
    with LiveServer(recorder, host=address) as server:
        code, out, err = run(server.url, "--customer-id", ACME, "--token", "jane-token", "--rate-limit", "off",
                             "--phases", ALL_PHASES, "--seed", "3", "--max-examples", "10")
    assert code == 0, out + err
    _assert_only_safe_methods(recorder, out)
    assert "[non-loopback target]" in out


# -- safety: --allow-writes restores the users it touched -----------------------------------------


def _patch_counter(app, on_patch=None):
    """Wrap ``app``: count the PATCHes of a user that succeeded; call ``on_patch(n)`` after each."""
    state = {"patches": 0, "paths": set()}
    lock = threading.Lock()

    def after(exchange, answer):
        if exchange.method == "PATCH" and USER_PATH.match(exchange.path) and answer.status == 200:
            with lock:
                state["patches"] += 1
                state["paths"].add(exchange.path)
                count = state["patches"]
            if on_patch is not None:
                on_patch(count)

    return Breaker(app, after=after), state


@pytest.mark.parametrize("where", ["loopback", "non-loopback"])
def test_allow_writes_patches_only_the_named_users_and_restores_them(where):
    host = "127.0.0.1" if where == "loopback" else non_loopback_address()
    if host is None:
        pytest.skip("this machine has no non-loopback address to serve on")
    app, _store = fresh_fake()
    counted, state = _patch_counter(app)
    recorder = MethodRecorder(counted)
    with LiveServer(recorder, host=host) as server:
        before = {user: get_user(server.url, user) for user in (JANE, ROBERT)}
        code, out, err = run(server.url, "--allow-writes", "--user-id", JANE, "--user-id", ROBERT,
                             "--customer-id", ACME, "--token", "acme-admin-token", "--rate-limit", "off",
                             "--phases", ALL_PHASES, "--seed", "5", "--max-examples", "10")
        after = {user: get_user(server.url, user) for user in (JANE, ROBERT)}
    assert code == 0, out + err
    assert state["patches"] > 0, "the run never changed a user: nothing was restored"
    assert {path.rsplit("/", 1)[-1] for path in state["paths"]} <= {JANE, ROBERT}
    assert recorder.methods() <= SAFE | {"PATCH"}, recorder.methods()
    assert f"user {JANE}: restored" in out
    for user in (JANE, ROBERT):
        assert without_updated_at(after[user]) == without_updated_at(before[user])


def test_an_interrupted_run_still_restores_the_users():
    app, _store = fresh_fake()

    def interrupt_after_third(count):
        if count == 3:
            _thread.interrupt_main()  # as if Ctrl-C was pressed in the middle of the run

    counted, state = _patch_counter(app, interrupt_after_third)
    with LiveServer(counted) as server:
        before = get_user(server.url, JANE)
        code, out, err = run(server.url, "--allow-writes", "--user-id", JANE, "--token", "acme-admin-token",
                             "--phases", "examples,coverage,fuzzing", "--seed", "5", "--max-examples", "10")
        after = get_user(server.url, JANE)
    assert state["patches"] >= 3
    assert code == 2, out + err
    assert "INTERRUPTED" in out
    assert f"user {JANE}: restored" in out
    assert without_updated_at(after) == without_updated_at(before)


def _mockserver_command() -> list[str]:
    executable = Path(sys.executable).with_name("mockserver")
    return [str(executable)] if executable.exists() else [sys.executable, "-m", "mockserver"]


def test_sigterm_stops_the_run_and_still_restores_the_users():
    """A CI timeout sends SIGTERM: the run stops, and the users are put back before it exits."""
    import signal
    import time

    with Server(command=_mockserver_command()) as fake:  # the README's serve command
        url = fake.url
        before = get_user(url, JANE)
        runner = subprocess.Popen(
            [*_mockserver_command(), "contract", url, "--allow-writes", "--user-id", JANE, "--token",
             "acme-admin-token", "--seed", "5", "--max-examples", "200", "--phases", "fuzzing"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 60
        while without_updated_at(get_user(url, JANE)) == without_updated_at(before):
            assert runner.poll() is None and time.monotonic() < deadline, "the run never changed the user"
            time.sleep(0.05)
        runner.send_signal(signal.SIGTERM)
        out, err = runner.communicate(timeout=60)
        after = get_user(url, JANE)
    assert runner.returncode == 2, out + err
    assert "INTERRUPTED" in out
    assert f"user {JANE}: restored" in out
    assert without_updated_at(after) == without_updated_at(before)


# -- the token never appears ----------------------------------------------------------------------


def test_the_token_appears_nowhere_in_output_or_reports(tmp_path, monkeypatch):
    token = "tok-7f3a9c1e-DISTINCTIVE-d41b"

    def leak(exchange, answer):
        # A server that echoes the credentials back, and breaks the contract so failures are printed.
        if exchange.method == "GET" and USER_PATH.match(exchange.path) and answer.status == 404:
            answer.status = 410
            sent = (exchange.header(b"authorization") or b"nothing").decode()
            answer.set_json({"detail": f"no such user; you sent {sent}"})

    # --any-token: the fake accepts any bearer token, so the distinctive one gets real answers.
    from mockserver.app.build import ServerOptions, create_app
    from mockserver.cli import build_store

    app = create_app(build_store([]), ServerOptions(any_token=True))
    junit = tmp_path / "junit.xml"
    monkeypatch.setenv("MOCKSERVER_CONTRACT_TOKEN", token)
    with LiveServer(Breaker(app, after=leak)) as server:
        code, out, err = run(server.url, "--phases", "examples,coverage", "--seed", "1", "--max-examples", "5",
                             "--junit", str(junit))
    assert code == 1, out + err
    assert "token: $MOCKSERVER_CONTRACT_TOKEN" in out
    assert "Authorization: Bearer ***" in out
    assert "you sent Bearer ***" in out
    for text in (out, err, junit.read_text(encoding="utf-8")):
        assert token not in text
        assert "7f3a9c1e" not in text


# -- exit code 2: could not run, one clear line ---------------------------------------------------


def test_unreachable_url_exits_2_and_says_so_in_the_junit_report_too(tmp_path):
    junit = tmp_path / "junit.xml"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        code, out, err = run(f"http://127.0.0.1:{port}", "--junit", str(junit))
    assert code == 2
    line = f"mockserver contract: could not run: cannot reach http://127.0.0.1:{port}: connection refused"
    assert err.strip().splitlines() == [line]
    errors = list(ET.parse(junit).getroot().iter("error"))
    assert len(errors) == 1 and "connection refused" in errors[0].get("message")


def test_a_rejected_token_exits_2():
    app, _store = fresh_fake()
    with LiveServer(app) as server:
        code, out, err = run(server.url, "--token", "not-a-token-the-fake-knows")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "the token was rejected" in lines[0] and "401" in lines[0]
    assert "not-a-token-the-fake-knows" not in out + err


def test_every_request_401_exits_2():
    """A server that answers 401 to everything, even after accepting the pre-flight."""
    app, _store = fresh_fake()
    seen = {"first": True}

    def before(exchange):
        if exchange.path == "/__mockserver/identity":
            return None  # the identity handshake (not the Users API)
        if seen.pop("first", False):
            return None  # let the pre-flight through
        from tests.contract_variants import Answer

        body = b'{"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "token expired"}'
        return Answer(401, [(b"content-type", b"application/problem+json"), (b"www-authenticate", b"Bearer")], body)

    with LiveServer(Breaker(app, before=before)) as server:
        code, out, err = run(server.url, "--phases", "examples", "--seed", "1", "--max-examples", "3")
    assert code == 2, out + err
    assert "every request was answered 401" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["https://staging.example.com", "--token", "remote-token-123"], "--customer-id is required for a non-loopback target"),
        (["https://staging.example.com", "--customer-id", ACME], "no token: pass --token or set MOCKSERVER_CONTRACT_TOKEN"),
        (["https://staging.example.com", "--customer-id", ACME, "--token", "remote-token-123", "--allow-delete"],
         "--allow-delete is refused for a target that is not the proven fake unless --user-id"),
        (["https://staging.example.com", "--customer-id", ACME, "--token", "remote-token-123", "--allow-writes"],
         "--allow-writes on a target that is not the proven fake needs --user-id"),
        (["http://127.0.0.1:9", "--checks", "no_such_check"], "unknown check no_such_check"),
        (["http://127.0.0.1:9", "--customer-id", "acme"], "is not an ObjectId"),
        (["http://127.0.0.1:9", "--rate-limit", "fast"], "--rate-limit 'fast'"),
        (["http://127.0.0.1:9", "--phases", "examples,warmup"], "--phases: warmup"),
        (["https://staging.example.com/api/v1", "--customer-id", ACME, "--token", "remote-token-123"], "names the spec's own paths"),
    ],
)
def test_bad_options_exit_2_with_one_line_before_any_request(args, message, monkeypatch):
    monkeypatch.delenv("MOCKSERVER_CONTRACT_TOKEN", raising=False)
    code, out, err = run(*args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert "cannot reach" not in err


def test_a_click_usage_error_also_exits_2():
    assert main(["contract", "http://127.0.0.1:9", "--max-examples", "zero"]) == 2


# -- CI: the README's command over a real socket --------------------------------------------------


def test_ci_serves_the_fake_with_the_readme_command_and_checks_it_over_a_socket(tmp_path):
    """What CI runs: ``mockserver --port 0``, then ``mockserver contract URL`` with every check and
    the stateful phase, JUnit written, zero failures."""
    junit = tmp_path / "junit" / "contract.xml"
    with Server(command=_mockserver_command()) as fake:
        checked = subprocess.run(
            [*_mockserver_command(), "contract", fake.url, "--checks", "all", "--phases", ALL_PHASES, "--seed", "11",
             "--max-examples", "10", "--junit", str(junit)],
            capture_output=True, text=True, timeout=300,
        )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    suite = ET.parse(junit).getroot().find("testsuite")
    assert int(suite.get("tests")) > 50
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
