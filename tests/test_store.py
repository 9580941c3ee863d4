"""The store on its own: no HTTP."""

from __future__ import annotations

import copy
import json
import threading
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.store.memory import Conflict, NotFound, Store, StoreError, Unprocessable, parse_timestamp
from tests.conftest import ACME, ACME_FILE, BIRCH, JANE, MARIA, ROBERT, UNKNOWN_ID


def ids(users):
    return [user["_id"] for user in users]


class TestList:
    def test_lists_every_user_of_the_customer_in_ascending_id_order(self, store, seed):
        listed = ids(store.list_users(ACME))
        expected = sorted(user["_id"] for user in seed["customers"][0]["users"])
        assert listed == expected

    def test_other_customers_users_are_not_listed(self, store):
        acme, birch = set(ids(store.list_users(ACME))), set(ids(store.list_users(BIRCH)))
        assert acme and birch and not acme & birch

    def test_search_every_term_must_match_some_field(self, store):
        assert ids(store.list_users(ACME, "jane doe")) == [JANE]
        assert ids(store.list_users(ACME, "  JANE   Doe ")) == [JANE]
        assert store.list_users(ACME, "jane okafor") == []

    def test_search_matches_first_last_nickname_and_email(self, store):
        assert JANE in ids(store.list_users(ACME, "jan"))
        assert JANE in ids(store.list_users(ACME, "DOE"))
        assert ROBERT in ids(store.list_users(ACME, "bobby"))  # Robert's nickname
        assert JANE in ids(store.list_users(ACME, "jane.doe@acme"))

    def test_search_does_not_match_other_fields(self, store):
        assert store.list_users(ACME, "litigation") == []  # a department, not searched

    def test_blank_search_lists_everyone(self, store):
        assert len(store.list_users(ACME, "   ")) == len(store.list_users(ACME))

    def test_unknown_customer(self, store):
        with pytest.raises(NotFound):
            store.list_users(UNKNOWN_ID)

    def test_search_narrows_a_common_term_in_list_order(self, store, seed):
        users = seed["customers"][0]["users"]
        with_a = sorted(u["_id"] for u in users if any("a" in (u[f] or "").casefold()
                                                        for f in ("firstName", "lastName", "nickname", "email")))
        assert ids(store.list_users(ACME, "a")) == with_a
        assert ids(store.list_users(ACME, "a jane")) == [JANE]

    def test_search_follows_writes_and_deletes(self, store):
        store.update_user(ACME, ROBERT, {"nickname": "zebrafish"})
        assert ids(store.list_users(ACME, "zebra")) == [ROBERT]
        store.delete_user(ACME, ROBERT)
        assert store.list_users(ACME, "zebra") == []
        assert store.list_users(ACME, "okafor") == []

    def test_a_term_never_spans_two_fields(self, store):
        # "Jane" + "Doe" are neighbouring fields; a term made of both must not match.
        assert store.list_users(ACME, "janedoe") == []


class TestRepresentation:
    def test_user_has_documented_fields_and_no_internal_relation_fields(self, store):
        user = store.get_user(ACME, JANE)
        for field in ("_id", "createdAt", "email", "firstName", "jobTitle", "lastName", "nickname", "updatedAt"):
            assert field in user
        assert "roleIds" not in user and "delegateIds" not in user

    def test_relations_are_expanded(self, store, seed):
        raw = next(u for u in seed["customers"][0]["users"] if u["_id"] == JANE)
        user = store.get_user(ACME, JANE)
        assert [role["_id"] for role in user["roles"]] == raw["roleIds"]
        assert [d["_id"] for d in user["delegates"]] == raw["delegateIds"]
        assert user["identities"] == [{**i, "customerId": ACME} for i in raw["identities"]]
        assert user["customer"] == {"_id": ACME, "fullName": "Acme Legal LLP"}

    def test_delegators_are_the_users_who_delegate_to_this_user(self, store, seed):
        expected = sorted(u["_id"] for u in seed["customers"][0]["users"] if JANE in u["delegateIds"])
        assert expected
        assert [d["_id"] for d in store.get_user(ACME, JANE)["delegators"]] == expected

    def test_returned_objects_are_copies(self, store):
        store.get_user(ACME, JANE)["firstName"] = "Mallory"
        assert store.get_user(ACME, JANE)["firstName"] == "Jane"


class TestIdentity:
    def test_first_identity_bound_to_customer(self, store):
        assert store.identity(ACME, JANE) == {"type": "aderant", "value": "AD-1042", "customerId": ACME}

    def test_user_without_identity(self, store):
        with pytest.raises(NotFound, match="no external identity"):
            store.identity(ACME, MARIA)

    def test_token_without_user(self, store):
        with pytest.raises(NotFound, match="not bound to a user"):
            store.identity(ACME, None)


class TestUpdate:
    def test_only_sent_fields_change(self, store):
        before = store.get_user(ACME, JANE)
        after = store.update_user(ACME, JANE, {"jobTitle": "Counsel"})
        changed = {k for k in after if after[k] != before[k]}
        assert changed == {"jobTitle", "updatedAt"}
        assert store.get_user(ACME, JANE) == after

    def test_updated_at_moves_forward_and_created_at_never_changes(self, seed):
        frozen = datetime(2020, 1, 1, tzinfo=UTC)  # a clock behind the fixture's dates
        store = Store(seed, clock=lambda: frozen)
        first = store.get_user(ACME, JANE)
        stamps = [first["updatedAt"]]
        for n in range(3):
            stamps.append(store.update_user(ACME, JANE, {"nickname": f"J{n}"})["updatedAt"])
        parsed = [parse_timestamp(s) for s in stamps]
        assert parsed == sorted(parsed) and len(set(parsed)) == len(parsed)
        assert store.get_user(ACME, JANE)["createdAt"] == first["createdAt"]

    def test_updated_at_is_now_when_the_clock_is_ahead(self, seed):
        now = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
        store = Store(seed, clock=lambda: now)
        assert store.update_user(ACME, JANE, {"pod": "Pod 1"})["updatedAt"] == "2030-05-06T07:08:09.123Z"

    def test_email_unique_within_customer_case_insensitively(self, store):
        robert_email = store.get_user(ACME, ROBERT)["email"]
        with pytest.raises(Conflict, match=ROBERT):
            store.update_user(ACME, JANE, {"email": robert_email.upper()})

    def test_same_email_in_another_customer_is_fine(self, store):
        taken = store.get_user(ACME, JANE)["email"]
        birch_user = store.list_users(BIRCH)[0]
        assert birch_user["email"] != taken
        answered = store.update_user(BIRCH, birch_user["_id"], {"email": taken.upper()})
        assert answered["email"] == taken.upper()
        assert store.get_user(BIRCH, birch_user["_id"])["email"] == taken.upper()
        assert store.get_user(ACME, JANE)["email"] == taken  # the other customer's user keeps it
        with pytest.raises(Conflict):  # and the address is now taken within Birch too
            store.update_user(BIRCH, store.list_users(BIRCH)[1]["_id"], {"email": taken})

    def test_changing_email_frees_the_old_one(self, store):
        old = store.get_user(ACME, JANE)["email"]
        store.update_user(ACME, JANE, {"email": "jane.new@acme.example"})
        store.update_user(ACME, ROBERT, {"email": old})
        assert store.get_user(ACME, ROBERT)["email"] == old

    def test_own_email_in_another_case_is_not_a_conflict(self, store):
        store.update_user(ACME, JANE, {"email": "Jane.Doe@acme.example"})
        assert store.get_user(ACME, JANE)["email"] == "Jane.Doe@acme.example"

    def test_role_ids_must_name_roles_of_the_customer(self, store, seed):
        birch_role = seed["customers"][1]["roles"][0]["_id"]
        with pytest.raises(Unprocessable, match=birch_role):
            store.update_user(ACME, JANE, {"roleIds": [birch_role]})

    def test_delegate_ids_must_name_other_users_of_the_customer(self, store):
        birch_user = store.list_users(BIRCH)[0]["_id"]
        with pytest.raises(Unprocessable, match=birch_user):
            store.update_user(ACME, JANE, {"delegateIds": [birch_user]})
        with pytest.raises(Unprocessable, match="itself"):
            store.update_user(ACME, JANE, {"delegateIds": [JANE]})

    def test_a_rejected_update_changes_nothing(self, store):
        before = store.snapshot()
        with pytest.raises(Unprocessable):
            store.update_user(ACME, JANE, {"firstName": "Changed", "roleIds": [UNKNOWN_ID]})
        assert store.snapshot() == before

    def test_delegations_update_both_sides(self, store):
        store.update_user(ACME, JANE, {"delegateIds": [ROBERT]})
        assert [d["_id"] for d in store.get_user(ACME, JANE)["delegates"]] == [ROBERT]
        assert JANE in [d["_id"] for d in store.get_user(ACME, ROBERT)["delegators"]]
        store.update_user(ACME, JANE, {"delegateIds": []})
        assert JANE not in [d["_id"] for d in store.get_user(ACME, ROBERT)["delegators"]]

    def test_renamed_user_is_found_by_new_name_only(self, store):
        store.update_user(ACME, JANE, {"firstName": "Janet", "lastName": "Smithers", "email": "js@acme.example"})
        assert ids(store.list_users(ACME, "janet smithers")) == [JANE]
        assert store.list_users(ACME, "jane doe") == []

    def test_unknown_user(self, store):
        with pytest.raises(NotFound):
            store.update_user(ACME, UNKNOWN_ID, {"firstName": "X"})
        with pytest.raises(NotFound):
            store.update_user(BIRCH, JANE, {"firstName": "X"})


class TestDelete:
    def test_returns_user_as_it_was_and_removes_it(self, store):
        before = store.get_user(ACME, JANE)
        assert store.delete_user(ACME, JANE) == before
        assert JANE not in ids(store.list_users(ACME))
        for action in (lambda: store.get_user(ACME, JANE), lambda: store.delete_user(ACME, JANE),
                       lambda: store.update_user(ACME, JANE, {"pod": "x"})):
            with pytest.raises(NotFound):
                action()

    def test_delegations_to_and_from_the_user_are_removed(self, store):
        delegators = [d["_id"] for d in store.get_user(ACME, JANE)["delegators"]]
        delegates = [d["_id"] for d in store.get_user(ACME, JANE)["delegates"]]
        assert delegators and delegates
        store.delete_user(ACME, JANE)
        for uid in delegators:
            assert JANE not in [d["_id"] for d in store.get_user(ACME, uid)["delegates"]]
        for uid in delegates:
            assert JANE not in [d["_id"] for d in store.get_user(ACME, uid)["delegators"]]
        assert all(JANE not in user.get("delegateIds", []) for user in store.snapshot()["customers"][0]["users"])

    def test_email_of_deleted_user_can_be_reused(self, store):
        email = store.delete_user(ACME, JANE)["email"]
        assert store.get_user(ACME, ROBERT)["email"] != email
        assert store.update_user(ACME, ROBERT, {"email": email})["email"] == email
        assert store.get_user(ACME, ROBERT)["email"] == email
        assert [user["_id"] for user in store.list_users(ACME, search=email)] == [ROBERT]
        with pytest.raises(Conflict):  # reused, the address is Robert's now
            store.update_user(ACME, MARIA, {"email": email.upper()})

    def test_lookup_of_deleted_user_is_404(self, store):
        store.delete_user(ACME, JANE)
        with pytest.raises(NotFound):
            store.identity(ACME, JANE)


class TestWholeState:
    def test_reset_goes_back_to_the_seed(self, store):
        before = store.snapshot()
        store.update_user(ACME, JANE, {"firstName": "Janet"})
        store.delete_user(ACME, ROBERT)
        store.reset()
        assert store.snapshot() == before

    def test_snapshot_loads_back_into_an_equal_store(self, store, loader):
        store.update_user(ACME, JANE, {"firstName": "Janet", "delegateIds": [ROBERT]})
        store.delete_user(ACME, MARIA)
        again = Store(loader.load_document(store.snapshot()))
        assert again.snapshot() == store.snapshot()
        assert again.get_user(ACME, JANE) == store.get_user(ACME, JANE)

    def test_seed_is_not_shared_with_the_caller(self, seed):
        original = copy.deepcopy(seed)
        store = Store(seed)
        seed["customers"][0]["users"].clear()
        store.reset()
        assert len(store.list_users(ACME)) == len(original["customers"][0]["users"])

    def test_principals(self, store):
        admin = store.principal("acme-admin-token")
        assert admin.may_access(ACME) and not admin.may_access(BIRCH) and admin.user_id is None
        assert store.principal("jane-token").user_id == JANE
        assert store.principal("no-such-token") is None
        assert store.principal("") is None


def test_concurrent_updates_are_all_applied_whole(store):
    """Many threads writing: every field of every write lands, no write is half-applied."""
    users = ids(store.list_users(ACME))[:8]
    errors = []

    def writer(n: int):
        try:
            for i in range(50):
                uid = users[(n + i) % len(users)]
                store.update_user(ACME, uid, {"jobTitle": f"T{n}-{i}", "pod": f"T{n}-{i}"})
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for uid in users:
        user = store.get_user(ACME, uid)
        assert user["jobTitle"] == user["pod"]


# -- the kept answers --------------------------------------------------------------------------

ACME_USERS = sorted(u["_id"] for u in json.loads(ACME_FILE.read_text())["customers"][0]["users"])
ACME_ROLES = [r["_id"] for r in json.loads(ACME_FILE.read_text())["customers"][0]["roles"]]
NAMES = st.sampled_from(["Jane", "Zoë", "O'Brien", "", "Ng", "Maria-José"])
CHANGES = st.fixed_dictionaries({}, optional={
    "firstName": NAMES,
    "lastName": NAMES,
    "nickname": NAMES,
    "jobTitle": st.sampled_from(["Partner", "Counsel"]),
    "email": st.sampled_from(["a@acme.example", "b@acme.example", "jane.doe@acme.example"]),
    "roleIds": st.lists(st.sampled_from(ACME_ROLES), max_size=3),
    "delegateIds": st.lists(st.sampled_from(ACME_USERS), max_size=3),
})
STEPS = st.lists(st.one_of(
    st.tuples(st.just("update"), st.sampled_from(ACME_USERS), CHANGES),
    st.tuples(st.just("delete"), st.sampled_from(ACME_USERS), st.none()),
    st.tuples(st.just("reset"), st.none(), st.none()),
    st.tuples(st.just("restore"), st.none(), st.none()),
), min_size=1, max_size=12)


def assert_answers_are_fresh(store: Store) -> None:
    """Every kept answer equals a rendering made now, and one by a new store of the same state."""
    fresh = Store(store.snapshot())
    for customer in (ACME, BIRCH):
        listed = store.list_users_json(customer)
        assert orjson.loads(listed) == store.list_users(customer) == fresh.list_users(customer)
        for user in store.list_users(customer):
            answer = orjson.loads(store.get_user_json(customer, user["_id"]))
            assert answer == store.get_user(customer, user["_id"]) == fresh.get_user(customer, user["_id"])


@settings(derandomize=True, database=None, deadline=None, max_examples=60,
          suppress_health_check=list(HealthCheck))
@given(steps=STEPS)
def test_kept_answers_always_equal_a_fresh_rendering(seed_document, steps):
    """Answers are kept once rendered and dropped only when a write touches the user or a user it
    names (delegates, delegators): after any writes, deletes, resets and restores, each equals a
    rendering made afresh. Answers are read before every step, so a stale one would be served."""
    store = Store(seed_document)
    saved = store.snapshot()
    for action, user_id, changes in steps:
        assert_answers_are_fresh(store)  # every answer is kept before the next step
        try:
            if action == "update":
                store.update_user(ACME, user_id, changes)
            elif action == "delete":
                store.delete_user(ACME, user_id)
            elif action == "reset":
                store.reset()
            else:
                store.restore(saved)
                saved = store.snapshot()
        except StoreError:
            pass  # a refused write changes nothing: the answers must still be fresh
    assert_answers_are_fresh(store)


def test_a_fork_keeps_answers_of_its_own(store):
    fork = store.fork()
    before = fork.get_user_json(ACME, JANE)
    store.update_user(ACME, JANE, {"firstName": "Janet"})
    assert fork.get_user_json(ACME, JANE) == before
    fork.update_user(ACME, ROBERT, {"lastName": "Roberts"})
    assert orjson.loads(store.get_user_json(ACME, JANE))["firstName"] == "Janet"
    assert all(d["lastName"] != "Roberts" for d in orjson.loads(store.get_user_json(ACME, JANE))["delegates"])


def test_answers_are_compact_json_in_field_order(store):
    answer = store.get_user_json(ACME, JANE)
    assert answer == orjson.dumps(orjson.loads(answer))
    assert list(orjson.loads(answer)) == list(store.get_user(ACME, JANE))


def test_kept_answers_stay_within_their_budget():
    from mockserver.store.render import RenderedAnswers

    kept = RenderedAnswers(budget=100)
    for n in range(50):
        kept.put(f"u{n}", b"x" * 30)
        assert kept.size == sum(len(answer) for answer in kept.answers.values()) <= 100
    assert list(kept.answers) == ["u47", "u48", "u49"]  # the most recent
    kept.put("big", b"x" * 101)  # larger than the budget: not kept
    assert kept.get("big") is None and kept.size <= 100
    kept.drop(["u48", "nobody"])
    assert list(kept.answers) == ["u47", "u49"] and kept.size == 60


def test_a_fork_keeps_fewer_answers(store):
    from mockserver.store.render import ANSWER_BUDGET, FORK_ANSWER_BUDGET

    assert FORK_ANSWER_BUDGET < ANSWER_BUDGET
    assert store.list_users_json(ACME) == store.fork().list_users_json(ACME)
