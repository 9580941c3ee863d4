"""The registry of behavioural checks (mockserver.contract.behaviour_registry): docs/contract.md's table is
the registry's, what a check sends and needs decides "not run" the same way for every check, and a check
registered by another module runs like the built-in ones."""

from __future__ import annotations

import io
import re

import pytest

from mockserver.contract import behaviour_registry as registry
from mockserver.contract.behaviour import BEHAVIOUR_CHECKS, READ_CHECKS, WRITE_CHECKS
from mockserver.contract.runner import ContractOptions, run_contract
from mockserver.spec.operations import LIST
from tests.conftest import ROOT
from tests.support import LiveServer, MethodRecorder, fresh_fake

BUILT_IN = ("search_semantics", "tenant_scoping", "tenant_isolation", "lookup_identity", "update_timestamps",
            "partial_update", "read_your_writes", "email_uniqueness", "relations", "delete_semantics")


def test_the_docs_table_is_the_registry():
    docs = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    table = registry.markdown_table()
    assert table in docs, f"docs/contract.md's check table differs from the registry; it is:\n{table}"
    documented = re.findall(r"^\| `(\w+)` \| (GET|PATCH|DELETE) \|", docs, re.MULTILINE)
    assert [name for name, _ in documented] == list(BUILT_IN)


def test_the_built_in_checks_and_what_they_send():
    assert tuple(BEHAVIOUR_CHECKS) == BUILT_IN
    assert tuple(READ_CHECKS) == BUILT_IN[:4] and tuple(WRITE_CHECKS) == BUILT_IN[4:]
    sends = {check.name: check.sends for check in registry.registered()}
    assert sends["delete_semantics"] is registry.DELETE and sends["partial_update"] is registry.WRITE
    needs = {check.name: check.needs for check in registry.registered() if check.needs}
    assert needs == {"tenant_isolation": ("other_customer",), "lookup_identity": ("lookup_user",)}


def test_a_check_is_registered_once_with_known_credentials():
    with pytest.raises(ValueError, match="already registered"):
        registry.behaviour_check(name="search_semantics", sends=registry.READ_ONLY, asserts="x")(lambda ctx: None)
    with pytest.raises(ValueError, match="unknown credentials"):
        registry.behaviour_check(name="new_check", sends=registry.READ_ONLY, asserts="x", needs=("a_password",))


@pytest.fixture
def extra_checks():
    """Two checks registered as another module would register them, taken out again afterwards."""
    seen: list[int] = []

    @registry.behaviour_check(name="list_is_nonempty", sends=registry.READ_ONLY, asserts="the list has users")
    def list_is_nonempty(ctx):
        seen.append(len(ctx.users))
        ctx.expect(bool(ctx.users), "list_is_nonempty", LIST, "Empty list", "no users", [])

    @registry.behaviour_check(name="needs_a_second_customer", sends=registry.DELETE, asserts="x",
                              needs=("other_customer",))
    def never_runs(ctx):  # pragma: no cover - the runner must not call it without the credentials
        raise AssertionError("ran without its credentials")

    yield seen
    registry.unregister("list_is_nonempty")
    registry.unregister("needs_a_second_customer")
    assert "list_is_nonempty" not in BEHAVIOUR_CHECKS


@pytest.mark.slow
def test_a_check_of_another_module_runs_and_not_run_is_uniform(extra_checks):
    assert "list_is_nonempty" in BEHAVIOUR_CHECKS
    app, _store = fresh_fake()
    recorder = MethodRecorder(app)
    out, err = io.StringIO(), io.StringIO()
    with LiveServer(recorder) as server:
        code = run_contract(server.url, ContractOptions(
            read_only=True, customer_id="6500000000000000000000a1", token="acme-admin-token",
            checks=("list_is_nonempty", "needs_a_second_customer", "partial_update"), phases=("examples",),
            max_examples=1, seed=1), out=out, err=err)
    text = out.getvalue()
    assert code == 0, text + err.getvalue()
    assert extra_checks and extra_checks[0] > 0
    assert re.search(r"^ list_is_nonempty\s+.*ok \d+", text, re.MULTILINE), text
    assert "not run: needs_a_second_customer (needs a second customer and a token of it" in text
    assert "not run: partial_update (it sends PATCH; writes are not allowed" in text
    assert recorder.methods() <= {"GET", "HEAD", "OPTIONS"}
