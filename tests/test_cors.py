"""CORS over HTTP (in-process): preflights, allowed origins, headers on every answer, errors included.
The same in a real browser: tests/browser/test_chromium.py."""

from __future__ import annotations

import pytest

from mockserver.app.build import ServerOptions, create_app
from mockserver.store.memory import Store
from tests.conftest import ADMIN, INTEGRATION, JANE, UNKNOWN_ID, user_url, users_url
from tests.support import assert_problem

DEV = "http://localhost:5173"


def preflight(client, url, origin=DEV, method="PATCH", headers="authorization,content-type"):
    return client.options(url, headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers,
    })


def assert_cors(response, origin=DEV):
    assert response.headers.get("access-control-allow-origin") == origin, dict(response.headers)
    assert "Origin" in response.headers.get("vary", "")
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"www-authenticate", "retry-after", "preference-applied", "allow"} <= exposed


class TestPreflight:
    @pytest.mark.parametrize("origin", [DEV, "http://127.0.0.1:3000", "http://[::1]:8081", "http://localhost",
                                        "https://localhost:8443"])
    def test_a_bearer_patch_from_a_loopback_origin_is_allowed(self, client, origin):
        response = preflight(client, user_url(JANE), origin=origin)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == origin
        assert "PATCH" in response.headers["access-control-allow-methods"]
        allowed = response.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
        assert int(response.headers["access-control-max-age"]) > 0

    def test_the_features_own_headers_may_be_sent(self, client):
        response = preflight(client, user_url(JANE), method="GET", headers="authorization,prefer,x-mock-session")
        assert response.status_code == 200
        assert response.headers["access-control-allow-headers"] == "authorization,prefer,x-mock-session"

    def test_a_preflight_is_never_a_405(self, client):
        """DELETE is not a method of .../users (the list): the preflight answers with the methods that path
        has (the browser then refuses the DELETE itself); a client that sends it anyway gets the 405, with
        CORS headers."""
        answer = preflight(client, users_url(), method="DELETE")
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
        one_user = preflight(client, user_url(JANE), method="PATCH")
        assert one_user.headers["access-control-allow-methods"] == "DELETE, GET, HEAD, OPTIONS, PATCH"
        response = client.delete(users_url(), headers={**ADMIN, "Origin": DEV})
        assert_problem(response, 405)
        assert_cors(response)

    @pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost.evil.example", "null",
                                        "http://127.0.0.1.nip.io:80", "http://localhost:5173.evil.example"])
    def test_other_origins_are_refused(self, client, origin):
        response = preflight(client, user_url(JANE), origin=origin)
        assert_problem(response, 400, "origin")
        assert "access-control-allow-origin" not in response.headers
        simple = client.get(user_url(JANE), headers={**ADMIN, "Origin": origin})
        assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers

    def test_a_plain_options_without_cors_headers_still_gets_allow(self, client):
        response = client.options(user_url(JANE))
        assert response.status_code == 204
        assert "PATCH" in response.headers["allow"]


class TestHeadersOnEveryAnswer:
    def test_success(self, client):
        response = client.get(user_url(JANE), headers={**ADMIN, "Origin": DEV})
        assert response.status_code == 200
        assert_cors(response)

    @pytest.mark.parametrize(
        "method,url,headers,status",
        [
            ("GET", user_url(JANE), {}, 401),
            ("GET", user_url(JANE), {"Authorization": "Bearer nope"}, 401),
            ("GET", user_url(UNKNOWN_ID), ADMIN, 404),
            ("GET", f"{users_url()}?integration=bad", ADMIN, 400),
            ("GET", user_url(JANE, customer="6500000000000000000000b2"), ADMIN, 403),
            ("GET", "/no/such/path", ADMIN, 404),
            ("POST", user_url(JANE), ADMIN, 405),
        ],
    )
    def test_errors(self, client, method, url, headers, status):
        response = client.request(method, url, headers={**headers, "Origin": "http://127.0.0.1:4200"})
        assert_problem(response, status)
        assert_cors(response, "http://127.0.0.1:4200")

    def test_a_401_exposes_www_authenticate(self, client):
        response = client.get(f"{users_url()}?{INTEGRATION}", headers={"Origin": DEV})
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
        assert "www-authenticate" in response.headers["access-control-expose-headers"].lower()


class TestOptions:
    def _client(self, seed, **options):
        return create_app(Store(seed), ServerOptions(**options)).test_client()

    def test_cors_origin_adds_an_origin(self, seed):
        with self._client(seed, cors_origins=("https://app.example.test",)) as client:
            assert preflight(client, user_url(JANE), origin="https://app.example.test").status_code == 200
            response = client.get(user_url(JANE), headers={**ADMIN, "Origin": "https://app.example.test"})
            assert_cors(response, "https://app.example.test")
            assert preflight(client, user_url(JANE)).status_code == 200  # loopback still allowed
            assert preflight(client, user_url(JANE), origin="https://other.example.test").status_code == 400

    def test_any_origin(self, seed):
        with self._client(seed, cors_origins=("*",)) as client:
            response = preflight(client, user_url(JANE), origin="https://anything.example.test")
            assert response.status_code == 200 and response.headers["access-control-allow-origin"] == "*"

    def test_no_cors(self, seed):
        with self._client(seed, cors=False) as client:
            response = client.get(user_url(JANE), headers={**ADMIN, "Origin": DEV})
            assert response.status_code == 200
            assert not [h for h in response.headers if h.lower().startswith("access-control-")]
            assert preflight(client, user_url(JANE)).status_code == 204  # the guard's plain OPTIONS answer
