"""The journal keeps what a frontend developer needs to see why a request failed: both bodies (bounded),
the problem detail, what forced the answer, the operation, a curl line; never a credential in full."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.app.build import ServerOptions, create_app
from mockserver.features.journal import MAX_BODY_BYTES
from mockserver.store.memory import Store
from tests.conftest import JANE, JANE_AUTH, user_url
from tests.support import assert_problem

TOKEN = "journal-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def jclient(seed):
    app = create_app(Store(seed), ServerOptions(admin_token=TOKEN, journal_size=50))
    with app.test_client() as client:
        yield client


def last_entry(client) -> dict:
    response = client.get("/__admin/journal?limit=1", headers=AUTH)
    assert response.status_code == 200
    return response.json()["entries"][-1]


def test_a_rejected_request_keeps_its_body_the_answer_and_the_detail(jclient):
    sent = {"jobTitle": "CTO", "jobtitel": "typo"}
    response = jclient.patch(user_url(JANE), json=sent, headers=JANE_AUTH)
    problem = assert_problem(response, 400, "jobtitel")
    entry = last_entry(jclient)
    assert entry["status"] == 400 and entry["method"] == "PATCH"
    assert entry["operationId"] == "update_user_v1"
    assert entry["pathTemplate"] == "/api/v1/customers/{customerId}/users/{userId}"
    assert json.loads(entry["request"]["body"]["text"]) == sent
    assert entry["request"]["body"]["truncated"] is False
    assert entry["request"]["headers"]["content-type"] == "application/json"
    assert json.loads(entry["response"]["body"]["text"]) == problem
    assert entry["response"]["body"]["contentType"] == "application/problem+json"
    assert entry["detail"] == problem["detail"]
    assert entry["forcedBy"] is None
    # The curl line replays it, with the token left to the shell.
    assert entry["curl"].startswith("curl -X PATCH ")
    assert "$TOKEN" in entry["curl"] and "jane-token" not in entry["curl"]
    assert user_url(JANE) in entry["curl"] and "jobtitel" in entry["curl"]


def test_a_successful_answer_has_its_body_and_no_detail(jclient):
    response = jclient.get(user_url(JANE), headers=JANE_AUTH)
    assert response.status_code == 200
    entry = last_entry(jclient)
    assert entry["detail"] is None and entry["request"]["body"]["text"] is None
    assert json.loads(entry["response"]["body"]["text"]) == response.json()


@pytest.mark.parametrize("how,forced", [
    ({"Prefer": "code=404"}, "Prefer code=404"),
])
def test_what_forced_the_answer(jclient, how, forced):
    jclient.get(user_url(JANE), headers={**JANE_AUTH, **how})
    entry = last_entry(jclient)
    assert entry["status"] == 404 and entry["forcedBy"] == forced and entry["detail"]


def test_a_scenario_rule_is_named_as_what_forced_the_answer(jclient):
    added = jclient.post("/__admin/scenarios", headers=AUTH, json={"operationId": "get_user", "status": 503})
    assert added.status_code == 201, added.text
    assert jclient.get(user_url(JANE), headers=JANE_AUTH).status_code == 503
    assert last_entry(jclient)["forcedBy"] == f"scenario rule {added.json()['id']} code=503"


def test_bodies_over_the_bound_are_cut_and_marked(jclient):
    text = json.dumps({"jobTitle": "x" * (MAX_BODY_BYTES * 2)})
    jclient.patch(user_url(JANE), content=text, headers={**JANE_AUTH, "Content-Type": "application/json"})
    body = last_entry(jclient)["request"]["body"]
    assert body["truncated"] is True and body["size"] == len(text)
    assert body["text"] == text[:MAX_BODY_BYTES]


SECRETS = {"Authorization": "Bearer jane-token", "X-Api-Key": "key 0123456789-secret",
           "Cookie": "sid=0123456789-secret; theme=0123456789-secret2", "X-Auth-Token": "tok-0123456789-secret"}


def test_credentials_are_masked_everywhere_the_journal_shows_them(jclient):
    jclient.get(user_url(JANE), headers=SECRETS)
    for path in ("/__admin/journal", "/__admin/journal/1", "/__admin/journal.har"):
        text = jclient.get(path, headers=AUTH).text
        for secret in ("jane-token", "0123456789-secret"):
            assert secret not in text, (path, secret)
    headers = last_entry(jclient)["request"]["headers"]
    assert headers["authorization"] == "Bearer jane…"
    assert headers["x-api-key"] == "key …" and headers["x-auth-token"] == "tok-…"
    assert headers["cookie"] == "sid=…; theme=…"


def test_the_light_list_and_one_entry(jclient):
    jclient.get(user_url(JANE), headers=JANE_AUTH)
    light = jclient.get("/__admin/journal?bodies=false", headers=AUTH).json()["entries"]
    assert "request" not in light[0] and light[0]["operationId"] == "get_user"
    one = jclient.get(f"/__admin/journal/{light[0]['id']}", headers=AUTH)
    assert one.status_code == 200 and one.json()["response"]["body"]["text"]
    assert_problem(jclient.get("/__admin/journal/999", headers=AUTH), 404, "no journal entry")
    assert_problem(jclient.get("/__admin/journal?bodies=maybe", headers=AUTH), 400, "bodies")


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_any_body_is_kept_exactly_or_as_base64(seed_document, body):
    app = create_app(Store(copy.deepcopy(seed_document)), ServerOptions(admin_token=TOKEN, journal_size=5))
    with app.test_client() as client:
        client.patch(user_url(JANE), content=body, headers={**JANE_AUTH, "Content-Type": "application/json"})
        kept = last_entry(client)["request"]["body"]
    assert kept["size"] == len(body) and kept["truncated"] is False
    if not body:
        assert kept["text"] is None
    elif kept.get("encoding") == "base64":
        assert base64.b64decode(kept["text"]) == body
    else:
        assert kept["text"].encode() == body



def test_the_bodies_the_journal_holds_are_bounded_in_total():
    """A journal allowed 5,000 bytes of bodies keeps the newest requests whose bodies fit (the oldest go first),
    whatever its entry count allows."""
    from starlette.testclient import TestClient

    from mockserver.features.journal import Journal, JournalMiddleware

    async def answer_1000_bytes(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"x" * 1000})

    journal = Journal(100, body_budget=5_000)
    client = TestClient(JournalMiddleware(answer_1000_bytes, journal=journal))
    for number in range(10):
        client.get(f"/r/{number}")
    kept = journal.entries()
    assert [entry["path"] for entry in kept] == [f"/r/{n}" for n in range(5, 10)]  # 5 x 1,000 bytes fit
    assert all(entry["response"]["body"]["size"] == 1000 for entry in kept)
    journal.clear()
    client.get("/r/again")
    assert [entry["path"] for entry in journal.entries()] == ["/r/again"]


@settings(max_examples=200, derandomize=True)
@given(name=st.sampled_from(["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
                             "x-auth-token", "x-client-secret"]),
       scheme=st.sampled_from(["", "Bearer ", "Basic "]),
       secret=st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters=";="), min_size=12,
                      max_size=60))
def test_a_secret_header_never_shows_more_than_its_first_characters(name, scheme, secret):
    from mockserver.features.journal import masked_headers

    shown = dict(masked_headers([(name.encode(), f"{scheme}{secret}".encode())]))[name]
    assert secret[4:] not in shown and len(shown) <= len(scheme) + 5
