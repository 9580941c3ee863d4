"""Isolated sessions: ``X-Mock-Session`` over HTTP, the session registry, and copy-on-write stores."""

from __future__ import annotations

import copy
import random
import tracemalloc

import pytest

from mockserver.app.build import ServerOptions, create_app
from mockserver.features.sessions import InvalidName, Sessions, TooManySessions
from mockserver.store.memory import Store, StoreError
from tests.conftest import ACME, ADMIN, INTEGRATION, JANE, JANE_AUTH, MARIA, ROBERT, user_url, users_url
from tests.support import assert_problem

ADMIN_TOKEN = "session-test-admin"
ADMIN_API = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def session(name: str, auth: dict = ADMIN) -> dict:
    return {**auth, "X-Mock-Session": name}


@pytest.fixture
def sclient(seed):
    """A private app (own store) with the admin API and a small session cap."""
    app = create_app(Store(seed), ServerOptions(admin_token=ADMIN_TOKEN, max_sessions=3))
    with app.test_client() as test_client:
        yield test_client


class TestOverHttp:
    def test_a_session_does_not_see_the_default_states_writes_nor_the_other_way(self, sclient):
        assert sclient.patch(user_url(JANE), json={"firstName": "Default"}, headers=ADMIN).status_code == 200
        assert sclient.get(user_url(JANE), headers=session("w1")).json()["firstName"] == "Jane"
        assert sclient.patch(user_url(JANE), json={"firstName": "W1"}, headers=session("w1")).status_code == 200
        assert sclient.get(user_url(JANE), headers=ADMIN).json()["firstName"] == "Default"
        assert sclient.get(user_url(JANE), headers=session("w1")).json()["firstName"] == "W1"

    def test_sessions_do_not_see_each_others_writes(self, sclient):
        assert sclient.delete(user_url(ROBERT), headers=session("w1")).status_code == 200
        assert sclient.get(user_url(ROBERT), headers=session("w1")).status_code == 404
        assert sclient.get(user_url(ROBERT), headers=session("w2")).status_code == 200
        listed = sclient.get(f"{users_url()}?{INTEGRATION}", headers=session("w2")).json()
        assert ROBERT in [u["_id"] for u in listed]

    def test_a_session_starts_from_the_seed_not_from_the_current_default_state(self, sclient):
        sclient.delete(user_url(MARIA), headers=ADMIN)
        assert sclient.get(user_url(MARIA), headers=session("fresh")).status_code == 200

    def test_tokens_work_in_a_session_and_auth_is_unchanged(self, sclient):
        assert sclient.get(f"{users_url()}/lookup", headers=session("w1", JANE_AUTH)).status_code == 200
        assert_problem(sclient.get(user_url(JANE), headers={"X-Mock-Session": "w1"}), 401)
        other = {"Authorization": "Bearer birch-admin-token", "X-Mock-Session": "w1"}
        assert_problem(sclient.get(user_url(JANE), headers=other), 403)

    def test_delegations_are_per_session(self, sclient):
        """Jane delegates to Maria in the seed; in w1 she stops, and Robert starts."""
        sclient.patch(user_url(JANE), json={"delegateIds": [ROBERT]}, headers=session("w1"))

        def delegators(user, headers):
            return {d["_id"] for d in sclient.get(user_url(user), headers=headers).json()["delegators"]}

        assert JANE not in delegators(MARIA, session("w1")) and JANE in delegators(ROBERT, session("w1"))
        assert JANE in delegators(MARIA, ADMIN) and JANE not in delegators(ROBERT, ADMIN)

    @pytest.mark.parametrize("name", ["", "-leading-dash", "has space", "a" * 65, "slash/es", "ünï", "semi;colon"])
    def test_invalid_names_are_a_400_problem(self, sclient, name):
        response = sclient.get(user_url(JANE), headers={**ADMIN, "X-Mock-Session": name.encode("utf-8")})
        assert_problem(response, 400, "X-Mock-Session", "not a valid session name")

    @pytest.mark.parametrize("name", ["a", "worker-1", "e2e.run_42", "A" * 64])
    def test_valid_names(self, sclient, name):
        assert sclient.get(user_url(JANE), headers=session(name)).status_code == 200

    def test_the_cap_answers_503_with_retry_after_and_existing_sessions_keep_working(self, sclient):
        for name in ("s1", "s2", "s3"):
            assert sclient.get(user_url(JANE), headers=session(name)).status_code == 200
        response = sclient.get(user_url(JANE), headers=session("s4"))
        assert_problem(response, 503, "maximum of 3 sessions")
        assert int(response.headers["retry-after"]) >= 1
        assert sclient.get(user_url(JANE), headers=session("s2")).status_code == 200
        assert sclient.get(user_url(JANE), headers=ADMIN).status_code == 200  # the default state is never capped

    def test_only_users_api_requests_create_sessions(self, sclient):
        sclient.get("/openapi.json", headers={"X-Mock-Session": "docs"})
        sclient.get("/no/such/path", headers={"X-Mock-Session": "nowhere"})
        sclient.get(user_url(JANE), headers=session("real"))
        listed = sclient.get("/__admin/sessions", headers=ADMIN_API).json()["sessions"]
        assert [s["name"] for s in listed] == ["real"]

    def test_reset_one_session_through_the_admin_api(self, sclient):
        sclient.delete(user_url(JANE), headers=session("w1"))
        sclient.delete(user_url(JANE), headers=session("w2"))
        assert sclient.post("/__admin/reset", headers={**ADMIN_API, "X-Mock-Session": "w1"}).status_code == 204
        assert sclient.get(user_url(JANE), headers=session("w1")).status_code == 200
        assert sclient.get(user_url(JANE), headers=session("w2")).status_code == 404

    def test_delete_a_session_through_the_admin_api(self, sclient):
        sclient.delete(user_url(JANE), headers=session("w1"))
        listed = sclient.get("/__admin/sessions", headers=ADMIN_API).json()
        assert [s["name"] for s in listed["sessions"]] == ["w1"]
        assert listed["sessions"][0]["changedRecords"] > 0
        assert sclient.delete("/__admin/sessions/w1", headers=ADMIN_API).status_code == 204
        assert sclient.get(user_url(JANE), headers=session("w1")).status_code == 200
        assert_problem(sclient.delete("/__admin/sessions/nope", headers=ADMIN_API), 404, "nope")
        assert sclient.delete("/__admin/sessions", headers=ADMIN_API).status_code == 204
        assert sclient.get("/__admin/sessions", headers=ADMIN_API).json()["sessions"] == []

    def test_sessions_restart_when_the_seed_is_replaced(self, sclient, seed):
        sclient.delete(user_url(JANE), headers=session("w1"))
        smaller = copy.deepcopy(seed)
        smaller["customers"][0]["users"] = [u for u in smaller["customers"][0]["users"] if u["_id"] != ROBERT]
        smaller["tokens"] = [t for t in smaller["tokens"] if t.get("userId") != ROBERT]
        response = sclient.put("/__admin/fixtures", json=smaller, headers=ADMIN_API)
        assert response.status_code == 200, response.text
        assert sclient.get(user_url(JANE), headers=session("w1")).status_code == 200  # restarted
        assert sclient.get(user_url(ROBERT), headers=session("w1")).status_code == 404  # from the new seed


class TestRegistry:
    def test_idle_sessions_expire(self, store):
        now = [1000.0]
        sessions = Sessions(store, ttl=60, max_sessions=10, clock=lambda: now[0])
        first = sessions.store("a")
        first.delete_user(ACME, JANE)
        now[0] += 59
        assert sessions.store("a") is first  # used again: the clock restarts
        now[0] += 59
        assert sessions.store("a") is first
        now[0] += 61
        assert sessions.existing("a") is None
        assert sessions.store("a").get_user(ACME, JANE)["_id"] == JANE  # a new one, from the seed

    def test_the_cap_counts_only_live_sessions(self, store):
        now = [0.0]
        sessions = Sessions(store, ttl=10, max_sessions=2, clock=lambda: now[0])
        sessions.store("a")
        now[0] = 5
        sessions.store("b")
        with pytest.raises(TooManySessions) as refused:
            sessions.store("c")
        assert refused.value.headers == (("Retry-After", "5"),)  # when "a" expires
        now[0] = 10.5
        sessions.store("c")  # "a" has expired
        assert len(sessions) == 2

    def test_names_are_checked(self, store):
        with pytest.raises(InvalidName):
            Sessions(store).store("no spaces")


def _random_operations(rng: random.Random, seed: dict, count: int):
    customer = seed["customers"][0]
    user_ids = [u["_id"] for u in customer["users"]]
    role_ids = [r["_id"] for r in customer.get("roles", [])]
    for step in range(count):
        user = rng.choice(user_ids)
        kind = rng.random()
        if kind < 0.15:
            yield ("delete_user", ACME, user)
        elif kind < 0.4:
            yield ("update_user", ACME, user, {"delegateIds": rng.sample(user_ids, 2)})
        elif kind < 0.55:
            yield ("update_user", ACME, user, {"email": f"user{rng.randrange(8)}@acme.example"})
        elif kind < 0.7:
            yield ("update_user", ACME, user, {"roleIds": rng.sample(role_ids, min(2, len(role_ids)))})
        else:
            yield ("update_user", ACME, user, {"firstName": f"N{step}", "nickname": "nick"})


class TestCopyOnWrite:
    def _apply(self, store: Store, operation):
        name, *args = operation
        try:
            return getattr(store, name)(*args)
        except StoreError as err:
            return type(err).__name__, str(err)

    @pytest.mark.parametrize("rng_seed", [1, 2, 3])
    def test_a_fork_behaves_exactly_like_a_store_of_its_own(self, seed, rng_seed):
        clock = lambda: __import__("datetime").datetime(2030, 1, 1, tzinfo=__import__("datetime").UTC)  # noqa: E731
        own, base = Store(seed, clock=clock), Store(seed, clock=clock)
        fork = base.fork()
        for operation in _random_operations(random.Random(rng_seed), seed, 120):
            assert self._apply(fork, operation) == self._apply(own, operation), operation
        assert fork.snapshot() == own.snapshot()
        assert fork.list_users(ACME) == own.list_users(ACME)
        assert fork.list_users(ACME, "n1") == own.list_users(ACME, "n1")
        # Neither the base store nor a sibling fork saw any of it.
        assert base.snapshot() == Store(seed).snapshot()
        assert base.fork().snapshot() == Store(seed).snapshot()

    def test_reset_takes_a_fork_back_to_the_seed(self, seed):
        fork = Store(seed).fork()
        fork.delete_user(ACME, JANE)
        fork.update_user(ACME, ROBERT, {"firstName": "Bob"})
        fork.reset()
        assert fork.snapshot() == Store(seed).snapshot()
        assert fork.changed_records() == 0

    def test_a_fork_holds_only_what_it_changed(self, seed):
        fork = Store(seed).fork()
        assert fork.changed_records() == 0
        fork.update_user(ACME, JANE, {"firstName": "Janet"})  # the user and its search key
        assert fork.changed_records() == 2
        fork.update_user(ACME, JANE, {"email": "janet@acme.example"})  # + the email index (old gone, new)
        assert fork.changed_records() == 4
        assert Store(seed).changed_records() is None

    def test_memory_per_session_is_proportional_to_its_changes(self, loader, tmp_path):
        """200 sessions that each change one user of a 2,000-user customer cost far less than 200 copies."""
        from mockserver.fixtures.generate import generate  # noqa: PLC0415

        big = loader.load_document(generate(customers=1, users=2000, seed=5))
        base = Store(big)
        base.fork()  # the shared image: built once, not counted per session
        user_ids = [u["_id"] for u in big["customers"][0]["users"]]
        customer_id = big["customers"][0]["_id"]

        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        forks = []
        for index in range(200):
            fork = base.fork()
            fork.update_user(customer_id, user_ids[index], {"firstName": f"S{index}"})
            forks.append(fork)
        per_session = (tracemalloc.get_traced_memory()[0] - before) / len(forks)
        tracemalloc.stop()

        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        full_copy = Store(big)
        full = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert full_copy.customers()
        assert per_session < full / 50, (per_session, full)
