"""Chaos for the whole server: --latency, --error-rate with --error-codes, --chaos-seed."""

from __future__ import annotations

import time

import pytest

from mockserver.app.build import ServerOptions, create_app
from mockserver.cli import main
from mockserver.features.chaos import Catalog, ChaosOptions
from mockserver.spec.schemas import load_spec
from mockserver.store.memory import Store
from tests.conftest import ACME, ADMIN, INTEGRATION, JANE, ROBERT, user_url, users_url
from tests.support import Server, assert_problem


def chaos_client(seed_document, **chaos):
    app = create_app(Store(seed_document), ServerOptions(chaos=ChaosOptions(**chaos), admin_token="t"))
    return app.test_client()


SEQUENCE = [("GET", user_url(JANE)), ("GET", f"{users_url()}?{INTEGRATION}"), ("PATCH", user_url(ROBERT)),
            ("GET", user_url(ROBERT))] * 15


def run_sequence(client) -> list[int]:
    statuses = []
    for method, url in SEQUENCE:
        kwargs = {"json": {"nickname": "x"}} if method == "PATCH" else {}
        statuses.append(client.request(method, url, headers=ADMIN, **kwargs).status_code)
    return statuses


class TestFaults:
    def test_the_same_seed_gives_the_same_faults(self, seed):
        options = {"error_rate": 0.3, "error_codes": (401, 404, 409), "seed": 42}
        with chaos_client(seed, **options) as first, chaos_client(seed, **options) as second:
            statuses = run_sequence(first)
            assert statuses == run_sequence(second)
        assert {401, 404} <= set(statuses) and 200 in statuses
        with chaos_client(seed, **{**options, "seed": 43}) as other:
            assert run_sequence(other) != statuses

    def test_faults_use_only_codes_the_operation_documents(self, seed):
        """409 is documented by the PATCH operations only: GETs never get it."""
        with chaos_client(seed, error_rate=1.0, error_codes=(409,), seed=1) as client:
            assert client.get(user_url(JANE), headers=ADMIN).status_code == 200
            assert client.get(f"{users_url()}?{INTEGRATION}", headers=ADMIN).status_code == 200
            response = client.patch(user_url(JANE), json={"firstName": "X"}, headers=ADMIN)
            body = assert_problem(response, 409, "injected by --error-rate")
            assert body["title"] == "Conflict"

    def test_a_fault_changes_no_state(self, seed):
        with chaos_client(seed, error_rate=1.0, error_codes=(404,), seed=1) as client:
            assert client.delete(user_url(JANE), headers=ADMIN).status_code == 404
            assert client.patch(user_url(ROBERT), json={"firstName": "X"}, headers=ADMIN).status_code == 404
            exported = client.get("/__admin/fixtures", headers={"Authorization": "Bearer t"}).json()
        users = {u["_id"]: u for u in exported["customers"][0]["users"]}
        assert JANE in users and users[ROBERT]["firstName"] == "Robert"

    def test_faults_never_bypass_authentication_or_validation(self, seed):
        with chaos_client(seed, error_rate=1.0, error_codes=(404,), seed=1) as client:
            assert_problem(client.get(user_url(JANE)), 401)
            assert_problem(client.get(users_url(), headers=ADMIN), 400, "integration")

    def test_faults_are_in_the_journal(self, seed):
        with chaos_client(seed, error_rate=1.0, error_codes=(404,), seed=1) as client:
            client.get(user_url(JANE), headers=ADMIN)
            entry = client.get("/__admin/journal", headers={"Authorization": "Bearer t"}).json()["entries"][-1]
        assert entry["status"] == 404 and entry["notes"] == ["chaos fault 404"]

    def test_a_503_carries_retry_after_and_changes_nothing(self, seed):
        store = Store(seed)
        before = store.get_user(ACME, JANE)
        options = ServerOptions(chaos=ChaosOptions(error_rate=1.0, error_codes=(503,), seed=3))
        with create_app(store, options).test_client() as client:
            response = client.get(user_url(JANE), headers=ADMIN)
            assert_problem(response, 503, "Service Unavailable")
            assert response.headers["retry-after"] == "1"
            assert client.patch(user_url(JANE), json={"nickname": "x"}, headers=ADMIN).status_code == 503
        assert store.get_user(ACME, JANE) == before


class TestLatency:
    def test_every_request_waits_at_least_the_minimum(self, seed):
        with chaos_client(seed, latency_ms=(120, 150), seed=9) as client:
            for _ in range(3):
                started = time.monotonic()
                assert client.get(user_url(JANE), headers=ADMIN).status_code == 200
                assert time.monotonic() - started >= 0.1  # at least ~the minimum; no upper bound asserted
            entry = client.get("/__admin/journal", headers={"Authorization": "Bearer t"}).json()["entries"][-1]
        assert entry["notes"][0].startswith("latency 1") and entry["durationMs"] >= 100

    def test_prefer_delay_replaces_the_drawn_latency(self, seed):
        with chaos_client(seed, latency_ms=(5000, 5000), seed=9) as client:
            response = client.get(user_url(JANE), headers={**ADMIN, "Prefer": "delay=0"})
        assert response.status_code == 200 and response.headers["preference-applied"] == "delay=0"


@pytest.mark.slow
class TestStartUp:
    def test_codes_no_operation_documents_are_refused(self, capsys):
        assert main(["--port", "0", "--error-rate", "0.05", "--error-codes", "418"]) == 2
        err = capsys.readouterr().err
        assert "418" in err and "no operation of the Users contract documents" in err
        assert "400, 401, 403, 404, 409, 413, 414, 415, 422, 500, 503" in err

    def test_the_documented_server_errors_are_accepted(self, seed):
        """500 and 503 are documented on every operation; a forced 503 carries Retry-After."""
        with chaos_client(seed, error_rate=1.0, error_codes=(500, 503), seed=5) as client:
            statuses = {client.get(user_url(JANE), headers=ADMIN).status_code for _ in range(20)}
            response = client.get(user_url(JANE), headers={**ADMIN, "Prefer": "code=503"})
        assert statuses == {500, 503}
        assert_problem(response, 503)
        assert int(response.headers["retry-after"]) >= 0

    @pytest.mark.parametrize("args,fragment", [
        (["--error-rate", "0.1"], "--error-rate needs --error-codes"),
        (["--error-codes", "404"], "--error-codes needs --error-rate"),
        (["--error-rate", "0.1", "--error-codes", "200"], "not an HTTP error status"),
        (["--error-rate", "2", "--error-codes", "404"], "--error-rate"),
        (["--latency", "300-50"], "--latency"),
        (["--latency", "fast"], "--latency"),
    ])
    def test_bad_chaos_flags_exit_2(self, capsys, args, fragment):
        assert main(["--port", "0", *args]) == 2
        assert fragment in capsys.readouterr().err

    def test_the_banner_says_chaos_is_on_and_how_to_replay_it(self):
        with Server("--latency", "1-2", "--error-rate", "0.05", "--error-codes", "404,409") as server:
            banner = server.banner
        assert "CHAOS IS ON" in banner and "latency 1-2 ms" in banner and "5.0% of requests" in banner
        assert "get_user: 404" in banner and "update_user_v1: 404, 409" in banner
        seed = banner.split("chaos seed ", 1)[1].split()[0]
        assert f"--chaos-seed {seed}" in banner

    def test_the_banner_is_quiet_when_chaos_is_off(self):
        with Server() as server:
            assert "CHAOS" not in server.banner and "Admin API" in server.banner


def test_fault_codes_per_operation():
    codes = Catalog(load_spec()).check_fault_codes((404, 409))
    assert codes["get_user"] == [404] and codes["update_user_v2"] == [404, 409]
