"""``mockserver proxy`` over real sockets: the fake (and variants of it that break the contract) behind
the proxy, the answers the client gets, the violations the admin API lists, the write guard."""

from __future__ import annotations

import json

import httpx
import pytest

from mockserver.proxy.app import build_proxy
from tests.conftest import BIRCH, INTEGRATION, JANE, ROBERT, UNKNOWN_ID, user_url, users_url
from tests.contract_variants import (
    Breaker,
    missing_required_field,
    undocumented_status,
    wrong_content_type,
    wrong_type,
)
from tests.proxy_support import ADMIN_TOKEN, comparable, proxied, raw
from tests.support import MethodRecorder, Relay, Served, fresh_fake

pytestmark = pytest.mark.slow  # servers on real sockets

JANE_TOKEN = [("Authorization", "Bearer jane-token")]
ADMIN = [("Authorization", "Bearer acme-admin-token")]
JSON = [("Content-Type", "application/json")]


def fake():
    return fresh_fake()[0]


# Valid requests whose answers are documented, successes and errors: an honest fake raises no alarm.
REALISTIC = [
    ("GET", f"{users_url()}?{INTEGRATION}", JANE_TOKEN, b""),
    ("GET", f"{users_url()}?{INTEGRATION}&search=jane%20doe", JANE_TOKEN, b""),
    ("GET", f"{users_url()}/lookup", JANE_TOKEN, b""),
    ("GET", f"{users_url()}/lookup", ADMIN, b""),  # an admin token has no identity: 404
    ("GET", user_url(JANE), JANE_TOKEN, b""),
    ("GET", user_url(UNKNOWN_ID), JANE_TOKEN, b""),  # 404
    ("GET", user_url(JANE), [("Authorization", "Bearer birch-admin-token")], b""),  # 403
    ("GET", user_url("6500000000000000000002b1", BIRCH), [("Authorization", "Bearer birch-admin-token")], b""),
    ("GET", user_url(JANE), [("Authorization", "Bearer unknown-token")], b""),  # 401
    ("GET", user_url(JANE), [*JANE_TOKEN, ("Prefer", "code=503")], b""),  # 503 with Retry-After
    ("GET", user_url(JANE), [*JANE_TOKEN, ("Prefer", "code=500")], b""),
    ("HEAD", user_url(JANE), JANE_TOKEN, b""),
    ("OPTIONS", user_url(JANE), [], b""),
    ("PATCH", user_url(JANE), [*ADMIN, *JSON], b'{"jobTitle": "Partner", "department": "Tax"}'),
    ("PATCH", user_url(JANE, version="v2"), [*ADMIN, *JSON], b'{"nickname": "JD"}'),
    ("PATCH", user_url(JANE), [*ADMIN, *JSON], b'{"email": "robert.okafor@acme.example"}'),  # 409
    ("PATCH", user_url(JANE), [*ADMIN, *JSON], b'{"roleIds": ["6500000000000000000003b1"]}'),  # 422
    ("PATCH", user_url(UNKNOWN_ID), [*ADMIN, *JSON], b'{"jobTitle": "x"}'),  # 404
    ("DELETE", user_url(ROBERT), ADMIN, b""),
    ("DELETE", user_url(ROBERT), ADMIN, b""),  # 404 the second time
    ("GET", user_url(ROBERT), ADMIN, b""),  # 404
    ("DELETE", f"{user_url(JANE)}?isForwarded=true&originalPrincipalUserId=x", ADMIN, b""),
]


def test_the_unmodified_fake_behind_the_proxy_raises_no_false_alarm():
    with proxied(fake()) as setup:
        statuses = [raw(setup.front.port, *request)[0] for request in REALISTIC]
        assert set(statuses) >= {200, 204, 401, 403, 404, 409, 422, 500, 503}, statuses
        assert setup.violations() == [], setup.lines
        assert not any(line.startswith("VIOLATION") for line in setup.lines)


@pytest.mark.parametrize("request_", [r for r in REALISTIC if r[0] in ("GET", "HEAD", "OPTIONS")],
                         ids=lambda r: f"{r[0]} {r[1][-30:]}")
def test_answers_pass_through_byte_for_byte(request_):
    with proxied(fake()) as setup:
        direct = raw(setup.backend.port, *request_)
        through = raw(setup.front.port, *request_)
    assert through[0] == direct[0]
    assert comparable(through[1]) == comparable(direct[1])
    assert through[2] == direct[2]


@pytest.mark.parametrize(("variant", "target", "operation", "check"), [
    (missing_required_field, user_url(JANE), "get_user", "response_schema_conformance"),
    (missing_required_field, f"{users_url()}?{INTEGRATION}", "list_users", "response_schema_conformance"),
    (wrong_type, user_url(JANE), "get_user", "response_schema_conformance"),
    (undocumented_status, user_url(UNKNOWN_ID), "get_user", "status_code_conformance"),
    (wrong_content_type, f"{users_url()}?{INTEGRATION}", "list_users", "content_type_conformance"),
])
def test_a_deployment_that_breaks_the_contract_is_named_and_its_answer_still_reaches_the_client(
        variant, target, operation, check):
    with proxied(variant()) as setup:
        direct = raw(setup.backend.port, "GET", target, JANE_TOKEN)
        through = raw(setup.front.port, "GET", target, JANE_TOKEN)
        found = setup.violations()
    assert (through[0], comparable(through[1]), through[2]) == (direct[0], comparable(direct[1]), direct[2])
    assert {(v["operationId"], v["check"]) for v in found} == {(operation, check)}, found
    (violation,) = found
    assert violation["status"] == direct[0]
    assert violation["request"]["method"] == "GET" and violation["request"]["path"] == target.split("?")[0]
    assert "Bearer ***" in violation["request"]["curl"] and "jane-token" not in json.dumps(found)
    (line,) = [line for line in setup.lines if line.startswith("VIOLATION")]
    assert f"VIOLATION {operation} {check}: " in line and "curl -X GET" in line and "jane-token" not in line


def bad_retry_after():
    """A 503 whose Retry-After is not the integer the contract documents."""

    def after(exchange, answer):
        if answer.status == 503:
            answer.headers = [(k, v) for k, v in answer.headers if k.lower() != b"retry-after"]
            answer.headers.append((b"retry-after", b"soon"))

    return Breaker(fake(), after=after)


def echoes_the_token():
    """Puts the caller's token in the problem's detail (a deployment must not make the log show it)."""

    def after(exchange, answer):
        if answer.status == 401:
            echoed = (exchange.header(b"authorization") or b"").decode()
            answer.set_json({"type": "about:blank", "title": "Unauthorized", "detail": "no", "status": echoed})

    return Breaker(fake(), after=after)


def test_a_documented_header_with_a_wrong_value_is_a_headers_violation():
    with proxied(bad_retry_after()) as setup:
        status, headers, _ = raw(setup.front.port, "GET", user_url(JANE), [*JANE_TOKEN, ("Prefer", "code=503")])
        assert status == 503 and ("retry-after", "soon") in headers
        assert setup.checks() == {("get_user", "response_headers_conformance")}
        assert "Retry-After" in setup.violations()[0]["detail"]


def test_a_token_echoed_by_the_deployment_is_masked_in_the_log_and_the_admin_api():
    with proxied(echoes_the_token()) as setup:
        status, _, body = raw(setup.front.port, "GET", user_url(UNKNOWN_ID), [("Authorization", "Bearer secret-tok-1234")])
        assert status == 401 and b"secret-tok-1234" in body  # the client gets the answer as it is
        found = setup.violations()
        assert {v["check"] for v in found} == {"response_schema_conformance"}
        assert "$.status: expected integer" in found[0]["detail"] and "***" in found[0]["detail"]
        assert "secret-tok-1234" not in json.dumps(found) + "\n".join(setup.lines)


BAD_REQUESTS = [
    (("GET", f"{users_url()}?search=jane", JANE_TOKEN, b""), "list_users", "request_parameters_conformance"),
    (("GET", user_url("not-an-id"), JANE_TOKEN, b""), "get_user", "request_parameters_conformance"),
    (("GET", user_url(JANE), [], b""), "get_user", "request_authorization"),
    (("PATCH", user_url(JANE), [*ADMIN, *JSON], b'{"jobTitel": "typo"}'), "update_user_v1", "request_body_conformance"),
    (("PATCH", user_url(JANE), [*ADMIN, *JSON], b'{"email": "x", "email": "y"}'), "update_user_v1",
     "request_body_conformance"),
    (("PATCH", user_url(JANE), [*ADMIN, ("Content-Type", "text/plain")], b"{}"), "update_user_v1",
     "request_content_type_conformance"),
    (("PUT", user_url(JANE), [*ADMIN, *JSON], b"{}"), None, "request_method"),
]


@pytest.mark.parametrize(("request_", "operation", "check"), BAD_REQUESTS, ids=lambda v: str(v)[:40])
def test_a_bad_request_is_a_request_violation_and_is_still_forwarded(request_, operation, check):
    recorder = MethodRecorder(fake())
    with proxied(recorder) as setup:
        status, _, body = raw(setup.front.port, *request_)
        assert (request_[0], request_[1].split("?")[0]) in recorder.seen  # it reached the deployment
        assert setup.checks() == {(operation, check)}, setup.violations()
        direct_status = raw(setup.backend.port, *request_)[0]
    assert status == direct_status and status in (400, 401, 405, 415)


def test_writes_to_a_target_that_is_not_the_proven_fake_are_refused_and_never_sent():
    app = fake()
    with proxied(app) as inner, Relay(inner.backend.url) as relay:
        proxy = build_proxy(relay.url, admin_token=ADMIN_TOKEN)
        handshake = list(relay.seen)  # the identity check, which the relay fails
        front = Served(proxy.app)
        try:
            assert not proxy.policy.unrestricted and "relay" in proxy.policy.reason
            for method in ("PATCH", "DELETE", "POST", "PUT"):
                status, headers, body = raw(front.port, method, user_url(JANE), [*ADMIN, *JSON], b'{"jobTitle": "x"}')
                problem = json.loads(body)
                assert status == 403 and ("content-type", "application/problem+json") in headers
                assert method in problem["detail"] and "--allow-writes" in problem["detail"]
            assert relay.seen == handshake == ["GET"]  # nothing reached the deployment
            assert raw(front.port, "GET", user_url(JANE), JANE_TOKEN)[0] == 200
            assert relay.seen == ["GET", "GET"]
            journal = httpx.get(front.url + "/__admin/journal", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert [e["status"] for e in journal.json()["entries"]] == [403, 403, 403, 403, 200]
        finally:
            front.stop()


def test_with_allow_writes_a_target_that_is_not_the_fake_gets_writes():
    with proxied(fake()) as inner, Relay(inner.backend.url) as relay:
        proxy = build_proxy(relay.url, admin_token=ADMIN_TOKEN, allow_writes=True)
        front = Served(proxy.app)
        try:
            assert raw(front.port, "PATCH", user_url(JANE), [*ADMIN, *JSON], b'{"jobTitle": "x"}')[0] == 200
            assert relay.seen == ["PATCH"]  # no identity check either: --allow-writes decides
        finally:
            front.stop()


def test_writes_are_forwarded_to_the_fake_itself():
    recorder = MethodRecorder(fake())
    with proxied(recorder) as setup:
        assert setup.proxy.policy.unrestricted and "fake" in setup.proxy.policy.reason
        status, _, body = raw(setup.front.port, "PATCH", user_url(JANE), [*ADMIN, *JSON], b'{"jobTitle": "Partner"}')
        assert status == 200 and json.loads(body)["jobTitle"] == "Partner"
        assert raw(setup.front.port, "DELETE", user_url(ROBERT), ADMIN)[0] == 200
        assert ("PATCH", user_url(JANE)) in recorder.seen and ("DELETE", user_url(ROBERT)) in recorder.seen
        assert setup.violations() == []


def test_before_a_write_the_fake_proves_again_that_it_is_the_fake(monkeypatch):
    """A proxy runs for hours: when what answers at the fake's address no longer proves it is the
    fake (the fake stopped and a port-forward took its port), its writes are refused again."""
    from mockserver.proxy import forward
    from mockserver.server.identity import Proof

    recorder = MethodRecorder(fake())
    with proxied(recorder) as setup:
        monkeypatch.setattr(forward, "REPROVE_SECONDS", 0.0)
        patch = (user_url(JANE), [*ADMIN, *JSON], b'{"jobTitle": "Partner"}')
        assert raw(setup.front.port, "PATCH", *patch)[0] == 200  # proved again, forwarded
        monkeypatch.setattr(forward, "prove_target", lambda target: Proof(False, "no identity answer"))
        status, _, body = raw(setup.front.port, "PATCH", *patch)
        assert status == 403 and "no longer proves it is this machine's fake" in json.loads(body)["detail"]
        assert [method for method, _ in recorder.seen].count("PATCH") == 1
        assert raw(setup.front.port, "GET", user_url(JANE), ADMIN)[0] == 200  # reads still go through


def test_admin_routes_need_the_admin_token_and_are_never_forwarded():
    recorder = MethodRecorder(fake())
    with proxied(recorder) as setup:
        raw(setup.front.port, "GET", f"{users_url()}?search=x", JANE_TOKEN)  # one violation
        for path in ("/__admin/violations", "/__admin/journal", "/__admin/coverage"):
            assert httpx.get(setup.url + path).status_code == 401
            assert httpx.get(setup.url + path, headers={"Authorization": "Bearer acme-admin-token"}).status_code == 401
        # The fake's own admin API is not reachable through the proxy.
        missing = httpx.post(setup.url + "/__admin/reset", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert missing.status_code == 404
        assert "openapi.json" not in missing.json()["detail"]  # the proxy's admin API serves no spec to point at
        assert not any(path.startswith("/__admin") for _, path in recorder.seen)
        assert len(setup.violations()) == 1
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        assert httpx.delete(setup.url + "/__admin/violations", headers=auth).status_code == 204
        assert setup.violations() == []


def test_journal_and_coverage_have_the_fakes_shapes_in_proxy_mode():
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with proxied(fake()) as setup:
        raw(setup.front.port, "GET", user_url(JANE), JANE_TOKEN)
        raw(setup.front.port, "GET", user_url(UNKNOWN_ID), JANE_TOKEN)
        raw(setup.front.port, "GET", f"{users_url()}?search=x", JANE_TOKEN)
        journal = httpx.get(setup.url + "/__admin/journal", headers=auth).json()
        coverage = httpx.get(setup.url + "/__admin/coverage", headers=auth).json()
    entries = journal["entries"]
    assert [(e["method"], e["status"]) for e in entries] == [("GET", 200), ("GET", 404), ("GET", 400)]
    assert set(entries[0]) == {"id", "timestamp", "method", "path", "query", "status", "durationMs", "session",
                               "authorization", "notes", "operationId", "pathTemplate", "forcedBy", "detail",
                               "request", "response", "curl"}  # as the fake's (tests/test_journal_bodies.py)
    assert entries[1]["detail"]  # the 404's problem detail
    assert entries[0]["authorization"] == "Bearer jane…"
    assert entries[2]["notes"] == ["violation request_parameters_conformance"]
    get_user = next(op for op in coverage["operations"] if op["operationId"] == "get_user")
    assert get_user["statuses"]["200"] == 1 and get_user["statuses"]["404"] == 1
    assert set(coverage) == {"operations", "covered", "total", "percent", "undocumented"}


def test_a_deployment_that_cannot_be_reached_is_a_502_problem_not_a_violation():
    proxy = build_proxy("http://127.0.0.1:9", admin_token=ADMIN_TOKEN, timeout=2)
    front = Served(proxy.app)
    try:
        status, headers, body = raw(front.port, "GET", user_url(JANE), JANE_TOKEN)
        assert status == 502 and ("content-type", "application/problem+json") in headers
        assert "no answer from http://127.0.0.1:9" in json.loads(body)["detail"]
        assert proxy.log.total == 0 and proxy.log.counters["upstream_errors"] == 1
    finally:
        front.stop()


def test_an_https_deployment_through_the_tls_options(https_fake, tmp_path):
    from pathlib import Path

    from mockserver.remote.tls import TLSSettings

    port = https_fake("localhost")
    cases = [(TLSSettings(cacert=Path(tmp_path / "ca.pem")), 200), (TLSSettings(insecure=True), 200), (TLSSettings(), 502)]
    for tls, expected in cases:
        proxy = build_proxy(f"https://localhost:{port}", admin_token=ADMIN_TOKEN, tls=tls)
        front = Served(proxy.app)
        try:
            assert not proxy.policy.unrestricted  # an https target is never the fake
            status, _, body = raw(front.port, "GET", user_url(JANE), JANE_TOKEN)
            assert status == expected, body
            if expected == 502:
                assert "TLS: the server's certificate is not trusted" in json.loads(body)["detail"]
            assert proxy.log.total == 0
        finally:
            front.stop()


def accepts_put():
    """Answers an undocumented PUT of a user with 200 instead of 405."""
    from tests.contract_variants import Answer

    def before(exchange):
        if exchange.method == "PUT":
            return Answer(200, [(b"content-type", b"application/json")], b"{}")
        return None

    return Breaker(fake(), before=before)


def test_an_undocumented_method_not_answered_405_is_an_unsupported_method_violation():
    with proxied(accepts_put()) as setup:
        assert raw(setup.front.port, "PUT", user_url(JANE), [*ADMIN, *JSON], b"{}")[0] == 200
        assert setup.checks() == {(None, "request_method"), (None, "unsupported_method")}
        assert "not 405" in next(v["detail"] for v in setup.violations() if v["check"] == "unsupported_method")


def test_the_contract_runner_through_the_proxy_raises_no_answer_side_alarm_on_the_fake():
    """Schemathesis' examples and coverage phases (valid and deliberately invalid requests) through the
    proxy to the honest fake: the invalid requests are request violations, no answer is called wrong."""
    from tests.drift_support import run_cli

    with proxied(fake()) as setup:
        code, out, err = run_cli("contract", setup.url, "--phases", "examples,coverage", "--max-examples", "5",
                                 "--seed", "1", "--rate-limit", "off")
        found = setup.violations()
    assert code == 0, out + err
    assert setup.proxy.log.counters["forwarded"] > 50
    answer_side = [v for v in found if not v["check"].startswith("request_")]
    assert answer_side == [], answer_side[:3]
    assert {v["check"] for v in found} >= {"request_parameters_conformance"}
