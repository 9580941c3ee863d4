"""GET /__admin/coverage counts the traffic the fake really answered, per operation and status."""

import pytest

from mockserver.app.build import ServerOptions, create_app
from mockserver.store.memory import Store

TOKEN = "the-admin-token-for-tests"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
JANE = {"Authorization": "Bearer jane-token"}
C, U = "6500000000000000000000a1", "6500000000000000000001a1"
USER = f"/api/v1/customers/{C}/users/{U}"


@pytest.fixture
def aclient(seed):
    with create_app(Store(seed), ServerOptions(admin_token=TOKEN, journal_size=100)).test_client() as client:
        yield client


def _ops(client, headers=None):
    response = client.get("/__admin/coverage", headers={**ADMIN, **(headers or {})})
    assert response.status_code == 200
    body = response.json()
    return body, {op["operationId"]: op for op in body["operations"]}


def test_counts_real_traffic_per_operation_and_status(aclient):
    aclient.get(USER, headers=JANE)
    aclient.get(USER, headers=JANE)
    aclient.get(USER)  # 401
    aclient.get(USER, headers={**JANE, "Prefer": "code=503"})
    aclient.patch(USER, headers={**JANE, "Prefer": "code=409"}, json={})
    body, ops = _ops(aclient)
    assert ops["get_user"]["statuses"]["200"] == 2
    assert ops["get_user"]["statuses"]["401"] == 1 and ops["get_user"]["statuses"]["503"] == 1
    assert ops["update_user_v1"]["statuses"]["409"] == 1
    assert body["covered"] == 4
    assert {"status": "404", "force": "Prefer: code=404"} in ops["get_user"]["unseen"]


def test_per_session_and_reset(aclient):
    aclient.get(USER, headers={**JANE, "X-Mock-Session": "w1"})
    aclient.get(USER, headers=JANE)
    body, ops = _ops(aclient, {"X-Mock-Session": "w1"})
    assert ops["get_user"]["statuses"]["200"] == 1 and body["covered"] == 1
    _, ops = _ops(aclient)
    assert ops["get_user"]["statuses"]["200"] == 2
    assert aclient.post("/__admin/reset", headers=ADMIN).status_code == 204
    body, _ = _ops(aclient)
    assert body["covered"] == 0
    _, ops = _ops(aclient, {"X-Mock-Session": "w1"})
    assert ops["get_user"]["statuses"]["200"] == 1  # another session's reset leaves it alone


def test_counts_every_request_not_only_the_journal_ones(seed):
    """The counters are the fake's own: a journal of 5 entries does not cap them."""
    options = ServerOptions(admin_token=TOKEN, journal_size=5)
    with create_app(Store(seed), options).test_client() as client:
        for _ in range(12):
            client.get(USER, headers=JANE)
        for _ in range(3):
            client.get(f"/api/v1/customers/{C}/users/6500000000000000000009ff", headers=JANE)
        client.get(USER, headers={**JANE, "X-Mock-Session": "w2"})
        journal = client.get("/__admin/journal", headers=ADMIN).json()
        assert len(journal["entries"]) == 5
        body, ops = _ops(client)
        assert ops["get_user"]["statuses"]["200"] == 13 and ops["get_user"]["statuses"]["404"] == 3
        _, ops = _ops(client, {"X-Mock-Session": "w2"})
        assert ops["get_user"]["statuses"] == {**{s: 0 for s in ops["get_user"]["statuses"]}, "200": 1}


def test_counts_without_any_journal(seed):
    with create_app(Store(seed), ServerOptions(admin_token=TOKEN, journal_size=0)).test_client() as client:
        client.get(USER, headers=JANE)
        client.head(USER, headers=JANE)
        body, ops = _ops(client)
        assert ops["get_user"]["statuses"]["200"] == 1
        assert [(u["method"], u["status"], u["count"]) for u in body["undocumented"]] == [("HEAD", "200", 1)]


def test_a_bad_session_name_is_a_400(aclient):
    response = aclient.get("/__admin/coverage", headers={**ADMIN, "X-Mock-Session": "no spaces allowed"})
    assert response.status_code == 400


def test_memory_stays_bounded_whatever_paths_are_sent(aclient):
    """A fuzzer's paths: ids fold into templates, other paths are cut short, a session keeps at most
    SESSION_MAX_KEYS keys; every answer is still counted."""
    from mockserver.features.coverage_live import SESSION_MAX_KEYS

    session = {**JANE, "X-Mock-Session": "fuzzer"}
    for n in range(SESSION_MAX_KEYS + 40):
        aclient.get(f"/nothing-here/{n}", headers=session)
    for n in range(20):
        aclient.get(f"/api/v1/customers/{C}/users/65000000000000000000{n:04x}", headers=session)
    aclient.get("/x" * 600, headers=session)
    body, ops = _ops(aclient, {"X-Mock-Session": "fuzzer"})
    assert ops["get_user"]["statuses"]["404"] == 20
    assert sum(u["count"] for u in body["undocumented"]) == SESSION_MAX_KEYS + 41
    assert len(body["undocumented"]) <= SESSION_MAX_KEYS + 1  # and one "(other requests)" per status
    assert any(u["path"] == "(other requests)" for u in body["undocumented"])
    everything, _ = _ops(aclient)
    long_one = next(u for u in everything["undocumented"] if u["path"].startswith("/x/x"))
    assert long_one["path"].endswith("…") and len(long_one["path"]) == 201
