"""Several fakes on one Redis, as users run them: real ``mockserver --state redis://...`` processes on
loopback, one real redis-server, requests over HTTP. Each replica must see every write any replica
acknowledged before, uniqueness must hold across replicas, and a lost Redis must be a 503 problem
(never a 500 or a hang) with every acknowledged write kept."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.conftest import ACME, JANE, MARIA, ROBERT, user_url
from tests.redis_support import RedisServer, redis_server  # noqa: F401  (the session's redis-server)
from tests.support import Server

pytestmark = pytest.mark.slow
ADMIN = "acme-admin-token"


def replicas(redis_url: str, namespace: str, count: int, *args: str) -> list[Server]:
    return [Server("--state", redis_url, "--state-namespace", namespace, *args) for _ in range(count)]


@pytest.fixture(scope="module")
def three(redis_server):  # noqa: F811
    servers = replicas(redis_server.url, "three-" + uuid.uuid4().hex[:8], 3)
    yield servers
    for server in servers:
        server.stop()


def patch(server: Server, user: str, body: dict, **headers: str):
    return server.request("PATCH", user_url(user, version="v2"), token=ADMIN, body=body, headers=headers or None)


def reset(server: Server) -> None:
    status, _, _ = server.request("POST", "/__admin/reset", token=server.admin_token())
    assert status in (200, 204)


def test_every_replica_reads_the_writes_of_the_others(three):
    reset(three[0])
    for round_number, writer in enumerate(three):
        name = f"Round{round_number}"
        status, _, body = patch(writer, JANE, {"firstName": name})
        assert status == 200 and body["firstName"] == name
        for reader in three:
            assert reader.get(user_url(JANE))[2]["firstName"] == name
    # a DELETE on one is a 404 on every other, and its relations are gone there too
    assert three[1].request("DELETE", user_url(MARIA), token=ADMIN)[0] == 200
    for reader in three:
        assert reader.get(user_url(MARIA))[0] == 404
        assert MARIA not in [d["_id"] for d in reader.get(user_url(JANE))[2]["delegates"]]


def test_racing_for_one_email_on_two_replicas_gives_one_200_and_one_409(three):
    reset(three[0])
    for attempt in range(8):
        email = f"race{attempt}@acme.example"
        results: dict[str, int] = {}
        start = threading.Barrier(2)

        def claim(server: Server, user: str, start=start, results=results, email=email) -> None:
            start.wait()
            results[user] = patch(server, user, {"email": email})[0]

        threads = [threading.Thread(target=claim, args=(three[0], JANE)),
                   threading.Thread(target=claim, args=(three[1], ROBERT))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(results.values()) == [200, 409], results
        winner = next(user for user, status in results.items() if status == 200)
        owners = [u["_id"] for u in three[2].get(f"/api/v1/customers/{ACME}/users?integration=cloud-assistant-cdr&search={email}")[2]]
        assert owners == [winner]


def test_the_seed_is_applied_once_and_a_reset_acts_on_the_shared_state(three, redis_server):  # noqa: F811
    reset(three[2])
    assert patch(three[0], ROBERT, {"firstName": "Kept"})[0] == 200
    late = replicas(redis_server.url, three[0].banner.split("namespace '")[1].split("'")[0], 1)[0]
    try:
        assert late.get(user_url(ROBERT))[2]["firstName"] == "Kept"  # joining did not seed again
        reset(late)
        for server in three:
            assert server.get(user_url(ROBERT))[2]["firstName"] == "Robert"
    finally:
        late.stop()


def test_a_session_forked_on_one_replica_is_the_same_session_on_another(three):
    reset(three[0])
    session = {"X-Mock-Session": "shared-" + uuid.uuid4().hex[:6]}
    assert patch(three[0], JANE, {"firstName": "InSession"}, **session)[0] == 200
    status, _, body = three[1].request("GET", user_url(JANE), token=ADMIN, headers=session)
    assert status == 200 and body["firstName"] == "InSession"
    assert three[2].get(user_url(JANE))[2]["firstName"] == "Jane"  # the default state is untouched
    status, _, _ = three[2].request("DELETE", f"/__admin/sessions/{session['X-Mock-Session']}",
                                    token=three[2].admin_token())
    assert status in (200, 204)
    status, _, body = three[0].request("GET", user_url(JANE), token=ADMIN, headers=session)
    assert status == 200 and body["firstName"] == "Jane"  # reset on another replica: back at the seed


def test_workers_share_the_port_and_the_state(redis_server):  # noqa: F811
    with Server("--state", redis_server.url, "--state-namespace", "w-" + uuid.uuid4().hex[:8],
                "--workers", "2") as server:
        for number in range(20):  # each request is a new connection: the kernel picks the worker
            assert patch(server, JANE, {"jobTitle": f"Title {number}"})[0] == 200
            assert server.get(user_url(JANE))[2]["jobTitle"] == f"Title {number}"


def test_redis_killed_and_restarted_mid_load_gives_503s_never_500s_and_keeps_acknowledged_writes():
    redis = RedisServer(appendonly=True)
    servers = replicas(redis.url, "fault", 2)
    statuses: list[int] = []
    acknowledged: dict[str, list[str]] = {}
    attempted: dict[str, list[str]] = {}
    stop = threading.Event()
    problems: list[str] = []

    def load(server: Server, user: str) -> None:
        number = 0
        while not stop.is_set():
            number += 1
            value = f"{server.port}-{number}"
            attempted.setdefault(user, []).append(value)
            try:
                status, headers, body = patch(server, user, {"jobTitle": value})
            except OSError as err:  # a hang or a dropped connection is a failure
                problems.append(f"{user}: {err!r}")
                return
            statuses.append(status)
            if status == 200:
                acknowledged.setdefault(user, []).append(value)
            elif status == 503:
                if headers.get("Content-Type") != "application/problem+json" or not headers.get("Retry-After"):
                    problems.append(f"503 without problem+json and Retry-After: {dict(headers)}")
                time.sleep(0.05)
            status, _, _ = server.get(user_url(user))
            statuses.append(status)

    try:
        threads = [threading.Thread(target=load, args=(servers[i % 2], user))
                   for i, user in enumerate((JANE, ROBERT, MARIA, "6500000000000000000001a4"))]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        redis.kill()
        time.sleep(1.5)
        redis.start()
        time.sleep(2.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
        assert not problems, problems
        assert set(statuses) <= {200, 503}, sorted(set(statuses))
        assert 503 in statuses and 200 in statuses  # the outage was seen, and so were answers
        for server in servers:  # each replica recovered by itself
            assert server.wait_for(lambda s=server: s.get(user_url(JANE))[0] == 200)
        for user, values in acknowledged.items():
            final = servers[0].get(user_url(user))[2]["jobTitle"]
            last = values[-1]
            tried = attempted[user]
            # the last acknowledged write, or a later one whose answer was lost with the connection
            assert final in tried[tried.index(last):], (user, final, last)
    finally:
        stop.set()
        for server in servers:
            server.stop()
        redis.stop()


def test_a_scenario_rule_for_the_next_2_answers_is_used_exactly_twice_across_replicas(three):
    reset(three[0])
    admin = three[0].admin_token()
    status, _, rule = three[0].request("POST", "/__admin/scenarios", token=admin,
                                       body={"operationId": "get_user", "status": 503, "times": 2})
    assert status == 201, rule
    for server in three:  # every replica lists the rule it did not receive
        rules = server.request("GET", "/__admin/scenarios", token=server.admin_token())[2]["rules"]
        assert [r["id"] for r in rules] == [rule["id"]] and rules[0]["remaining"] == 2
    statuses = [three[n % 3].get(user_url(JANE))[0] for n in range(1, 7)]  # replicas 1, 2, 0, 1, 2, 0
    assert statuses == [503, 503, 200, 200, 200, 200]
    for server in three:
        assert server.request("GET", "/__admin/scenarios", token=server.admin_token())[2]["rules"] == []


def test_the_journal_shows_the_requests_of_every_replica(three):
    marker = uuid.uuid4().hex[:8]
    for number, server in enumerate(three):
        server.get(f"/api/v1/customers/{ACME}/users?integration=cloud-assistant-cdr&search={marker}{number}")
    for server in three:
        entries = server.request("GET", "/__admin/journal?limit=50", token=server.admin_token())[2]["entries"]
        seen = {entry["query"].rsplit("search=", 1)[1] for entry in entries if marker in entry["query"]}
        assert seen == {f"{marker}0", f"{marker}1", f"{marker}2"}


def test_contract_and_drift_pass_against_a_two_worker_fake_on_redis(redis_server):  # noqa: F811
    from tests.support import run_cli

    with Server("--state", redis_server.url, "--state-namespace", "checks-" + uuid.uuid4().hex[:8],
                "--workers", "2") as server:
        contract = run_cli("contract", server.url, timeout=600)
        assert contract.returncode == 0, contract.stdout[-3000:] + contract.stderr[-2000:]
        assert "CONFORMS" in contract.stdout
        drift = run_cli("drift", server.url, timeout=600)  # the in-process fake as the oracle: Redis answers alike
        assert drift.returncode == 0, drift.stdout[-3000:] + drift.stderr[-2000:]
        assert "NO DRIFT" in drift.stdout


def test_chaos_settings_put_on_one_replica_reach_the_others(three):
    reset(three[0])
    admin = three[0].admin_token()
    status, _, body = three[0].request("PUT", "/__admin/chaos", token=admin,
                                       body={"errorRate": 1, "errorCodes": [503], "seed": 7})
    assert status == 200, body
    for server in three[1:]:  # polled: within a moment, not at once
        assert server.wait_for(lambda s=server: s.get(user_url(JANE))[0] == 503, timeout=10)
        settings = server.request("GET", "/__admin/chaos", token=server.admin_token())[2]
        assert (settings["errorRate"], settings["errorCodes"], settings["seed"]) == (1, [503], 7)
    assert three[2].request("DELETE", "/__admin/chaos", token=three[2].admin_token())[0] in (200, 204)
    for server in three:
        assert server.wait_for(lambda s=server: s.get(user_url(JANE))[0] == 200, timeout=10)


def test_coverage_counts_the_answers_of_every_replica(three):
    reset(three[0])  # a reset also starts the counts again
    assert three[0].get(user_url(JANE))[0] == 200
    assert three[1].get(user_url("6500000000000000000009ff"))[0] == 404
    assert three[2].get(user_url(JANE), token=None)[0] == 401
    for server in three:
        body = server.request("GET", "/__admin/coverage", token=server.admin_token())[2]
        statuses = next(op for op in body["operations"] if op["operationId"] == "get_user")["statuses"]
        assert {code: statuses.get(code) for code in ("200", "404", "401")} == {"200": 1, "404": 1, "401": 1}
