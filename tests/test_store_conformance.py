"""The store interface (mockserver.store.backend.StoreBackend), the same tests for every backend: the
in-memory store and the Redis store (a real redis-server on a free loopback port). No HTTP.

A backend passes when it answers as the in-memory store does: the same users in the same order,
the same errors with the same messages, the same state afterwards. The last class drives both with
random sequences of operations and compares them step by step, the in-memory store as the model.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.store.backend import Conflict, NotFound, StoreBackend, StoreError, Unprocessable
from mockserver.store.memory import Store
from tests.conftest import ACME, BIRCH, JANE, MARIA, ROBERT, UNKNOWN_ID
from tests.redis_support import redis_server  # noqa: F401  (the session's redis-server)

BACKENDS = ["memory", "redis"]


class Clock:
    """A clock that moves only when told: both backends stamp the same ``updatedAt``."""

    def __init__(self):
        self.now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def make_store(kind: str, seed: dict, request, clock=None) -> StoreBackend:
    clock = clock or Clock()
    if kind == "memory":
        return Store(copy.deepcopy(seed), clock=clock)
    from mockserver.store.redis_backend import RedisStore

    server = request.getfixturevalue("redis_server")
    client = server.client()
    return RedisStore(client, copy.deepcopy(seed), namespace="t" + uuid.uuid4().hex[:12], clock=clock)


@pytest.fixture(params=BACKENDS)
def backend(request, seed) -> StoreBackend:
    return make_store(request.param, seed, request)


@pytest.fixture(params=BACKENDS)
def make(request, seed):
    return lambda document=None, clock=None: make_store(request.param, document or seed, request, clock)


def ids(users):
    return [user["_id"] for user in users]


def emails(store, customer):
    return {user["email"]: user["_id"] for user in store.list_users(customer)}


def test_both_backends_implement_the_interface(backend):
    assert isinstance(backend, StoreBackend)


class TestReads:
    def test_list_is_every_user_in_ascending_id_order(self, backend, seed):
        assert ids(backend.list_users(ACME)) == sorted(u["_id"] for u in seed["customers"][0]["users"])
        assert backend.list_users_json(ACME).startswith(b'[{"_id":')

    def test_search_every_term_must_match_some_searched_field(self, backend):
        assert ids(backend.list_users(ACME, "  JANE   Doe ")) == [JANE]
        assert ROBERT in ids(backend.list_users(ACME, "bobby"))  # a nickname
        assert backend.list_users(ACME, "jane okafor") == []
        assert backend.list_users(ACME, "litigation") == []  # a department: not searched
        assert len(backend.list_users(ACME, "   ")) == len(backend.list_users(ACME))

    def test_get_renders_relations(self, backend):
        jane = backend.get_user(ACME, JANE)
        assert jane["customer"]["_id"] == ACME and jane["roles"] and "roleIds" not in jane
        assert MARIA in ids(jane["delegates"])
        assert JANE in ids(backend.get_user(ACME, MARIA)["delegators"])
        assert orjson.loads(backend.get_user_json(ACME, JANE)) == jane

    def test_unknown_customer_and_user_say_which(self, backend):
        with pytest.raises(NotFound, match=f"customer {UNKNOWN_ID} does not exist"):
            backend.list_users(UNKNOWN_ID)
        with pytest.raises(NotFound, match=f"user {UNKNOWN_ID} does not exist in customer {ACME}"):
            backend.get_user(ACME, UNKNOWN_ID)
        with pytest.raises(NotFound):
            backend.get_user(BIRCH, JANE)  # users are per customer

    def test_identity(self, backend):
        assert backend.identity(ACME, JANE)["customerId"] == ACME
        with pytest.raises(NotFound, match="not bound to a user"):
            backend.identity(ACME, None)

    def test_tokens_and_customers(self, backend, seed):
        assert backend.tokens() == seed["tokens"]
        assert [c["_id"] for c in backend.customers()] == [c["_id"] for c in seed["customers"]]
        assert backend.customers()[0]["users"] == len(seed["customers"][0]["users"])
        assert backend.has_customer(ACME) and not backend.has_customer(UNKNOWN_ID)
        jane = backend.principal("jane-token")
        assert jane.user_id == JANE and jane.may_access(ACME) and not jane.may_access(BIRCH)
        assert backend.principal("no-such-token") is None


class TestPatch:
    def test_v2_fields_apply_whole_and_updated_at_moves_forward(self, backend):
        before = backend.get_user(ACME, JANE)
        after = backend.update_user(ACME, JANE, {"firstName": "Annika", "email": "annika@acme.example",
                                                 "jobTitle": "Partner"})
        assert (after["firstName"], after["jobTitle"]) == ("Annika", "Partner")
        assert after["updatedAt"] > before["updatedAt"]
        assert backend.get_user(ACME, JANE) == after
        assert ids(backend.list_users(ACME, "annika doe")) == [JANE]  # the search index follows
        assert backend.list_users(ACME, "jane doe") == []

    def test_v1_delegates_update_both_sides(self, backend):
        backend.update_user(ACME, JANE, {"delegateIds": [ROBERT, ROBERT]})
        assert ids(backend.get_user(ACME, JANE)["delegates"]) == [ROBERT]
        assert JANE in ids(backend.get_user(ACME, ROBERT)["delegators"])
        assert JANE not in ids(backend.get_user(ACME, MARIA)["delegators"])

    @pytest.mark.parametrize(("changes", "error", "message"), [
        ({"nope": 1}, Unprocessable, "field 'nope' cannot be updated"),
        ({"roleIds": [UNKNOWN_ID]}, Unprocessable, "is not a role of customer"),
        ({"delegateIds": [JANE]}, Unprocessable, "a user cannot delegate to itself"),
        ({"delegateIds": [UNKNOWN_ID]}, Unprocessable, "is not a user of customer"),
    ])
    def test_a_rejected_patch_changes_nothing(self, backend, changes, error, message):
        before = backend.snapshot()
        with pytest.raises(error, match=message):
            backend.update_user(ACME, JANE, {"firstName": "Changed", **changes})
        assert backend.snapshot() == before


class TestUniqueness:
    def test_an_email_taken_in_the_customer_is_a_conflict_and_nothing_changes(self, backend):
        robert = backend.get_user(ACME, ROBERT)["email"]
        before = backend.snapshot()
        with pytest.raises(Conflict, match=f"already used by user {ROBERT}"):
            backend.update_user(ACME, JANE, {"email": robert.upper(), "firstName": "X"})
        assert backend.snapshot() == before

    def test_same_email_in_another_customer_is_fine(self, backend):
        birch_user = backend.list_users(BIRCH)[0]
        taken = backend.get_user(ACME, JANE)["email"]
        backend.update_user(BIRCH, birch_user["_id"], {"email": taken})
        assert emails(backend, BIRCH)[taken] == birch_user["_id"]
        assert emails(backend, ACME)[taken] == JANE

    def test_email_of_deleted_user_can_be_reused(self, backend):
        robert = backend.get_user(ACME, ROBERT)["email"]
        backend.delete_user(ACME, ROBERT)
        backend.update_user(ACME, JANE, {"email": robert})
        assert emails(backend, ACME)[robert] == JANE
        assert backend.get_user(ACME, JANE)["email"] == robert
        # ...and Jane's old address is free again
        maria = backend.update_user(ACME, MARIA, {"email": "jane.doe@acme.example"})
        assert maria["email"] == "jane.doe@acme.example"

    def test_changing_case_of_ones_own_email_is_fine(self, backend):
        own = backend.get_user(ACME, JANE)["email"]
        assert backend.update_user(ACME, JANE, {"email": own.upper()})["email"] == own.upper()


class TestDelete:
    def test_delete_removes_the_user_and_every_delegation_together(self, backend):
        assert JANE in ids(backend.get_user(ACME, MARIA)["delegators"])
        gone = backend.delete_user(ACME, MARIA)
        assert gone["_id"] == MARIA and JANE in ids(gone["delegators"])
        with pytest.raises(NotFound):
            backend.get_user(ACME, MARIA)
        assert MARIA not in ids(backend.list_users(ACME))
        assert MARIA not in ids(backend.get_user(ACME, JANE)["delegates"])
        assert MARIA not in backend.snapshot()["customers"][0]["users"][0].get("delegateIds", [])
        with pytest.raises(NotFound):
            backend.delete_user(ACME, MARIA)

    def test_the_customers_count_follows_a_delete(self, backend, seed):
        backend.delete_user(ACME, ROBERT)
        assert backend.customers()[0]["users"] == len(seed["customers"][0]["users"]) - 1

    def test_a_token_of_a_deleted_user_is_kept_bound_to_no_one_in_the_snapshot(self, backend):
        backend.delete_user(ACME, JANE)
        jane = next(t for t in backend.snapshot()["tokens"] if t["token"] == "jane-token")
        assert "userId" not in jane


class TestWholeState:
    def test_snapshot_restores_into_an_equal_store(self, backend, make):
        backend.update_user(ACME, JANE, {"firstName": "Snap"})
        backend.delete_user(ACME, ROBERT)
        document = backend.snapshot()
        other = make()
        other.restore(document)
        assert other.snapshot() == document
        other.reset()  # the seed stays what it was
        assert other.get_user(ACME, ROBERT)["_id"] == ROBERT

    def test_reset_goes_back_to_the_seed(self, backend, seed):
        backend.update_user(ACME, JANE, {"firstName": "Gone"})
        backend.delete_user(ACME, ROBERT)
        backend.reset()
        assert backend.get_user(ACME, JANE)["firstName"] == "Jane"
        assert len(backend.list_users(ACME)) == len(seed["customers"][0]["users"])
        assert backend.seed_document()["customers"][0]["_id"] == ACME

    def test_replace_makes_a_new_seed_and_a_new_generation(self, backend, seed):
        smaller = copy.deepcopy(seed)
        smaller["customers"] = smaller["customers"][:1]
        generation = backend.generation
        backend.replace(smaller)
        assert backend.generation == generation + 1
        assert [c["_id"] for c in backend.customers()] == [ACME]
        backend.reset()
        assert [c["_id"] for c in backend.customers()] == [ACME]

    def test_a_fork_starts_at_the_seed_and_is_isolated(self, backend):
        backend.update_user(ACME, JANE, {"firstName": "Main"})
        fork = backend.fork("alpha")
        assert fork.get_user(ACME, JANE)["firstName"] == "Jane"
        assert fork.changed_records() == 0 and backend.changed_records() is None
        fork.update_user(ACME, ROBERT, {"firstName": "Forked"})
        assert fork.changed_records() > 0
        assert backend.get_user(ACME, ROBERT)["firstName"] != "Forked"
        assert fork.get_user(ACME, JANE)["firstName"] == "Jane"
        assert fork.generation == backend.generation
        fork.reset()
        assert fork.get_user(ACME, ROBERT)["firstName"] != "Forked"


# -- the Redis backend against the in-memory store, on random sequences ------------------------

USER_IDS = [JANE, ROBERT, MARIA, "6500000000000000000001a4", "6500000000000000000002b1", "6500000000000000000002b2", UNKNOWN_ID]
CUSTOMERS = [ACME, BIRCH]
emails_drawn = st.sampled_from(["jane.doe@acme.example", "JANE.DOE@acme.example", "new@acme.example",
                                "other@acme.example", "robert.king@acme.example"])
changes_drawn = st.fixed_dictionaries({}, optional={
    "firstName": st.sampled_from(["Ann", "Bob", "Zoë"]),
    "nickname": st.sampled_from(["", "ace", None]),
    "email": emails_drawn,
    "delegateIds": st.lists(st.sampled_from(USER_IDS), max_size=3),
    "roleIds": st.lists(st.sampled_from(["6500000000000000000003a1", "6500000000000000000003a2", UNKNOWN_ID]),
                        max_size=2),
})
operations = st.lists(st.one_of(
    st.tuples(st.just("update"), st.sampled_from(CUSTOMERS), st.sampled_from(USER_IDS), changes_drawn),
    st.tuples(st.just("delete"), st.sampled_from(CUSTOMERS), st.sampled_from(USER_IDS)),
    st.tuples(st.just("get"), st.sampled_from(CUSTOMERS), st.sampled_from(USER_IDS)),
    st.tuples(st.just("list"), st.sampled_from(CUSTOMERS), st.sampled_from(["", "a", "jane", "ann zo", "@acme"])),
    st.tuples(st.just("reset")),
), min_size=1, max_size=12)


def apply(store, operation):
    """The answer (JSON bytes) or the error (class name and message) of one operation."""
    kind, *args = operation
    try:
        if kind == "update":
            return store.update_user_json(*args)
        if kind == "delete":
            return store.delete_user_json(*args)
        if kind == "get":
            return store.get_user_json(*args)
        if kind == "list":
            return store.list_users_json(*args)
        store.reset()
        return None
    except StoreError as err:
        return type(err).__name__, str(err)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=operations)
def test_redis_answers_as_the_memory_model_on_any_sequence(sequence, seed, request):
    clock = Clock()
    model = make_store("memory", seed, request, clock)
    redis_store = make_store("redis", seed, request, clock)
    try:
        for step, operation in enumerate(sequence):
            expected = apply(model, operation)
            assert apply(redis_store, operation) == expected, f"step {step}: {operation}"
            clock.now += timedelta(milliseconds=1 + step % 2)
        assert redis_store.snapshot() == model.snapshot()
        for customer in CUSTOMERS:  # every answer, so a derived index (delegators, emails) that drifted shows
            assert redis_store.list_users_json(customer) == model.list_users_json(customer)
    finally:
        redis_store.drop_fork(None)
        redis_store.client.delete(*redis_store.client.keys(redis_store.prefix + "*") or ["-"])
