"""Scenario rules through the admin API: forced answers for the next matching requests, over HTTP."""

from __future__ import annotations

import json

import pytest

from mockserver.app.build import ServerOptions, create_app
from mockserver.store.memory import Store
from tests.conftest import INTEGRATION, JANE, JANE_AUTH, ROBERT, user_url, users_url
from tests.support import assert_problem

TOKEN = "the-admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RULES = "/__admin/scenarios"


@pytest.fixture
def sclient(seed):
    app = create_app(Store(seed), ServerOptions(admin_token=TOKEN, journal_size=50))
    with app.test_client() as test_client:
        yield test_client


def add(client, rule: dict, session: str | None = None):
    headers = {**AUTH, **({"X-Mock-Session": session} if session else {})}
    return client.post(RULES, json=rule, headers=headers)


def rules(client, session: str | None = None) -> list[dict]:
    headers = {**AUTH, **({"X-Mock-Session": session} if session else {})}
    response = client.get(RULES, headers=headers)
    assert response.status_code == 200
    return response.json()["rules"]


def get_jane(client, **headers):
    return client.get(user_url(JANE), headers={**JANE_AUTH, **headers})


def journal_notes(client) -> list[list[str]]:
    return [entry["notes"] for entry in client.get("/__admin/journal", headers=AUTH).json()["entries"]]


class TestCounts:
    def test_times_two_forces_the_next_two_answers_then_normal(self, sclient):
        response = add(sclient, {"operationId": "get_user", "status": 503, "times": 2})
        assert response.status_code == 201
        rule = response.json()
        assert rule["operationId"] == "get_user" and rule["status"] == 503 and rule["remaining"] == 2
        assert rules(sclient)[0]["id"] == rule["id"]

        first = get_jane(sclient)
        assert_problem(first, 503, f"scenario rule {rule['id']}")
        assert first.headers["retry-after"]  # the documented answer, headers included
        assert rules(sclient)[0]["remaining"] == 1
        assert_problem(get_jane(sclient), 503)
        assert rules(sclient) == []
        assert get_jane(sclient).status_code == 200

    def test_the_same_answer_prefer_code_gives(self, sclient):
        forced = sclient.get(user_url(JANE), headers={**JANE_AUTH, "Prefer": "code=404"})
        add(sclient, {"operationId": "get_user", "status": 404, "times": 1})
        ruled = get_jane(sclient)
        assert ruled.status_code == forced.status_code == 404
        assert ruled.headers["content-type"] == forced.headers["content-type"]
        assert set(ruled.json()) == set(forced.json())

    def test_a_success_status_answers_the_documented_example(self, sclient):
        add(sclient, {"operationId": "get_user", "status": 200, "times": 1})
        forced = sclient.get(user_url(ROBERT), headers=JANE_AUTH)
        assert forced.status_code == 200
        assert forced.json() == sclient.get(user_url(JANE), headers={**JANE_AUTH, "Prefer": "code=200"}).json()

    def test_without_times_the_rule_holds_until_cleared(self, sclient):
        rule = add(sclient, {"operationId": "get_user", "status": 500}).json()
        assert rule["remaining"] is None
        for _ in range(3):
            assert get_jane(sclient).status_code == 500
        assert rules(sclient)[0]["used"] == 3
        assert sclient.delete(f"{RULES}/{rule['id']}", headers=AUTH).status_code == 204
        assert get_jane(sclient).status_code == 200
        assert_problem(sclient.delete(f"{RULES}/{rule['id']}", headers=AUTH), 404, "no pending rule")

    def test_delete_all(self, sclient):
        add(sclient, {"operationId": "get_user", "status": 500})
        add(sclient, {"operationId": "list_users", "status": 503})
        assert sclient.delete(RULES, headers=AUTH).status_code == 204
        assert rules(sclient) == []
        assert get_jane(sclient).status_code == 200

    def test_only_the_named_operation(self, sclient):
        assert add(sclient, {"operationId": "delete_user", "status": 503, "times": 1}).status_code == 201
        assert get_jane(sclient).status_code == 200
        assert sclient.get(f"{users_url()}?{INTEGRATION}", headers=JANE_AUTH).status_code == 200
        assert len(rules(sclient)) == 1


class TestNoStateChanges:
    def test_a_forced_answer_to_a_patch_changes_nothing(self, sclient):
        add(sclient, {"operationId": "update_user_v1", "status": 409, "times": 1})
        response = sclient.patch(user_url(JANE), json={"nickname": "forced"}, headers=JANE_AUTH)
        assert_problem(response, 409)
        assert get_jane(sclient).json()["nickname"] != "forced"
        assert sclient.patch(user_url(JANE), json={"nickname": "real"}, headers=JANE_AUTH).status_code == 200

    def test_auth_and_validation_come_first_and_use_no_rule(self, sclient):
        add(sclient, {"operationId": "get_user", "status": 503, "times": 1})
        assert sclient.get(user_url(JANE)).status_code == 401
        assert sclient.get(user_url("not-an-id"), headers=JANE_AUTH).status_code == 400
        assert rules(sclient)[0]["remaining"] == 1
        assert get_jane(sclient).status_code == 503

    def test_prefer_code_wins_and_uses_no_rule(self, sclient):
        add(sclient, {"operationId": "get_user", "status": 503, "times": 1})
        assert sclient.get(user_url(JANE), headers={**JANE_AUTH, "Prefer": "code=404"}).status_code == 404
        assert rules(sclient)[0]["remaining"] == 1


class TestMatching:
    def test_per_user(self, sclient):
        add(sclient, {"operationId": "get_user", "status": 404, "userId": ROBERT, "times": 1})
        assert get_jane(sclient).status_code == 200
        assert sclient.get(user_url(ROBERT), headers=JANE_AUTH).status_code == 404
        assert sclient.get(user_url(ROBERT), headers=JANE_AUTH).status_code == 200

    def test_per_session(self, sclient):
        add(sclient, {"operationId": "get_user", "status": 503, "times": 1}, session="alice")
        assert rules(sclient) == []
        assert rules(sclient, "alice")[0]["session"] == "alice"
        assert get_jane(sclient).status_code == 200  # the default state has no rule
        assert get_jane(sclient, **{"X-Mock-Session": "bob"}).status_code == 200
        assert get_jane(sclient, **{"X-Mock-Session": "alice"}).status_code == 503
        assert get_jane(sclient, **{"X-Mock-Session": "alice"}).status_code == 200

    def test_clearing_one_session_keeps_the_others(self, sclient):
        add(sclient, {"operationId": "get_user", "status": 503}, session="alice")
        add(sclient, {"operationId": "get_user", "status": 500})
        assert sclient.delete(RULES, headers={**AUTH, "X-Mock-Session": "alice"}).status_code == 204
        assert rules(sclient, "alice") == [] and len(rules(sclient)) == 1
        rule_id = rules(sclient)[0]["id"]
        # A rule is deleted from its own state only.
        assert_problem(sclient.delete(f"{RULES}/{rule_id}", headers={**AUTH, "X-Mock-Session": "alice"}), 404)

    def test_oldest_matching_rule_first(self, sclient):
        add(sclient, {"operationId": "get_user", "status": 500, "times": 1})
        add(sclient, {"operationId": "get_user", "status": 503, "times": 1})
        assert [get_jane(sclient).status_code for _ in range(3)] == [500, 503, 200]


class TestDelay:
    def test_delay_ms_waits_before_the_forced_answer(self, sclient, monkeypatch):
        import mockserver.features.chaos

        waits: list[float] = []
        real_sleep = mockserver.features.chaos.asyncio.sleep

        async def recording_sleep(seconds):
            waits.append(seconds)
            await real_sleep(0)

        monkeypatch.setattr(mockserver.features.chaos.asyncio, "sleep", recording_sleep)
        add(sclient, {"operationId": "get_user", "status": 503, "times": 1, "delayMs": 250})
        assert get_jane(sclient).status_code == 503
        assert waits == [0.25]
        assert get_jane(sclient).status_code == 200
        assert waits == [0.25]
        assert journal_notes(sclient)[-2][-1].endswith("delay=250")


class TestJournal:
    def test_the_journal_names_the_rule_that_forced_an_answer(self, sclient):
        rule = add(sclient, {"operationId": "get_user", "status": 503, "times": 1}).json()
        get_jane(sclient)
        get_jane(sclient)
        sclient.get(user_url(JANE), headers={**JANE_AUTH, "Prefer": "code=404"})
        notes = journal_notes(sclient)
        assert notes[-3] == [f"scenario rule {rule['id']} code=503"]
        assert notes[-2] == []
        assert notes[-1] == ["Prefer code=404"]


class TestBadRules:
    def test_an_undocumented_status_lists_the_documented_ones(self, sclient):
        response = add(sclient, {"operationId": "get_user", "status": 418})
        assert_problem(response, 400, "not documented for get_user")
        body = response.json()
        assert 404 in body["documented"] and 418 not in body["documented"]
        assert "404" in body["detail"]
        assert rules(sclient) == []

    @pytest.mark.parametrize("rule,words", [
        ({"operationId": "nope", "status": 404}, "not an operation"),
        ({"status": 404}, "not an operation"),
        ({"operationId": "get_user"}, "not documented"),
        ({"operationId": "get_user", "status": "404"}, "not documented"),
        ({"operationId": "get_user", "status": True}, "not documented"),
        ({"operationId": "get_user", "status": 404, "times": 0}, "times"),
        ({"operationId": "get_user", "status": 404, "times": 1.5}, "times"),
        ({"operationId": "get_user", "status": 404, "delayMs": -1}, "delayMs"),
        ({"operationId": "get_user", "status": 404, "delayMs": 10**9}, "delayMs"),
        ({"operationId": "get_user", "status": 404, "userId": 7}, "userId"),
        ({"operationId": "list_users", "status": 503, "userId": JANE}, "no userId"),
        ({"operationId": "get_user", "status": 404, "colour": "red"}, "unknown field"),
        ([1, 2], "JSON object"),
    ])
    def test_each_bad_rule_is_one_clear_400(self, sclient, rule, words):
        assert_problem(add(sclient, rule), 400, words)

    def test_not_json_and_wrong_media_type(self, sclient):
        assert_problem(sclient.post(RULES, content=b"{", headers={**AUTH, "Content-Type": "application/json"}),
                       400, "not JSON")
        assert_problem(sclient.post(RULES, content=b"{}", headers={**AUTH, "Content-Type": "text/plain"}), 415)
        assert_problem(sclient.delete(f"{RULES}/abc", headers=AUTH), 400, "rule id")

    def test_a_bad_session_name_is_a_400(self, sclient):
        assert_problem(add(sclient, {"operationId": "get_user", "status": 404}, session="bad name!"), 400)

    def test_the_admin_token_is_needed(self, sclient):
        assert_problem(sclient.post(RULES, json={"operationId": "get_user", "status": 404}), 401)
        assert_problem(sclient.get(RULES), 401)
        assert_problem(sclient.delete(RULES), 401)


class TestChaosAtRunTime:
    CHAOS = "/__admin/chaos"

    def test_faults_on_then_off(self, sclient):
        assert sclient.get(self.CHAOS, headers=AUTH).json()["lines"] == []
        response = sclient.put(self.CHAOS, json={"errorRate": 1, "errorCodes": [503], "seed": 7}, headers=AUTH)
        assert response.status_code == 200
        settings = response.json()
        assert settings["errorRate"] == 1 and settings["seed"] == 7 and settings["lines"]
        assert sclient.get("/__admin/status", headers=AUTH).json()["chaos"] == settings["lines"]
        assert_problem(get_jane(sclient), 503, "--error-rate")
        assert journal_notes(sclient)[-1] == ["chaos fault 503"]
        assert sclient.delete(self.CHAOS, headers=AUTH).status_code == 204
        assert get_jane(sclient).status_code == 200
        assert sclient.get("/__admin/status", headers=AUTH).json()["chaos"] == []

    def test_a_fault_only_where_the_operation_documents_it(self, sclient):
        sclient.put(self.CHAOS, json={"errorRate": 1, "errorCodes": [409]}, headers=AUTH)
        assert get_jane(sclient).status_code == 200  # get_user documents no 409
        assert_problem(sclient.patch(user_url(JANE), json={"nickname": "x"}, headers=JANE_AUTH), 409)

    def test_latency(self, sclient, monkeypatch):
        import mockserver.features.chaos

        waits: list[float] = []
        real_sleep = mockserver.features.chaos.asyncio.sleep

        async def recording_sleep(seconds):
            waits.append(seconds)
            await real_sleep(0)

        monkeypatch.setattr(mockserver.features.chaos.asyncio, "sleep", recording_sleep)
        sclient.put(self.CHAOS, json={"latencyMs": [120, 120]}, headers=AUTH)
        assert get_jane(sclient).status_code == 200
        assert waits == [0.12]
        assert journal_notes(sclient)[-1] == ["latency 120 ms"]

    @pytest.mark.parametrize("body,words", [
        ({"errorRate": 0.5, "errorCodes": [418]}, "Documented error codes: 400"),
        ({"errorRate": 2, "errorCodes": [503]}, "errorRate"),
        ({"errorRate": 0.5}, "needs errorCodes"),
        ({"latencyMs": [300, 50]}, "latencyMs"),
        ({"latencyMs": "50-300"}, "latencyMs"),
        ({"seed": -1}, "seed"),
        ({"colour": 1}, "unknown field"),
    ])
    def test_bad_settings_are_one_clear_400_and_change_nothing(self, sclient, body, words):
        assert_problem(sclient.put(self.CHAOS, json=body, headers=AUTH), 400, words)
        assert sclient.get(self.CHAOS, headers=AUTH).json()["lines"] == []


# -- any body: a rule or one clear 400, never anything else ------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
RULE_LIKE = st.fixed_dictionaries({}, optional={
    "operationId": st.sampled_from(["get_user", "list_users", "update_user_v1", "delete_user", "nope"]) | JSON_VALUES,
    "status": st.sampled_from([200, 204, 404, 409, 418, 503]) | JSON_VALUES,
    "times": st.integers(-2, 3) | JSON_VALUES,
    "userId": st.just(JANE) | JSON_VALUES,
    "delayMs": st.integers(-1, 40_000) | JSON_VALUES,
})


@pytest.fixture(scope="module")
def module_client(seed_document):
    app = create_app(Store(seed_document), ServerOptions(admin_token=TOKEN))
    with app.test_client() as test_client:
        yield test_client


@given(body=RULE_LIKE | JSON_VALUES)
@settings(deadline=None, max_examples=120, derandomize=True, suppress_health_check=list(HealthCheck))
def test_any_body_is_a_rule_or_one_clear_400(module_client, body):
    client = module_client
    client.delete(RULES, headers=AUTH)
    response = client.post(RULES, content=json.dumps(body), headers={**AUTH, "Content-Type": "application/json"})
    if response.status_code == 201:
        rule = response.json()
        assert rule["operationId"] == body["operationId"] and rule["status"] == body["status"]
        assert rules(client) == [rule]
    else:
        assert_problem(response, 400)
        assert rules(client) == []
