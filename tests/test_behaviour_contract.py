"""The contract runner's behavioural checks: the fake passes them all; each behaviour-breaking
variant (tests/behaviour_variants.py: the fake behind a reverse proxy) is named by its check;
a check without its credentials is "not run", never passed; read-only runs send only safe methods."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest

from mockserver.contract.behaviour import BEHAVIOUR_CHECKS, READ_CHECKS
from mockserver.contract.runner import ContractOptions, run_contract
from tests.behaviour_variants import BEHAVIOUR_VARIANTS, unmodified
from tests.drift_support import run_cli
from tests.support import LiveServer, MethodRecorder, non_loopback_address

pytestmark = pytest.mark.slow  # starts servers or runs whole contract, drift, kill or browser runs

FAST = {"phases": ("examples",), "max_examples": 1, "seed": 1}


def contract(app, **options) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_contract(app, ContractOptions(**{**FAST, **options}), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def failing_checks(stdout: str) -> set[str]:
    return set(re.findall(r"^\d+\. \[(\w+)\] ", stdout, re.MULTILINE))


def test_the_fake_passes_every_behavioural_check(tmp_path):
    junit = tmp_path / "junit.xml"
    code, out, err = contract(unmodified(), junit=str(junit))
    assert code == 0, out + err
    for check in BEHAVIOUR_CHECKS:
        assert re.search(rf"^ {check}\s+.*ok \d+", out, re.MULTILINE), f"{check} did not run:\n{out}"
    assert "not run:" not in out
    names = {case.get("name") for case in ET.parse(junit).iter("testcase")}
    assert set(BEHAVIOUR_CHECKS) <= names


@pytest.mark.parametrize("name", sorted(BEHAVIOUR_VARIANTS))
def test_each_variant_is_named_by_its_check(name):
    variant = BEHAVIOUR_VARIANTS[name]
    code, out, err = contract(variant.build(), checks=tuple(BEHAVIOUR_CHECKS))
    assert code == 1, out + err
    assert variant.check in failing_checks(out), out
    assert "curl -X" in out
    assert "birch-admin-token" not in out and "jane-token" not in out


def test_missing_credentials_are_not_run_never_passed(tmp_path):
    junit = tmp_path / "junit.xml"
    code, out, err = contract(unmodified(), token="acme-admin-token", checks=tuple(BEHAVIOUR_CHECKS),
                              junit=str(junit))
    assert code == 0, out + err
    assert re.search(r"not run: tenant_isolation \(needs a second customer", out), out
    assert re.search(r"not run: lookup_identity \(needs a token bound to a user", out), out
    assert not re.search(r"^ (tenant_isolation|lookup_identity)\s+.*ok", out, re.MULTILINE), out
    names = {case.get("name") for case in ET.parse(junit).iter("testcase")}
    assert "tenant_isolation" not in names and "lookup_identity" not in names


def test_extra_credentials_as_options_are_masked():
    code, out, err = contract(unmodified(), token="acme-admin-token", checks=tuple(READ_CHECKS),
                              other_customer_id="6500000000000000000000b2", other_token="birch-admin-token",
                              lookup_token="robert-token", lookup_user_id="6500000000000000000001a2")
    assert code == 0, out + err
    assert re.search(r"^ tenant_isolation\s+.*ok \d+", out, re.MULTILINE), out
    assert re.search(r"^ lookup_identity\s+.*ok \d+", out, re.MULTILINE), out


def test_a_wrong_lookup_user_is_caught_with_option_credentials():
    code, out, _ = contract(unmodified(), token="acme-admin-token", checks=("lookup_identity",),
                            lookup_token="robert-token", lookup_user_id="6500000000000000000001a1")
    assert code == 1 and "lookup_identity" in failing_checks(out), out
    assert "robert-token" not in out


@pytest.mark.parametrize("where", ["non-loopback", "--read-only"])
def test_read_only_behaviour_checks_send_only_safe_methods(where):
    """A non-loopback target (read-only by default) or --read-only: only GET/HEAD/OPTIONS reach
    the server, and the write checks are "not run"."""
    host = non_loopback_address() if where == "non-loopback" else "127.0.0.1"
    if host is None:
        pytest.skip("this machine has no non-loopback address to serve on")
    recorder = MethodRecorder(unmodified())
    with LiveServer(recorder, host=host) as server:
        code, out, err = contract(server.url, read_only=where == "--read-only", customer_id="6500000000000000000000a1",
                                  token="acme-admin-token", checks=tuple(BEHAVIOUR_CHECKS),
                                  other_customer_id="6500000000000000000000b2", other_token="birch-admin-token",
                                  lookup_token="jane-token", lookup_user_id="6500000000000000000001a1")
    assert code == 0, out + err
    assert recorder.methods() <= {"GET", "HEAD", "OPTIONS"}, recorder.methods()
    for check in ("update_timestamps", "partial_update", "read_your_writes", "email_uniqueness", "relations",
                  "delete_semantics"):
        assert f"not run: {check}" in out


def test_cli_takes_the_extra_credentials_from_the_environment(monkeypatch):
    monkeypatch.setenv("MOCKSERVER_CONTRACT_OTHER_TOKEN", "birch-admin-token")
    monkeypatch.setenv("MOCKSERVER_CONTRACT_LOOKUP_TOKEN", "robert-token")
    with LiveServer(unmodified()) as server:
        code, out, err = run_cli("contract", server.url, "--token", "acme-admin-token",
                                 "--checks", "tenant_isolation,lookup_identity",
                                 "--other-customer-id", "6500000000000000000000b2", "--lookup-user-id",
                                 "6500000000000000000001a2", "--phases", "examples", "--max-examples", "1",
                                 "--seed", "1")
    assert code == 0, out + err
    assert re.search(r"^ tenant_isolation\s+.*ok \d+", out, re.MULTILINE), out
    assert re.search(r"^ lookup_identity\s+.*ok \d+", out, re.MULTILINE), out
    assert "birch-admin-token" not in out + err and "robert-token" not in out + err
    code, out, err = run_cli("contract", "http://127.0.0.1:9", "--lookup-user-id", "nope")
    assert code == 2 and "--lookup-user-id 'nope' is not an ObjectId" in err


def _relations_broken(how: str):
    """The fake behind a proxy that breaks one promise of `relations`: ``first`` a user nobody delegated
    to before never shows its new delegators; ``repeat`` a repeated delegate comes back twice."""
    import json as json_module

    from tests.behaviour_variants import USER
    from tests.contract_variants import Breaker
    from tests.support import fresh_fake

    app, store = fresh_fake()
    users = store.snapshot()["customers"][0]["users"]
    delegated_to = {d for user in users for d in user.get("delegateIds") or ()}
    sent: dict[str, list] = {}

    def before(exchange):
        match = USER.match(exchange.path)
        if exchange.method == "PATCH" and match:
            try:
                sent[match["user"]] = json_module.loads(exchange.body).get("delegateIds") or []
            except (ValueError, AttributeError):
                pass

    def after(exchange, answer):
        match = USER.match(exchange.path)
        if not match or answer.status != 200:
            return
        user = answer.json()
        if how == "first" and exchange.method == "GET" and user["_id"] not in delegated_to:
            user["delegators"] = []
        elif how == "repeat" and exchange.method == "PATCH":
            repeats = [d for d in user.get("delegates", []) if sent.get(user["_id"], []).count(d["_id"]) > 1]
            user["delegates"] = user.get("delegates", []) + repeats
        answer.set_json(user)

    return Breaker(app, before=before, after=after)


@pytest.mark.parametrize("how, title", [("first", "Delegation not shown as delegator"),
                                        ("repeat", "Delegates not as sent")])
def test_relations_names_a_first_delegation_not_shown_and_a_repeat_not_collapsed(how, title):
    # Writes allowed on dedicated users only, as on staging; no delete: relations alone looks at delegations.
    code, out, err = contract(_relations_broken(how), token="acme-admin-token", customer_id="6500000000000000000000a1",
                              allow_writes=True, user_ids=("6500000000000000000001a3",), checks=("relations",))
    assert code == 1, out + err
    assert failing_checks(out) == {"relations"} and title in out, out
    code, out, err = contract(unmodified(), token="acme-admin-token", customer_id="6500000000000000000000a1",
                              allow_writes=True, user_ids=("6500000000000000000001a3",), checks=("relations",))
    assert code == 0 and re.search(r"^ relations\s+.*ok \d+", out, re.MULTILINE), out + err
