"""``mockserver drift URL``: the same deterministic requests to a deployment and to the fake, every
difference reported per operation with the request that shows it; exit 0/1/2 as documented.

The fake against itself reports no drift (also after record -> serve the recording -> drift); each
deliberately divergent variant (tests/drift_variants.py) is reported as the difference it is; a
run that may not write sends only GET, HEAD and OPTIONS, checked by a target that records every
method it receives (as for the contract runner); the token appears nowhere.
"""

from __future__ import annotations

import _thread
import json
import re
import threading

import pytest
import requests

from mockserver.contract.results import WireResponse
from mockserver.drift import Comparer, Difference
from tests.conftest import ACME, ROBERT
from tests.contract_variants import USER_PATH, Answer, Breaker
from tests.drift_support import run_cli
from tests.drift_variants import DRIFT_VARIANTS, lowercased_email, matches
from tests.support import LiveServer, MethodRecorder, Server, fresh_fake, non_loopback_address

pytestmark = pytest.mark.slow  # starts servers or runs whole contract, drift, kill or browser runs

WRITING = {"PATCH", "PUT", "POST", "DELETE"}
SAFE = {"GET", "HEAD", "OPTIONS"}


def drift(url: str, *args: str, json_file=None) -> tuple[int, str, str, dict | None]:
    """``mockserver drift URL ARGS`` in-process: (exit code, stdout, stderr, the --json report)."""
    extra = ["--json", str(json_file)] if json_file else []
    code, out, err = run_cli("drift", url, *args, *extra)
    report = json.loads(json_file.read_text(encoding="utf-8")) if json_file and json_file.exists() else None
    return code, out, err, report


def get_user(url: str, user_id: str) -> dict:
    answer = requests.get(f"{url}/api/v1/customers/{ACME}/users/{user_id}",
                          headers={"Authorization": "Bearer acme-admin-token"}, timeout=10)
    assert answer.status_code == 200
    return {key: value for key, value in answer.json().items() if key != "updatedAt"}


# -- units: comparing two answers ---------------------------------------------------------------


def answer(body, status=200, content_type="application/json") -> WireResponse:
    return WireResponse(status=status, content_type=content_type, body=json.dumps(body).encode())


def test_timestamps_are_compared_by_shape_and_ignore_adds_fields():
    comparer = Comparer()
    base = {"_id": "a" * 24, "updatedAt": "2024-01-01T00:00:00Z", "lastLoginAt": "2024-01-01T00:00:00Z"}
    later = {**base, "updatedAt": "2025-06-01T10:11:12Z", "lastLoginAt": "2025-06-01T10:11:12Z"}
    assert comparer.compare(answer(base), answer(later)) == [
        Difference("value", "$.lastLoginAt", "'2024-01-01T00:00:00Z'", "'2025-06-01T10:11:12Z'")
    ]
    assert Comparer(["lastLoginAt"]).compare(answer(base), answer(later)) == []
    precise = {**base, "updatedAt": "2024-01-01T00:00:00.123Z"}
    assert Comparer(["lastLoginAt"]).compare(answer(base), answer(precise)) == [
        Difference("format", "$.updatedAt", "date-time (whole seconds, Z)", "date-time (3 fractional digits, Z)",
                   form=True)
    ]
    # Shape only still sees a field that is missing or of another type.
    assert Comparer(["lastLoginAt"]).compare(answer(base), answer({**base, "lastLoginAt": 5})) == [
        Difference("type", "$.lastLoginAt", "string", "integer")
    ]


def test_lists_are_matched_by_id_and_one_difference_is_one_path():
    comparer = Comparer()
    users = [{"_id": f"{n:024x}", "email": f"u{n}@x.example", "pod": "P"} for n in range(3)]
    other = [{**user, "email": user["email"].upper()} for user in reversed(users)]
    other[0].pop("pod")
    differences = comparer.compare(answer(users), answer(other))
    assert Difference("order", "$", "another order", "another order") in differences
    assert Difference("field", "$[*].pod", "present", "absent", form=True) in differences
    assert {d.where for d in differences if d.kind == "value"} == {"$[*].email"}
    assert comparer.compare(answer(users), answer(users[:2]))[0] == Difference(
        "items", "$", f"1 only here: {2:024x}", "none only here"
    )


def test_errors_compare_status_content_type_and_shape_not_wording():
    comparer = Comparer()
    problem = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no user 1"}
    reworded = {**problem, "detail": "user 1 does not exist"}
    assert comparer.compare(answer(problem, 404, "application/problem+json"),
                            answer(reworded, 404, "application/problem+json")) == []
    assert comparer.compare(answer(problem, 404), answer(problem, 403)) == [Difference("status", "", "404", "403")]
    other = comparer.compare(answer({"error": {"code": 404}}, 404), answer(problem, 404, "application/problem+json"))
    assert [d.kind for d in other] == ["content-type", "error-format"]
    assert other[1].target == "{error: {code: integer}}"


# -- no drift: the fake against itself ----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        (),  # loopback: writes allowed, a fresh recording of the target seeds the fake
        ("--read-only", "--phases", "examples,coverage,fuzzing", "--max-examples", "3"),
        ("--fixture", "fixtures/acme.json", "--token", "robert-token"),
    ],
    ids=["writes", "read-only-fuzzing", "fixture"],
)
def test_the_fake_against_itself_reports_no_drift(args, tmp_path):
    app, _store = fresh_fake()
    with LiveServer(app) as server:
        code, out, err, report = drift(server.url, *args, json_file=tmp_path / "drift.json")
    assert code == 0, out + err
    assert out.rstrip().splitlines()[-1].startswith(f"NO DRIFT: the fake answered all {report['requests']} requests")
    assert report["differences"] == [] and report["exitCode"] == 0
    assert report["requests"] > 50
    assert report["requestsBySource"]["probe"] > 20
    if "--read-only" not in args:
        assert report["operations"]["DELETE /api/v1/customers/{customerId}/users/{userId}"]["requests"] > 0
        assert report["requestsBySource"]["coverage"] > 100


def test_record_then_serve_the_recording_then_drift_against_the_source(tmp_path):
    """The recorded file, served by the real command, answers like the source; drift sees no drift."""
    app, _source = fresh_fake()
    recorded = tmp_path / "acme-recorded.json"
    with LiveServer(app) as source:
        code, out, err = run_cli("record", source.url, "--customer-id", ACME, "--token", "acme-admin-token",
                                 "-o", str(recorded))
        assert code == 0, err
        served = Server("--seed", str(recorded))
        try:
            assert "recorded-admin-token" in served.banner
            path = f"/api/v1/customers/{ACME}/users?integration=cloud-assistant-cdr"
            status, _headers, users = served.get(path, token="recorded-admin-token")
            assert status == 200
            assert users == requests.get(source.url + path, headers={"Authorization": "Bearer acme-admin-token"},
                                         timeout=10).json()
        finally:
            served.stop()
        code, out, err, report = drift(source.url, "--fixture", str(recorded), json_file=tmp_path / "drift.json")
    assert code == 0, out + err
    assert "seeded from --fixture" in out
    assert report["differences"] == []


# -- drift: each divergent variant is reported ----------------------------------------------------


@pytest.mark.parametrize("name", sorted(DRIFT_VARIANTS))
def test_each_divergent_variant_is_reported(name, tmp_path):
    variant = DRIFT_VARIANTS[name]
    with LiveServer(variant.build()) as server:
        code, out, err, report = drift(server.url, "--phases", "examples", *variant.args,
                                       json_file=tmp_path / "drift.json")
    assert code == 1, out + err
    found = [difference for difference in report["differences"] if matches(difference, variant)]
    assert found, json.dumps(report["differences"], indent=1)[:3000]
    # With the request that shows it, reproducible with curl, and both answers.
    request = found[0]["request"]
    assert request["curl"].startswith(f"curl -X {request['method']} ")
    assert found[0]["targetAnswer"]["status"] and found[0]["fakeAnswer"]["status"]
    assert out.rstrip().splitlines()[-1].startswith("DRIFT: ")
    assert f"[{variant.kind}] " in out and re.search(r"^     curl -X [A-Z]+ ", out, re.MULTILINE)


def test_404_instead_of_403_is_shown_with_the_other_customers_request(tmp_path):
    variant = DRIFT_VARIANTS["not_found_for_other_customers"]
    with LiveServer(variant.build()) as server:
        code, out, err, report = drift(server.url, "--phases", "examples", json_file=tmp_path / "drift.json")
    found = next(d for d in report["differences"] if d["operationId"] == "get_user" and d["kind"] == "status")
    assert (found["target"], found["fake"]) == ("404", "403")
    assert found["request"]["note"] == "another customer's user"
    assert f"/api/v1/customers/{ACME[:-1]}0/users/" in found["request"]["url"]
    assert "get_user): the target answered 404, the fake 403" in out


def test_ignore_makes_a_field_shape_only(tmp_path):
    with LiveServer(lowercased_email()) as server:
        code, out, err, report = drift(server.url, "--phases", "examples", "--ignore", "email",
                                       json_file=tmp_path / "drift.json")
    assert code == 0, out + err
    assert "compared by shape only: createdAt, email, updatedAt" in out


def test_the_sequence_is_the_same_every_run(tmp_path):
    reports = []
    for run in range(2):
        with LiveServer(DRIFT_VARIANTS["other_error_shape"].build()) as server:
            code, out, err, report = drift(server.url, json_file=tmp_path / f"{run}.json")
        assert code == 1
        text = json.dumps({k: report[k] for k in ("requests", "requestsBySource", "operations", "differences")})
        reports.append(text.replace(server.url, "ORIGIN"))
    assert reports[0] == reports[1]


def test_the_targets_own_rate_limit_is_waited_out_not_reported(tmp_path):
    """Every fifth request to the target is a 429 (Retry-After: 0) the first time: drift (and its
    recording) send it again; a rate limit is not a difference between the two."""
    app, _store = fresh_fake()
    seen = {"n": 0, "429": 0}
    lock = threading.Lock()

    def before(exchange):
        with lock:
            seen["n"] += 1
            if seen["n"] == 1 or seen["n"] % 5:
                return None
            seen["429"] += 1
        body = b'{"type": "about:blank", "title": "Too Many Requests", "status": 429, "detail": "slow down"}'
        return Answer(429, [(b"content-type", b"application/problem+json"), (b"retry-after", b"0")], body)

    with LiveServer(Breaker(app, before=before)) as server:
        code, out, err, report = drift(server.url, "--phases", "examples", json_file=tmp_path / "drift.json")
    assert code == 0, out + err
    assert seen["429"] > 10
    assert report["differences"] == [] and report["errors"] == []


# -- safety: read-only means no writing method on the wire ----------------------------------------


def _assert_read_only(recorder: MethodRecorder, out: str, report: dict) -> None:
    assert recorder.methods() & WRITING == set(), sorted(recorder.seen)
    assert recorder.methods() <= SAFE
    assert len(recorder.seen) > 80, "the run sent too little to prove anything"
    assert "safety: read-only" in out
    assert "not compared: update_user_v1, delete_user, update_user_v2" in out
    assert report["requestsBySource"]["coverage"] > 10 and report["exitCode"] == 0


def test_read_only_drift_sends_no_writing_method(tmp_path):
    """On loopback, where drift would otherwise write, --read-only keeps every writing method off the wire."""
    app, store = fresh_fake()
    recorder = MethodRecorder(app)
    with LiveServer(recorder) as server:
        code, out, err, report = drift(server.url, "--read-only", json_file=tmp_path / "drift.json")
    assert code == 0, out + err
    _assert_read_only(recorder, out, report)
    assert len(store.list_users(ACME)) == 30


def test_a_non_loopback_target_is_read_only_by_default(tmp_path):
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to serve on")
    app, _store = fresh_fake()
    recorder = MethodRecorder(app)
    with LiveServer(recorder, host=address) as server:
        code, out, err, report = drift(server.url, "--customer-id", ACME, "--token", "jane-token", "--rate-limit",
                                       "off", json_file=tmp_path / "drift.json")
    assert code == 0, out + err
    _assert_read_only(recorder, out, report)
    assert "[non-loopback target]" in out


def test_allow_writes_changes_only_the_named_user_and_restores_it(tmp_path):
    app, _store = fresh_fake()
    patched: set[str] = set()
    lock = threading.Lock()

    def after(exchange, answer):
        if exchange.method == "PATCH" and answer.status == 200:
            with lock:
                patched.add(exchange.path.rsplit("/", 1)[-1])

    recorder = MethodRecorder(Breaker(app, after=after))
    with LiveServer(recorder) as server:
        before = get_user(server.url, ROBERT)
        code, out, err, report = drift(server.url, "--allow-writes", "--user-id", ROBERT, "--token",
                                       "acme-admin-token", json_file=tmp_path / "drift.json")
        after_run = get_user(server.url, ROBERT)
    assert code == 0, out + err
    assert patched == {ROBERT}
    assert "DELETE" not in recorder.methods()
    assert f"user {ROBERT}: restored" in out
    assert after_run == before


# -- the token never appears ----------------------------------------------------------------------


def test_the_token_appears_nowhere(tmp_path, monkeypatch):
    token = "tok-d21f7-DISTINCTIVE-88c4"
    from mockserver.app.build import ServerOptions, create_app
    from mockserver.cli import build_store

    def echo(exchange, answer):
        # A deployment that echoes the credentials back in its errors.
        if answer.status == 404 and USER_PATH.match(exchange.path):
            answer.set_json({"detail": f"you sent {(exchange.header(b'authorization') or b'').decode()}"})

    app = create_app(build_store([]), ServerOptions(any_token=True))
    monkeypatch.setenv("MOCKSERVER_CONTRACT_TOKEN", token)
    with LiveServer(Breaker(app, after=echo)) as server:
        code, out, err, report = drift(server.url, "--phases", "examples", json_file=tmp_path / "drift.json")
    assert code == 1, out + err  # --any-token answers 404 for a customer it does not know; the fake 403
    assert "token: $MOCKSERVER_CONTRACT_TOKEN" in out and "Bearer ***" in out
    for text in (out, err, (tmp_path / "drift.json").read_text(encoding="utf-8")):
        assert token not in text and "d21f7" not in text
    assert report["differences"]


# -- could not run: exit 2 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--phases", "stateful"], "stateful cannot be used by drift"),
        (["--fixture", "no-such-file.json"], "cannot read the file"),
        (["--fixture", "{bad}"], "has no customer"),
        (["--token", "not-a-token-the-fake-knows"], "the token was rejected"),
        (["--customer-id", "acme"], "is not an ObjectId"),
    ],
)
def test_could_not_run_exits_2_with_a_reason(args, message, tmp_path):
    if "{bad}" in args:
        other = tmp_path / "other.json"
        other.write_text(json.dumps({"customers": []}), encoding="utf-8")
        args = [str(other) if arg == "{bad}" else arg for arg in args]
    app, _store = fresh_fake()
    with LiveServer(app) as server:
        code, out, err, report = drift(server.url, *args, json_file=tmp_path / "drift.json")
    assert code == 2
    assert err.startswith("mockserver drift: could not run: ") and message in err, err
    assert report["exitCode"] == 2 and message in report["verdict"]
    assert "not-a-token-the-fake-knows" not in out + err


def test_an_unreachable_target_exits_2():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        code, out, err = run_cli("drift", f"http://127.0.0.1:{port}")
    assert code == 2 and "connection refused" in err


def test_an_interrupted_run_without_drift_exits_2():
    app, _store = fresh_fake()
    seen = {"n": 0}
    lock = threading.Lock()

    def after(exchange, answer):
        with lock:
            seen["n"] += 1
            if seen["n"] == 60:  # after the recording, during the comparison
                _thread.interrupt_main()

    with LiveServer(Breaker(app, after=after)) as server:
        code, out, err = run_cli("drift", server.url, "--phases", "examples")
    assert code == 2, out + err
    assert "INTERRUPTED: no drift found before the run stopped." in out
