"""The smaller things a frontend developer meets in a morning with the fake, each as a user meets it:
a trailing slash, Swagger UI's Servers, messages that say what to do, the command's --version and
`fixtures validate`, the admin token kept with --state-file, a Host other than localhost refused."""

from __future__ import annotations

import copy
import json
import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.app.build import ServerOptions, create_app
from mockserver.store.memory import Store
from tests.conftest import ACME_FILE, JANE, JANE_AUTH, user_url, users_url
from tests.support import ProxyProcess, Server, assert_problem, parse_response, raw_request, run_cli

ADMIN_TOKEN = "daily-admin-token"


@pytest.fixture
def dclient(seed):
    app = create_app(Store(seed), ServerOptions(admin_token=ADMIN_TOKEN, allowed_hosts=("testserver",)))
    with app.test_client() as client:
        yield client


# -- a trailing slash is the same operation (docs/choices.md) ------------------------------------------


@pytest.mark.parametrize("method,path,body", [
    ("GET", user_url(JANE) + "/", None),
    ("PATCH", user_url(JANE) + "/", {"nickname": "JJ"}),
    ("GET", users_url() + "/?integration=cloud-assistant-cdr", None),
    ("HEAD", user_url(JANE) + "/", None),
])
def test_a_trailing_slash_answers_the_same_operation(dclient, method, path, body):
    response = dclient.request(method, path, json=body, headers=JANE_AUTH, follow_redirects=False)
    assert response.status_code == 200, response.text
    assert "location" not in response.headers
    if method == "PATCH":
        assert response.json()["nickname"] == "JJ"
        assert dclient.get(user_url(JANE), headers=JANE_AUTH).json()["nickname"] == "JJ"


def test_a_trailing_slash_keeps_the_routes_rules(dclient):
    response = dclient.post(user_url(JANE) + "/", headers=JANE_AUTH, follow_redirects=False)
    assert_problem(response, 405)
    assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"
    assert_problem(dclient.get(user_url(JANE) + "/", follow_redirects=False), 401)


# -- Swagger UI's Servers dropdown ---------------------------------------------------------------------


def test_the_served_spec_keeps_the_contracts_servers(dclient):
    from mockserver.spec.schemas import load_spec

    servers = dclient.get("/openapi.json").json()["servers"]
    assert servers == load_spec()["servers"] and servers[0]["url"] == "/"


# -- wording -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers,body,status,fragments,absent", [
    (JANE_AUTH, {"firstName": None}, 400, ["body.firstName: expected string, got null"], ["None"]),
    (JANE_AUTH, {"jobtitle": "CTO"}, 400, ["unexpected field 'jobtitle'", "did you mean jobTitle?"], []),
    (JANE_AUTH, {"nicknme": "JJ"}, 400, ["did you mean nickname?"], []),
    (JANE_AUTH, {"zzzzzz": 1}, 400, ["unexpected field 'zzzzzz'"], ["did you mean"]),
    ({"Authorization": "jane-token"}, {"nickname": "x"}, 401, ["no scheme", "Authorization: Bearer <token>"],
     ["jane-token"]),
    ({"Authorization": "Bearer"}, {"nickname": "x"}, 401, ["has no token"], []),
    ({"Authorization": "Basic amFuZTp4"}, {"nickname": "x"}, 401, ["'Basic' scheme", "Bearer <token>"], ["amFu"]),
    ({"Authorization": "Bearer not-a-known-token"}, {"nickname": "x"}, 401, ["--any-token"], ["not-a-known"]),
])
def test_messages_say_what_to_do(dclient, headers, body, status, fragments, absent):
    response = dclient.patch(user_url(JANE), json=body, headers=headers)
    problem = assert_problem(response, status, *fragments)
    for text in absent:
        assert text not in problem["detail"]
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_415_names_the_media_types_in_words(dclient):
    response = dclient.patch(user_url(JANE), content=b"nickname=x", headers={**JANE_AUTH, "Content-Type": "text/plain"})
    problem = assert_problem(response, 415, "text/plain", "application/json")
    assert "[" not in problem["detail"] and "'" not in problem["detail"]


# -- a fixture integer beyond 64 bits --------------------------------------------------------------------


def wide_fixture(tmp_path, value: int):
    document = json.loads(ACME_FILE.read_text())
    document["customers"][0]["roles"][0]["permissions"][0]["level"] = value
    path = tmp_path / "wide.json"
    path.write_text(json.dumps(document))
    return path, document


@pytest.mark.slow  # runs the command
def test_an_integer_beyond_64_bits_is_a_validation_problem(tmp_path, dclient):
    path, document = wide_fixture(tmp_path, 2**70)
    result = run_cli("fixtures", "validate", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.strip().splitlines() == [
        f"{path}: $.customers[0].roles[0].permissions[0].level: {2**70} is an integer beyond 64 bits "
        f"(from {-2**63} to {2**63 - 1}); write it as a string"]
    assert "Traceback" not in result.stderr
    # The admin API refuses the same document with the same line.
    response = dclient.put("/__admin/fixtures", content=json.dumps(document),
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"})
    problem = assert_problem(response, 422, "beyond 64 bits")  # JSON, with a value no fixture may hold
    assert problem["problems"] == [result.stdout.strip().replace(str(path), "<body>")]
    # The largest 64-bit integer is fine.
    path, _ = wide_fixture(tmp_path, 2**63 - 1)
    assert run_cli("fixtures", "validate", str(path)).returncode == 0


# -- the command: --version, fixtures validate -----------------------------------------------------------


@pytest.mark.slow  # runs the command
def test_version():
    from mockserver import __version__

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"mockserver {__version__}"


@pytest.mark.slow  # runs the command
def test_fixtures_validate(tmp_path):
    ok = run_cli("fixtures", "validate", str(ACME_FILE))
    assert ok.returncode == 0 and ok.stdout.strip() == f"{ACME_FILE}: valid: 2 customer(s), 36 user(s), 6 token(s)"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"customers": [{"_id": "x"}], "tokens": [{"token": "t", "customerIds": ["nope"]}]}))
    bad = run_cli("fixtures", "validate", str(broken))
    lines = bad.stdout.strip().splitlines()
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert len(lines) >= 3 and all(line.startswith(f"{broken}: $.") for line in lines), lines
    assert any("not an ObjectId" in line for line in lines) and any("missing required field" in line for line in lines)
    missing = run_cli("fixtures", "validate", str(tmp_path / "missing.json"))
    assert missing.returncode == 2 and missing.stdout.strip().endswith("missing.json: cannot read the file: "
                                                                        "No such file or directory")
    assert run_cli("fixtures", "validate").returncode == 2  # no file: a usage error


@pytest.mark.slow  # runs the command
@pytest.mark.parametrize("shell,marker", [("bash", "_mockserver_completion"), ("zsh", "#compdef mockserver"),
                                          ("fish", "complete --no-files --command mockserver")])
def test_shell_completion_as_docs_fixtures_md_says(shell, marker):
    import subprocess

    from tests.support import MOCKSERVER

    env = {**os.environ, "_MOCKSERVER_COMPLETE": f"{shell}_source"}
    result = subprocess.run(MOCKSERVER, capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 0 and marker in result.stdout, result.stdout[:500] + result.stderr[-500:]
    assert f"_MOCKSERVER_COMPLETE={shell}_source mockserver" in (ACME_FILE.parent.parent / "docs" / "fixtures.md").read_text()


# -- Host: a guard against DNS rebinding ------------------------------------------------------------------


@pytest.mark.parametrize("host,status", [
    ("127.0.0.1:8080", 200), ("localhost:8080", 200), ("[::1]:8080", 200), ("app.localhost", 200),
    ("10.1.2.3", 200), ("testserver", 200), ("LOCALHOST.", 200),
    ("evil.example", 403), ("evil.example:8080", 403), ("localhost.evil.example", 403), ("127.0.0.1.nip.io", 403),
])
def test_only_loopback_names_ips_and_allowed_hosts_are_answered(dclient, host, status):
    response = dclient.get(user_url(JANE), headers={**JANE_AUTH, "Host": host})
    assert response.status_code == status, response.text
    if status == 403:
        assert_problem(response, 403, "is not allowed", "--allowed-host")
        # The admin API and the dashboard are guarded too.
        admin = dclient.get("/__admin/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Host": host})
        assert_problem(admin, 403, "--allowed-host")


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-:[]", min_size=1, max_size=40))
def test_any_host_value_is_answered_or_refused_never_an_error(seed_document, host):
    from mockserver.server.middleware import host_allowed

    app = create_app(Store(copy.deepcopy(seed_document)), ServerOptions(allowed_hosts=()))
    with app.test_client() as client:
        status = client.get(user_url(JANE), headers={**JANE_AUTH, "Host": host}).status_code
    assert status == (200 if host_allowed(host, ()) else 403)


@pytest.mark.slow
def test_the_command_and_the_proxy_refuse_another_host(tmp_path):
    request = f"GET {user_url(JANE)} HTTP/1.1\r\nHost: {{}}\r\nAuthorization: Bearer jane-token\r\nConnection: close\r\n\r\n"
    env = {**os.environ, "MOCKSERVER_RUNTIME_DIR": str(tmp_path), "NO_PROXY": "127.0.0.1,localhost"}
    os.chmod(tmp_path, 0o700)
    with Server("--allowed-host", "mock.test", env=env) as fake:
        for host, status in (("evil.example", 403), ("mock.test", 200), (f"127.0.0.1:{fake.port}", 200)):
            answer = parse_response(raw_request(fake.port, request.format(host).encode()))
            assert answer[0] == status, (host, answer)
        with ProxyProcess(fake.url, env=env) as proxy:
            assert proxy.url, proxy.output
            refused = parse_response(raw_request(proxy.port, request.format("evil.example").encode()))
            assert refused[0] == 403 and b"--allowed-host" in refused[2]
            assert parse_response(raw_request(proxy.port, request.format("localhost").encode()))[0] == 200


# -- the admin token kept for a state file; a ready-to-open dashboard link -----------------------------------


@pytest.mark.slow
def test_the_admin_token_is_kept_for_a_state_file_and_the_banner_links_the_dashboard(tmp_path):
    state = tmp_path / "state.json"
    with Server("--state-file", str(state)) as first:
        token = first.admin_token()
        link = f"{first.url}/__admin/ui/#token={token}"
        assert f"ready to open: {link}" in first.banner
        status, _, _ = first.request("GET", "/__admin/status", token=token)
        assert status == 200
    kept = tmp_path / "state.json.admin-token"
    assert kept.read_text().strip() == token and stat.S_IMODE(kept.stat().st_mode) == 0o600
    with Server("--state-file", str(state)) as second:
        assert second.admin_token() == token
    with Server() as other:  # no state file: a new token each start
        assert other.admin_token() != token
    with Server("--state-file", str(state), "--admin-token", "given-token") as given:
        assert given.admin_token() == "given-token"
