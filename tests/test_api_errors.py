"""Errors no single operation owns, and malformed requests: always a clear 4xx problem, never a 500."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN, INTEGRATION, JANE, user_url, users_url
from tests.support import assert_problem

JSON_ADMIN = {**ADMIN, "Content-Type": "application/json"}


class TestMethods:
    @pytest.mark.parametrize("method", ["PATCH", "DELETE", "POST", "PUT"])
    def test_lookup_only_has_get(self, client, method):
        response = client.request(method, f"{users_url()}/lookup", headers=JSON_ADMIN, content=b"{}")
        assert_problem(response, 405, "lookup")
        assert response.headers["allow"] == "GET, HEAD, OPTIONS"

    @pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
    def test_list_path(self, client, method):
        response = client.request(method, users_url(), headers=JSON_ADMIN, content=b"{}")
        assert_problem(response, 405)
        assert response.headers["allow"] == "GET, HEAD, OPTIONS"

    @pytest.mark.parametrize("method", ["POST", "PUT"])
    def test_user_path(self, client, method):
        response = client.request(method, user_url(JANE), headers=JSON_ADMIN, content=b"{}")
        assert_problem(response, 405)
        assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"

    @pytest.mark.parametrize("method", ["GET", "DELETE"])
    def test_v2_path_only_has_patch(self, client, method):
        response = client.request(method, user_url(JANE, version="v2"), headers=ADMIN)
        assert_problem(response, 405)
        assert response.headers["allow"] == "OPTIONS, PATCH"

    def test_405_even_without_a_token(self, client):
        assert_problem(client.post(users_url()), 405)

    @pytest.mark.parametrize("path", [users_url(), f"{users_url()}/lookup", user_url(JANE), user_url(JANE, version="v2")])
    def test_options_lists_the_methods(self, client, path):
        response = client.options(path)
        assert response.status_code == 204 and "OPTIONS" in response.headers["allow"]

    def test_head_on_get_paths(self, client):
        response = client.head(user_url(JANE), headers=ADMIN)
        assert response.status_code == 200 and response.content == b""
        assert client.head(user_url(JANE)).status_code == 401

    def test_unknown_path_is_a_problem(self, client):
        assert_problem(client.get("/api/v1/customers", headers=ADMIN), 404, "no operation")


class TestBodies:
    def url(self):
        return user_url(JANE)

    def test_invalid_utf8(self, client):
        assert_problem(client.patch(self.url(), content=b'{"firstName": "\xff\xfe"}', headers=JSON_ADMIN), 400, "UTF-8")

    def test_body_without_content_type(self, client):
        assert_problem(client.patch(self.url(), content=b'{"pod": "x"}', headers=ADMIN), 415, "Content-Type")

    @pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded"])
    def test_unsupported_media_type(self, client, content_type):
        response = client.patch(self.url(), content=b'{"pod": "x"}', headers={**ADMIN, "Content-Type": content_type})
        assert_problem(response, 415)

    def test_json_with_charset_is_fine(self, client):
        headers = {**ADMIN, "Content-Type": "application/json; charset=utf-8"}
        assert client.patch(self.url(), content=b'{"pod": "x"}', headers=headers).status_code == 200

    def test_missing_body(self, client):
        assert_problem(client.patch(self.url(), headers=JSON_ADMIN), 400, "body is required")

    @pytest.mark.parametrize("raw,fragment", [
        (b'{"pod": ', "not valid JSON"),
        (b'{"pod": "a", "pod": "b"}', "twice"),
        (b'[' * 100_000 + b']' * 100_000, "nested too deeply"),
        (b'{"pod": ' + b"9" * 10_000 + b"}", "not valid JSON"),
        (b'{"pod": NaN}', "NaN"),
        (b'null', "expected object"),
    ])
    def test_malformed_json(self, client, raw, fragment):
        assert_problem(client.patch(self.url(), content=raw, headers=JSON_ADMIN), 400, fragment)

    def test_body_over_the_limit(self, client):
        body = b'{"pod": "' + b"x" * (1024 * 1024) + b'"}'
        assert_problem(client.patch(self.url(), content=body, headers=JSON_ADMIN), 413, "limit")

    def test_chunked_body_over_the_limit(self, client):
        def chunks():
            yield b'{"pod": "'
            for _ in range(20):
                yield b"x" * 65536
            yield b'"}'

        assert_problem(client.patch(self.url(), content=chunks(), headers=JSON_ADMIN), 413)

    def test_chunked_body_under_the_limit_is_read(self, client):
        def chunks():
            yield b'{"pod": '
            yield b'"Pod 7"}'

        response = client.patch(self.url(), content=chunks(), headers=JSON_ADMIN)
        assert response.status_code == 200 and response.json()["pod"] == "Pod 7"

    def test_nul_bytes_in_strings_are_data(self, client):
        response = client.patch(self.url(), json={"nickname": "a\u0000b"}, headers=ADMIN)
        assert response.status_code == 200 and response.json()["nickname"] == "a\u0000b"


class TestTargets:
    def test_request_target_over_the_limit_is_414(self, client):
        response = client.get(users_url(), params={"integration": "cloud-assistant-cdr", "search": "x" * 30_000}, headers=ADMIN)
        assert_problem(response, 414)

    @pytest.mark.parametrize("segment", ["%00", "abc%2Fdef", "6500000000000000000001a1%00", "..", "%2e%2e"])
    def test_odd_path_segments_are_4xx(self, client, segment):
        response = client.get(f"{users_url()}/{segment}", headers=ADMIN)
        assert 400 <= response.status_code < 500
        assert response.headers["content-type"].startswith("application/problem+json")

    def test_long_but_allowed_search(self, client):
        response = client.get(users_url(), params={"integration": "cloud-assistant-cdr", "search": "x" * 5000}, headers=ADMIN)
        assert response.status_code == 200 and response.json() == []


class TestNoLeaks:
    def test_no_stack_trace_path_or_version_in_errors(self, client):
        responses = [
            client.patch(user_url(JANE), content=b"\xff", headers=JSON_ADMIN),
            client.get(f"{users_url('x')}?{INTEGRATION}", headers=ADMIN),
            client.get("/nowhere"),
            client.post(users_url()),
        ]
        for response in responses:
            text = response.text
            for leak in ("Traceback", "File \"", ".py", "site-packages", "connexion", "werkzeug", "Python/"):
                assert leak not in text, (leak, text)
            assert "server" not in response.headers or "python" not in response.headers["server"].lower()
