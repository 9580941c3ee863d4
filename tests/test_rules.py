"""The rules module (mockserver/spec/rules.py): each documented behaviour as a named rule, used by the
store, the contract checks and drift; the coverage matrix (every rule is exercised by a check or a
model rule that exists); and the rules' functions against the store that answers by them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.contract.behaviour import BEHAVIOUR_CHECKS
from mockserver.contract.checks import CUSTOM_CHECKS
from mockserver.drift.model import MODEL_RULES
from mockserver.spec import rules
from mockserver.spec.operations import DELETE, GET, LIST, LOOKUP, PATCH_V1, PATCH_V2
from mockserver.store.memory import Store

ACME = "6500000000000000000000a1"
JANE = "6500000000000000000001a1"
DRIFT_PROBES = "probes"  # drift's fixed probes (mockserver.drift.sequence.probe_steps)


def choices_rows() -> set[str]:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "choices.md").read_text(encoding="utf-8")
    return {line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ") and "---" not in line}


# -- the coverage matrix ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(rules.RULES))
def test_every_rule_is_exercised_by_a_check_or_a_model_rule_that_exists(name):
    rule = rules.RULES[name]
    assert rule.contract or rule.drift, f"rule {name} is exercised by nothing"
    unknown_checks = set(rule.contract) - set(BEHAVIOUR_CHECKS) - set(CUSTOM_CHECKS)
    assert not unknown_checks, f"rule {name} names contract checks that do not exist: {unknown_checks}"
    unknown_model = set(rule.drift) - set(MODEL_RULES) - {DRIFT_PROBES}
    assert not unknown_model, f"rule {name} names drift model rules that do not exist: {unknown_model}"


@pytest.mark.parametrize("name", sorted(rules.RULES))
def test_every_rule_names_a_row_of_the_choices_table(name):
    assert rules.RULES[name].row in choices_rows(), rules.RULES[name].row


def test_every_model_rule_exercises_some_rule():
    used = {model_rule for rule in rules.RULES.values() for model_rule in rule.drift}
    assert set(MODEL_RULES) <= used, set(MODEL_RULES) - used


def test_the_matrix_test_fails_for_a_rule_nothing_exercises():
    orphan = rules.Rule("orphan", "`search`", "nothing exercises it")
    assert not (orphan.contract or orphan.drift)
    with pytest.raises(AssertionError):
        rules.RULES["orphan"] = orphan
        try:
            test_every_rule_is_exercised_by_a_check_or_a_model_rule_that_exists("orphan")
        finally:
            del rules.RULES["orphan"]


# -- paths, spelled once ------------------------------------------------------------------------


def test_the_operations_are_the_rules_paths():
    assert LIST == "GET /api/v1/customers/{customerId}/users"
    assert LOOKUP == "GET /api/v1/customers/{customerId}/users/lookup"
    assert GET == "GET /api/v1/customers/{customerId}/users/{userId}" and DELETE.startswith("DELETE /api/v1/")
    assert PATCH_V1.endswith(GET.split(" ", 1)[1]) and PATCH_V2 == "PATCH /api/v2/customers/{customerId}/users/{userId}"
    assert rules.user_path(ACME, JANE, "v2") == f"/api/v2/customers/{ACME}/users/{JANE}"


def test_the_paths_are_the_specs():
    import yaml

    from mockserver.spec.resources import spec_path

    spec = yaml.safe_load(spec_path().read_text(encoding="utf-8"))
    templates = {op.split(" ", 1)[1] for op in (LIST, LOOKUP, GET, PATCH_V1, PATCH_V2, DELETE)}
    assert templates == set(spec["paths"])


# -- search -------------------------------------------------------------------------------------


JANE_DOE = {"_id": JANE, "firstName": "Jane", "lastName": "Doe", "nickname": "JD", "email": "jane.doe@acme.example",
            "jobTitle": "Partner"}


@pytest.mark.parametrize("search, found", [
    ("jane doe", True), ("doe jane", True), ("JANE", True), ("  jane\tdoe ", True), ("oe", True),
    ("jd", True), ("ACME.EXAMPLE", True), ("jane okafor", False), ("partner", False),
    *[(edge, True) for edge in rules.SEARCH_EDGE_VALUES],
])
def test_search_rule(search, found):
    assert rules.matches(JANE_DOE, search) is found


def test_a_term_never_spans_two_fields():
    assert not rules.matches(JANE_DOE, "janedoe") and not rules.matches(JANE_DOE, "doejd")


@settings(derandomize=True, max_examples=60, deadline=None)
@given(search=st.text(alphabet="janedoJANEDOrbtkf@. \t", max_size=10))
def test_the_store_answers_searches_by_the_rule(search):
    """The store's indexed search (one str.find over a customer) finds exactly whom the rule finds."""
    from mockserver.fixtures.document import FixtureLoader
    from mockserver.spec.resources import default_fixture_path

    seed = FixtureLoader().load_files([str(default_fixture_path())])
    store = _store(seed)
    users = store.list_users(ACME)
    expected = [user["_id"] for user in rules.search_result(users, search)]
    assert [user["_id"] for user in store.list_users(ACME, search)] == expected


_STORES: dict[int, Store] = {}


def _store(seed) -> Store:
    if not _STORES:
        _STORES[0] = Store(seed)
    return _STORES[0]


# -- order, timestamps, relations, email, lookup ------------------------------------------------


def test_list_order_is_ascending_id():
    users = [{"_id": "b" * 24}, {"_id": "a" * 24}]
    assert [u["_id"] for u in rules.list_order(users)] == ["a" * 24, "b" * 24]
    assert rules.in_list_order(["a", "b"]) and not rules.in_list_order(["b", "a"]) and not rules.in_list_order(["a", "a"])


@pytest.mark.parametrize("previous, now, expected", [
    ("2024-01-15T09:30:00Z", datetime(2025, 1, 1, 0, 0, 0, 123456, tzinfo=UTC), "2025-01-01T00:00:00.123Z"),
    ("2025-01-01T00:00:00.123Z", datetime(2025, 1, 1, 0, 0, 0, 123999, tzinfo=UTC), "2025-01-01T00:00:00.124Z"),
    ("2030-01-01T00:00:00Z", datetime(2025, 1, 1, tzinfo=UTC), "2030-01-01T00:00:00.001Z"),
    ("2025-01-01T00:00:00Z", datetime(2025, 1, 1, 0, 0, 5, tzinfo=UTC), "2025-01-01T00:00:05.000Z"),
])
def test_updated_at_moves_forward_at_millisecond_precision(previous, now, expected):
    after = rules.next_updated_at(previous, now)
    assert after == expected and rules.moved_forward(previous, after)


def test_moved_forward_is_strict_and_refuses_non_times():
    assert not rules.moved_forward("2025-01-01T00:00:00Z", "2025-01-01T00:00:00.000Z")
    assert not rules.moved_forward("2025-01-01T00:00:01Z", "2025-01-01T00:00:00Z")
    assert not rules.moved_forward(None, "2025-01-01T00:00:00Z") and not rules.moved_forward("x", "y")


def test_updatable_fields_and_v1_only_delegates():
    assert "delegateIds" in rules.updatable("v1") and "delegateIds" not in rules.updatable("v2")
    assert rules.V1_ONLY_FIELDS == {"delegateIds"}
    assert rules.RELATIONS == {"roleIds": "roles", "delegateIds": "delegates"}
    assert "email" in rules.TEXT_FIELDS and "_id" not in rules.UPDATABLE_FIELDS and "createdAt" not in rules.UPDATABLE_FIELDS


def test_repeats_collapse_and_emails_compare_case_insensitively():
    assert rules.collapse(["b", "a", "b", "a"]) == ["b", "a"]
    assert rules.email_key("Jane.Doe@ACME.example") == rules.email_key("jane.doe@acme.EXAMPLE")


def test_lookup_answer():
    user = {"identities": [{"type": "aderant", "id": "x1", "customerId": "other"}, {"type": "aderant", "id": "x2"}]}
    assert rules.identity_answer(user, ACME) == {"type": "aderant", "id": "x1", "customerId": ACME}
    assert rules.identity_answer({"identities": []}, ACME) is None and rules.identity_answer(None, ACME) is None


def test_the_store_uses_the_rules_for_updates():
    from mockserver.fixtures.document import FixtureLoader
    from mockserver.spec.resources import default_fixture_path

    seed = FixtureLoader().load_files([str(default_fixture_path())])
    store = Store(seed, clock=lambda: datetime(2020, 1, 1, tzinfo=UTC))  # a clock behind every timestamp
    before = store.get_user(ACME, JANE)
    roles = [role["_id"] for role in before["roles"]] or []
    after = store.update_user(ACME, JANE, {"roleIds": roles + roles})
    assert [r["_id"] for r in after["roles"]] == rules.collapse(roles)
    assert after["updatedAt"] == rules.next_updated_at(before["updatedAt"], datetime(2020, 1, 1, tzinfo=UTC))
    assert after["createdAt"] == before["createdAt"]
