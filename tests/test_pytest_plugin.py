"""The users_api pytest plugin, exercised the way a consumer uses it: pytester runs test files that
have no conftest (the plugin comes from the package's pytest11 entry point)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ACME_FILE

pytestmark = pytest.mark.slow  # starts servers or runs whole contract, drift, kill or browser runs

pytest_plugins = ["pytester"]

HEADER = '''
import httpx
ACME = "6500000000000000000000a1"
JANE = "6500000000000000000001a1"
ROBERT = "6500000000000000000001a2"
def user_url(api, user, customer=ACME):
    return f"{api.url}/api/v1/customers/{customer}/users/{user}"
def auth(api):
    return {"Authorization": "Bearer " + api.token("acme")}
'''


def run(pytester: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_consumer=HEADER + body)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", *args)


def test_consumer_without_conftest_and_isolation_between_tests(pytester):
    result = run(pytester, '''
def test_1_writes(users_api):
    assert not users_api.url.endswith("/")
    assert httpx.patch(user_url(users_api, JANE), json={"jobTitle": "Partner"}, headers=auth(users_api)).status_code == 200
    assert httpx.delete(user_url(users_api, ROBERT), headers=auth(users_api)).status_code in (200, 204)
    assert httpx.get(user_url(users_api, ROBERT), headers=auth(users_api)).status_code == 404

def test_2_sees_the_seed(users_api):
    jane = httpx.get(user_url(users_api, JANE), headers=auth(users_api)).json()
    assert jane["jobTitle"] != "Partner"
    assert httpx.get(user_url(users_api, ROBERT), headers=auth(users_api)).status_code == 200
    assert [c["fullName"] for c in users_api.customers] == ["Acme Legal LLP", "Birch & Stone LLP"]
''')
    result.assert_outcomes(passed=2)


def seed_with_jane_renamed(pytester, name: str, first_name: str) -> None:
    document = json.loads(ACME_FILE.read_text(encoding="utf-8"))
    for customer in document["customers"]:
        for user in customer.get("users", []):
            if user["_id"] == "6500000000000000000001a1":
                user["firstName"] = first_name
    (pytester.path / name).write_text(json.dumps(document), encoding="utf-8")


def test_ini_seed_and_marker(pytester):
    seed_with_jane_renamed(pytester, "ini-seed.json", "Inigo")
    (pytester.path / "more").mkdir()
    seed_with_jane_renamed(pytester, "more/marked.json", "Marko")
    pytester.makeini("[pytest]\nusers_api_seed = ini-seed.json\n")
    result = run(pytester, '''
import pytest
def first_name(api):
    return httpx.get(user_url(api, JANE), headers=auth(api)).json()["firstName"]

def test_ini(users_api):
    assert first_name(users_api) == "Inigo"

@pytest.mark.users_api_seed("more/marked.json")
def test_marker(users_api):
    assert first_name(users_api) == "Marko"

def test_ini_again(users_api):
    assert first_name(users_api) == "Inigo"
''')
    result.assert_outcomes(passed=3)


def test_missing_seed_file_is_one_clear_error(pytester):
    pytester.makeini("[pytest]\nusers_api_seed = nowhere.json\n")
    result = run(pytester, "def test_x(users_api):\n    pass\n")
    result.stdout.fnmatch_lines(["*nowhere.json is not a file*"])
    assert result.ret != 0


def test_journal_force_and_coverage(pytester):
    result = run(pytester, '''
def test_calls(users_api):
    httpx.get(user_url(users_api, JANE), headers=auth(users_api))
    httpx.patch(user_url(users_api, JANE), json={"jobTitle": "Partner"}, headers=auth(users_api))
    patches = users_api.calls_to("PATCH")
    assert len(patches) == 1 and patches[0].json() == {"jobTitle": "Partner"}
    assert patches[0].operation == "update_user_v1" and patches[0].status == 200
    assert patches[0].headers["authorization"] == "Bearer acme…"  # masked, never the whole token
    cov = users_api.coverage()
    assert cov["operations"] == {"get_user": [200], "update_user_v1": [200]}
    assert "delete_user" in cov["missed"] and 0 < cov["ratio"] < 1

def test_journal_is_per_test(users_api):
    assert users_api.calls == []

def test_force(users_api):
    users_api.force(404, method="GET")
    assert httpx.get(user_url(users_api, JANE), headers=auth(users_api)).status_code == 404
    assert httpx.get(user_url(users_api, JANE), headers=auth(users_api)).status_code == 200
    assert httpx.get(user_url(users_api, JANE), headers={**auth(users_api), **users_api.prefer(404)}).status_code == 404
    users_api.force(503, method="DELETE", times=None)
    assert httpx.delete(user_url(users_api, ROBERT), headers=auth(users_api)).status_code == 503
    assert httpx.get(user_url(users_api, ROBERT), headers=auth(users_api)).status_code == 200
''')
    result.assert_outcomes(passed=3)


def test_parallel_isolation_under_xdist(pytester):
    pytest.importorskip("xdist")
    # Each test writes the same field and then checks it reads back its own value: with a shared
    # state across workers, a peer's reset or write would show through.
    tests = "".join(f'''
def test_w{i}(users_api):
    import time
    assert httpx.get(user_url(users_api, JANE), headers=auth(users_api)).json()["jobTitle"] != "w"
    assert httpx.patch(user_url(users_api, JANE), json={{"jobTitle": "w{i}"}}, headers=auth(users_api)).status_code == 200
    for _ in range(20):
        assert httpx.get(user_url(users_api, JANE), headers=auth(users_api)).json()["jobTitle"] == "w{i}"
''' for i in range(8))
    result = run(pytester, tests, "-n", "2")
    result.assert_outcomes(passed=8)


def test_projects_that_do_not_use_it_start_no_server(pytester):
    result = run(pytester, '''
import sys
def test_plain():
    assert "mockserver.app.build" not in sys.modules and "uvicorn" not in sys.modules
''')
    result.assert_outcomes(passed=1)


def test_connexions_deprecations_stay_out_of_the_consumers_run(pytester):
    """A consumer's run shows its own warnings, not Connexion's (its imports of jsonschema and Starlette)."""
    result = run(pytester, '''
import warnings

def test_uses_the_fake(users_api):
    assert httpx.get(user_url(users_api, JANE), headers=auth(users_api)).status_code == 200

def test_own_warning():
    warnings.warn("the consumer's own deprecation", DeprecationWarning)
''')
    result.assert_outcomes(passed=2)
    output = result.stdout.str()
    assert "the consumer's own deprecation" in output  # the consumer's warnings still show
    assert "site-packages" not in output and "RefResolver" not in output and "1 warning" in output, output
