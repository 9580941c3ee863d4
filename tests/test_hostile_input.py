"""Hostile input: no input surface makes the fake answer a 5xx, a non-JSON body or a traceback.

The examples of odd text that once did (a lone surrogate in a PATCH or a fixture, a date without a
time or offset), then property-based tests of every input surface with a fixed seed: fixture files
mutated at random through the loader; arbitrary JSON bodies to both PATCHes and the admin API's
document endpoints; arbitrary bytes as query and header values, sent straight into the app. The
longer run of the same properties is bench/hostile_fuzz.py.
"""

from __future__ import annotations

import copy
import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.app.build import ServerOptions, build_app, create_app
from mockserver.fixtures.document import MAX_TOKEN_LENGTH, FixtureError
from mockserver.server.last_resort import LastResort
from mockserver.store.memory import Store
from tests.conftest import INTEGRATION, JANE, user_url, users_url
from tests.hostile import (
    ACME_DOCUMENT,
    ADMIN_AUTH,
    ADMIN_TOKEN,
    HEADER_NAMES,
    JSON_TYPE,
    TARGETS,
    USER_AUTH,
    AsgiCaller,
    any_bytes,
    assert_json_answer,
    check_fixture_bytes,
    healthy,
    json_text,
    mutated_fixture,
    query_strings,
    restore,
    strings,
)
from tests.support import run_cli

pytestmark = pytest.mark.slow  # starts servers or runs whole contract, drift, kill or browser runs

PROPERTY = settings(derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
LONE = '"\\ud800"'


@pytest.fixture(scope="module")
def hostile_app(seed_document):
    store = Store(copy.deepcopy(seed_document))
    app = create_app(store, ServerOptions(admin_token=ADMIN_TOKEN))
    caller = AsgiCaller(app)
    yield caller, store
    caller.close()


# -- the examples ----------------------------------------------------------------------------

PATCH_STRING_FIELDS = {
    "v1": ["firstName", "lastName", "nickname", "jobTitle", "email", "phone", "timezone"],
    "v2": ["firstName", "lastName", "nickname", "jobTitle", "email", "phone", "timezone"],
}


class TestLoneSurrogates:
    @pytest.mark.parametrize("version", ["v1", "v2"])
    @pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "x\\uD83D", "\\uDE00y"])
    def test_a_patch_string_is_a_400_naming_the_field(self, hostile_app, version, escape):
        caller, store = hostile_app
        for field in ("firstName", "lastName", "nickname", "jobTitle", "email"):
            body = f'{{"{field}": "{escape}"}}'.encode()
            status, headers, answer = caller.request("PATCH", user_url(JANE, version=version),
                                                     headers=[USER_AUTH, JSON_TYPE], body=body)
            assert status == 400, answer
            assert headers[b"content-type"] == b"application/problem+json"
            detail = json.loads(answer)["detail"]
            assert detail.startswith(f"body.{field}: ") and "unpaired UTF-16 surrogate" in detail, detail
        healthy(caller)

    def test_a_surrogate_in_a_key_or_nested_value(self, hostile_app):
        caller, _ = hostile_app
        for body, where in ((f'{{{LONE}: 1}}', "body: a key"), (f'{{"roleIds": [{LONE}]}}', "body.roleIds[0]")):
            status, _, answer = caller.request("PATCH", user_url(JANE), headers=[USER_AUTH, JSON_TYPE], body=body.encode())
            assert status == 400 and json.loads(answer)["detail"].startswith(where), answer

    def test_a_paired_escape_is_one_character_and_fine(self, hostile_app):
        caller, store = hostile_app
        status, _, answer = caller.request("PATCH", user_url(JANE), headers=[USER_AUTH, JSON_TYPE],
                                           body=b'{"nickname": "\\ud83d\\ude00"}')
        assert status == 200 and json.loads(answer)["nickname"] == "\U0001f600"
        store.reset()

    @pytest.mark.parametrize("where", ["fullName", "users.0.firstName", "users.0.jobTitle", "roles.0.name"])
    def test_admin_documents_are_a_422_with_the_path_and_the_state_is_unchanged(self, hostile_app, where):
        caller, _ = hostile_app
        document = copy.deepcopy(ACME_DOCUMENT)
        node = document["customers"][0]
        *parents, last = where.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = "\ud800"
        for method in ("PUT", "POST"):
            status, headers, answer = caller.request(method, "/__admin/fixtures", headers=[ADMIN_AUTH, JSON_TYPE],
                                                     body=json.dumps(document).encode())
            assert status == 422 and headers[b"content-type"] == b"application/problem+json", answer
            path = "$.customers[0]." + ".".join(f"[{p}]" if p.isdigit() else p for p in where.split(".")).replace(".[", "[")
            assert any(path in p and "surrogate" in p for p in json.loads(answer)["problems"]), answer
        status, _, answer = caller.request("GET", users_url(), query=INTEGRATION.encode(), headers=[USER_AUTH])
        assert status == 200 and json.loads(answer)


class TestFixtureFiles:
    @pytest.mark.parametrize("value", ["2022-08-12", "2022-08-12T20:44:48", "2022-08-12T20:44:48Z\n",
                                       "2022-08-12 20:44:48Z", "٢٠٢٢-08-12T20:44:48Z", "\ud800"])
    def test_odd_timestamps_and_text_are_problems_with_file_and_path(self, loader, write_json, value):
        for field in ("updatedAt", "createdAt"):
            document = copy.deepcopy(ACME_DOCUMENT)
            document["customers"][0]["users"][2][field] = value
            path = write_json("odd.json", document)
            with pytest.raises(FixtureError) as caught:
                loader.load_files([path])
            assert any(p.startswith(f"{path}: $.customers[0].users[2].{field}: ") for p in caught.value.problems), \
                caught.value.problems

    def test_the_cli_exits_2_with_the_problem_list_not_a_traceback(self, write_json):
        document = copy.deepcopy(ACME_DOCUMENT)
        document["customers"][0]["users"][0]["updatedAt"] = "2022-08-12"
        document["customers"][0]["users"][1]["createdAt"] = "2022-08-12T20:44:48"
        document["customers"][0]["fullName"] = "\ud800"
        result = run_cli("--seed", str(write_json("odd.json", document)), "--port", "0")
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert "$.customers[0].users[0].updatedAt" in result.stderr
        assert "$.customers[0].users[1].createdAt" in result.stderr
        assert "$.customers[0].fullName: the string has an unpaired UTF-16 surrogate" in result.stderr

    @pytest.mark.parametrize("token", ["a" * (MAX_TOKEN_LENGTH + 1), "tab\there", "new\nline", "nul\x00",
                                       "caf\u00e9", "\u4e2d\u6587", "\ud800x", "two words", ""])
    def test_tokens_that_cannot_travel_in_a_header_are_refused(self, loader, write_json, token):
        document = copy.deepcopy(ACME_DOCUMENT)
        document["tokens"][0]["token"] = token
        with pytest.raises(FixtureError) as caught:
            loader.load_files([write_json("tokens.json", document)])
        assert any("$.tokens[0].token" in p for p in caught.value.problems), caught.value.problems

    def test_the_longest_token_is_accepted_and_works(self, loader, write_json, seed_document):
        document = copy.deepcopy(ACME_DOCUMENT)
        document["tokens"][0]["token"] = "t" * MAX_TOKEN_LENGTH
        seed = loader.load_files([write_json("tokens.json", document)])
        caller = AsgiCaller(create_app(Store(seed)))
        try:
            status, _, body = caller.request("GET", user_url(JANE), headers=[(b"authorization", b"Bearer " + b"t" * MAX_TOKEN_LENGTH)])
            assert status == 200, body[:200]
        finally:
            caller.close()


class TestDigitsThatAreNotDigits:
    """``"²".isdigit()`` is true and ``int("²")`` fails: each of these once answered a 500."""

    def test_prefer_delay(self, hostile_app):
        caller, _ = hostile_app
        status, _, body = caller.request("GET", user_url(JANE), headers=[USER_AUTH, (b"prefer", b"delay=\xb2")])
        assert status == 400 and "Prefer: delay=" in json.loads(body)["detail"]

    def test_the_journal_limit(self, hostile_app):
        caller, _ = hostile_app
        status, _, body = caller.request("GET", "/__admin/journal", query=b"limit=%C2%B2", headers=[ADMIN_AUTH])
        assert status == 400 and "'limit'" in json.loads(body)["detail"]

    @pytest.mark.parametrize("path", [user_url(JANE), "/__admin/fixtures"])
    def test_a_content_length_the_http_server_would_refuse(self, hostile_app, path):
        caller, store = hostile_app
        auth = ADMIN_AUTH if path.startswith("/__admin") else USER_AUTH
        status, headers, body = caller.request("PATCH" if path != "/__admin/fixtures" else "POST", path,
                                               headers=[auth, JSON_TYPE, (b"content-length", b"\xb2")], body=b"{}")
        assert_json_answer(status, headers, body, path)
        store.reset()


class TestEveryErrorIsAProblem:
    def test_an_admin_api_bug_is_a_logged_500_problem(self, seed_document, caplog):
        """A variant whose loader fails as an unforeseen bug would: one logged error, a problem answer."""
        fake = build_app(Store(copy.deepcopy(seed_document)), ServerOptions(admin_token=ADMIN_TOKEN))
        app = fake.app

        def broken(_documents):
            raise TypeError("can't compare offset-naive and offset-aware datetimes")

        fake.control.loader.merge = broken
        caller = AsgiCaller(app)
        try:
            with caplog.at_level(logging.ERROR, logger="mockserver"):
                status, headers, body = caller.request("PUT", "/__admin/fixtures", headers=[ADMIN_AUTH, JSON_TYPE],
                                                       body=json.dumps(ACME_DOCUMENT).encode())
            assert status == 500 and headers[b"content-type"] == b"application/problem+json"
            assert "error is in the server's log" in json.loads(body)["detail"]
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert len(errors) == 1 and "offset-naive" in str(errors[0].exc_info[1])
            healthy(caller)
        finally:
            caller.close()

    def test_an_error_outside_every_handler_is_a_500_problem(self, caplog):
        async def failing(scope, receive, send):
            raise RuntimeError("boom")

        caller = AsgiCaller(LastResort(failing))
        try:
            with caplog.at_level(logging.ERROR, logger="mockserver"):
                status, headers, body = caller.request("GET", "/anything")
            assert status == 500 and headers[b"content-type"] == b"application/problem+json"
            assert json.loads(body)["status"] == 500 and "boom" not in body.decode()
            assert any("boom" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
        finally:
            caller.close()

    def test_a_store_bug_in_the_users_api_is_a_500_problem(self, seed_document):
        class BrokenStore(Store):
            def get_user_json(self, *args, **kwargs):
                raise KeyError("a bug")

        caller = AsgiCaller(create_app(BrokenStore(copy.deepcopy(seed_document))))
        try:
            status, headers, body = caller.request("GET", user_url(JANE), headers=[USER_AUTH])
            assert status == 500 and headers[b"content-type"] == b"application/problem+json"
            assert "a bug" not in body.decode()
        finally:
            caller.close()


# -- property-based --------------------------------------------------------------------------


@settings(PROPERTY, max_examples=250)
@given(raw=mutated_fixture())
def test_a_mutated_fixture_loads_cleanly_or_is_a_fixture_error(loader, tmp_path_factory, raw):
    check_fixture_bytes(loader, raw, tmp_path_factory.mktemp("mutated", numbered=True) / "acme.json")


@settings(PROPERTY, max_examples=400)
@given(version=st.sampled_from(["v1", "v2"]), body=json_text())
def test_any_json_body_to_either_patch(hostile_app, version, body):
    caller, store = hostile_app
    status, headers, answer = caller.request("PATCH", user_url(JANE, version=version),
                                             headers=[USER_AUTH, JSON_TYPE], body=body)
    assert_json_answer(status, headers, answer, f"PATCH {version} {body[:200]!r}")
    if status == 200:
        store.reset()
    healthy(caller)


@settings(PROPERTY, max_examples=300)
@given(method=st.sampled_from(["PUT", "POST"]), body=json_text())
def test_any_json_document_to_the_admin_api(hostile_app, method, body):
    caller, store = hostile_app
    status, headers, answer = caller.request(method, "/__admin/fixtures", headers=[ADMIN_AUTH, JSON_TYPE], body=body)
    assert_json_answer(status, headers, answer, f"{method} /__admin/fixtures {body[:200]!r}")
    if status == 200:
        restore(caller, store)
    healthy(caller)


@settings(PROPERTY, max_examples=700)
@given(target=st.sampled_from(TARGETS), query=query_strings(),
       extra=st.lists(st.tuples(st.sampled_from(HEADER_NAMES), any_bytes), max_size=3),
       authorized=st.booleans())
def test_any_query_and_header_bytes(hostile_app, target, query, extra, authorized):
    caller, store = hostile_app
    method, path = target
    auth = [ADMIN_AUTH if path.startswith("/__admin") else USER_AUTH] if authorized else []
    body = b'{"nickname": "n"}' if method == "PATCH" else b""
    headers = [*auth, *extra, *([JSON_TYPE] if body else [])]
    status, answer_headers, answer = caller.request(method, path, query=query, headers=headers, body=body)
    assert_json_answer(status, answer_headers, answer, f"{method} {path}?{query!r} {extra!r}")
    if status < 300 and method != "GET":
        store.reset()
    healthy(caller)


def test_the_generators_reach_both_outcomes(loader, tmp_path):
    """Not a vacuous property: the mutations yield clean loads and rejections alike."""
    outcomes = set()

    @settings(PROPERTY, max_examples=60)
    @given(raw=mutated_fixture())
    def sample(raw):
        outcomes.add(check_fixture_bytes(loader, raw, tmp_path / "sample.json"))

    sample()
    assert outcomes == {"loaded", "rejected"}


def test_strings_reach_the_odd_ones():
    seen = []

    @settings(PROPERTY, max_examples=200)
    @given(value=strings)
    def sample(value):
        seen.append(value)

    sample()
    assert any("\ud800" <= ch <= "\udfff" for value in seen for ch in value)


def test_the_recorders_input_with_a_lone_surrogate_is_a_fixture_error(loader):
    """A deployment's answer can hold any JSON string: the anonymiser hashes it without failing,
    and the loader check before anything is written names where it is."""
    from mockserver.record import Anonymizer

    assert len(Anonymizer("key")._digest("email", "a\ud800@example.test")) == 32
    document = copy.deepcopy(ACME_DOCUMENT)
    document["customers"][0]["users"][0]["nickname"] = "\ud800"
    with pytest.raises(FixtureError) as caught:
        loader.load_document(document, name="recorded.json")
    assert caught.value.problems[0].startswith("recorded.json: $.customers[0].users[0].nickname: ")
    caught.value.render().encode("utf-8")


def test_a_session_name_with_a_trailing_newline_is_refused(hostile_app):
    caller, _ = hostile_app
    status, _, body = caller.request("GET", user_url(JANE), headers=[USER_AUTH, (b"x-mock-session", b"abc\n")])
    assert status == 400 and "not a valid session name" in json.loads(body)["detail"]
    status, _, body = caller.request("DELETE", "/__admin/sessions/abc%0A", headers=[ADMIN_AUTH])
    assert status == 400, body


@pytest.mark.parametrize("content_type", [b"{", b"\xed\xb8\x80b", b"json", b""])
def test_a_content_type_that_is_not_a_media_type_is_a_415(hostile_app, content_type):
    """Found by bench/hostile_fuzz.py: Connexion split it on "/" and failed (a 500)."""
    caller, _ = hostile_app
    status, headers, body = caller.request("DELETE", user_url("6500000000000000000009ff"),
                                           headers=[USER_AUTH, (b"content-type", content_type)])
    assert status == 415 and headers[b"content-type"] == b"application/problem+json", body


def test_problem_lines_sort_with_digits_that_are_not_ascii(loader):
    """Found by bench/hostile_fuzz.py: a key holding "\u00b3" broke the sorting of the problem list."""
    document = copy.deepcopy(ACME_DOCUMENT)
    document["customers"][0]["x\u00b3"] = 1
    document["customers"][0]["users"][0]["y\u00b2"] = 2
    with pytest.raises(FixtureError) as caught:
        loader.load_document(document)
    assert len(caught.value.problems) == 2
