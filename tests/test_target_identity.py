"""Only a target that proves it is the fake gets writes by default (mockserver.server.identity).

A loopback relay that is not the fake (a real HTTP hop in front of it, as a port-forward or tunnel
to a deployment would be) gets only GET, HEAD and OPTIONS from ``contract`` and ``drift`` with no
flags, in every phase; the fake itself, in this process or served by the ``mockserver`` command,
still gets writes.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from mockserver.remote.safety import parse_target, target_policy
from mockserver.server.identity import prove
from tests.conftest import ACME, JANE, ROBERT
from tests.drift_support import run_cli
from tests.support import ALL_PHASES, LiveServer, MethodRecorder, Relay, Server, fresh_fake

pytestmark = pytest.mark.slow  # starts servers or runs whole contract, drift, kill or browser runs

SAFE = {"GET", "HEAD", "OPTIONS"}
WRITING = {"PATCH", "PUT", "POST", "DELETE"}


def test_the_fake_proves_itself_and_a_relay_in_front_of_it_does_not():
    app, _store = fresh_fake()
    with LiveServer(app) as fake, Relay(fake.url) as relay:
        assert prove("http", "127.0.0.1", fake.port).ok
        proof = prove("http", "127.0.0.1", urlsplit(relay.url).port)
        assert not proof.ok and "relay" in proof.reason


async def _impostor(scope, receive, send):
    """An ASGI app that answers the identity check like a fake of another machine would."""
    body = json.dumps({"instance": "0123456789abcdef0123456789abcdef", "proof": "00" * 32}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def test_a_server_that_is_not_a_fake_or_names_an_unknown_one_does_not_prove_anything():
    app, _store = fresh_fake()
    with LiveServer(app) as fake:
        with Relay(fake.url) as relay:
            pass  # (the relay is used above; here: nothing listening)
        assert prove("http", "127.0.0.1", urlsplit(relay.url).port).reason == "nothing answered the identity check"
    with LiveServer(_impostor) as impostor:
        proof = prove("http", "127.0.0.1", impostor.port)
    assert not proof.ok and "does not know" in proof.reason


def test_the_safety_decision_is_one_public_function():
    app, _store = fresh_fake()
    with LiveServer(app) as fake, Relay(fake.url) as relay:
        assert target_policy(parse_target(fake.url)).unrestricted
        relayed = target_policy(parse_target(relay.url))
        assert relayed.read_only and "did not prove" in relayed.reason
        writes = target_policy(parse_target(relay.url), customer_id=ACME, user_ids=(JANE,), allow_writes=True)
    assert writes.allowed_methods() == SAFE | {"PATCH"}
    assert writes.refusal("PATCH", f"{relay.url}/api/v1/customers/{ACME}/users/{JANE}") is None
    assert writes.refusal("PATCH", f"{relay.url}/api/v1/customers/{ACME}/users/{ROBERT}") is not None
    assert target_policy(parse_target("https://staging.example.com")).read_only


def test_contract_sends_only_safe_methods_to_a_loopback_relay_in_every_phase():
    app, _store = fresh_fake()
    with LiveServer(app) as fake, Relay(fake.url) as relay:
        code, out, err = run_cli("contract", relay.url, "--phases", ALL_PHASES, "--seed", "3", "--max-examples", "5",
                                 "--rate-limit", "off")
    assert set(relay.seen) <= SAFE, (set(relay.seen), out, err)
    assert "GET" in relay.seen
    assert "loopback target that did not prove it is the fake" in out
    assert "read-only" in out


def test_drift_sends_only_safe_methods_to_a_loopback_relay():
    app, _store = fresh_fake()
    with LiveServer(app) as fake, Relay(fake.url) as relay:
        code, out, err = run_cli("drift", relay.url, "--phases", "examples,coverage,fuzzing", "--max-examples", "3",
                                 "--rate-limit", "off")
    assert set(relay.seen) <= SAFE, (set(relay.seen), out, err)
    assert "loopback target that did not prove it is the fake" in out


def test_record_sends_only_reads_to_a_loopback_relay(tmp_path):
    app, _store = fresh_fake()
    with LiveServer(app) as fake, Relay(fake.url) as relay:
        code, out, err = run_cli("record", relay.url, "--customer-id", ACME, "-o", str(tmp_path / "r.json"),
                                 "--rate-limit", "off")
    assert code == 0, err
    assert set(relay.seen) == {"GET"}, relay.seen


def test_record_sends_only_reads_to_the_fake_itself(tmp_path):
    app, _store = fresh_fake()
    recorder = MethodRecorder(app)
    with LiveServer(recorder) as server:
        code, out, err = run_cli("record", server.url, "--customer-id", ACME, "-o", str(tmp_path / "r.json"))
    assert code == 0, err
    assert recorder.methods() == {"GET"}


def test_the_fake_in_this_process_still_gets_writes_by_default():
    app, _store = fresh_fake()
    recorder = MethodRecorder(app)
    with LiveServer(recorder) as server:
        code, out, err = run_cli("contract", server.url, "--phases", "examples,stateful", "--seed", "3",
                                 "--max-examples", "5")
    assert recorder.methods() & WRITING, (out, err)
    assert "every method allowed" in out and "proved it is this machine's fake" in out


def test_drift_still_writes_to_the_fake_in_this_process_by_default():
    app, _store = fresh_fake()
    recorder = MethodRecorder(app)
    with LiveServer(recorder) as server:
        code, out, err = run_cli("drift", server.url, "--phases", "examples", "--steps", "0")
    assert {"PATCH", "DELETE"} <= recorder.methods(), (out, err)
    assert "every method allowed" in out


def test_the_fake_served_by_the_command_proves_itself_across_processes():
    with Server() as fake:
        parts = urlsplit(fake.url)
        proof = prove("http", parts.hostname, parts.port)
    assert proof.ok, proof.reason


def test_a_guarded_write_is_never_followed_to_where_a_redirect_points():
    """The restore's PATCH goes through requests, which follows redirects: the guard stops that for
    writes, so a 307 to another host (with the same path) cannot deliver the body there."""
    import requests

    from mockserver.remote.safety import Policy, guard_requests

    seen: list[tuple[str, str]] = []

    def elsewhere(port_of):
        async def app(scope, receive, send):
            seen.append((scope["method"], scope["path"]))
            headers = [(b"location", f"http://127.0.0.1:{port_of()}{scope['path']}".encode())] if port_of else []
            await send({"type": "http.response.start", "status": 307 if port_of else 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"{}"})
        return app

    path = "/api/v1/customers/6500000000000000000000a1/users/6500000000000000000001a1"
    policy = Policy(unrestricted=False, allow_patch=True, customer_id="6500000000000000000000a1")
    with LiveServer(elsewhere(None)) as other, LiveServer(elsewhere(lambda: other.port)) as target, \
            guard_requests(policy, retries=0):
        answer = requests.patch(target.url + path, json={"jobTitle": "x"}, timeout=5)
        assert answer.status_code == 307  # the redirect is the write's answer
        assert requests.get(target.url + path, timeout=5).status_code == 200  # a read still follows it
    assert seen == [("PATCH", path), ("GET", path), ("GET", path)]
