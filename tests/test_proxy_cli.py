"""``mockserver proxy`` as a command: the banner, the stop summary and its exit codes on SIGTERM and
Ctrl-C, the errors that keep it from starting (exit 2, one line), and no token in its output."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from mockserver.remote.tls import INSECURE_WARNING
from tests.conftest import INTEGRATION, JANE, user_url, users_url
from tests.proxy_support import raw
from tests.support import ProxyProcess, Server

pytestmark = pytest.mark.slow  # real processes

JANE_TOKEN = [("Authorization", "Bearer jane-token")]


@pytest.fixture
def env(tmp_path):
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    return {**os.environ, "MOCKSERVER_RUNTIME_DIR": str(runtime), "NO_PROXY": "127.0.0.1,localhost"}


@pytest.fixture
def fake(env):
    with Server(env=env) as server:
        yield server


def clean_traffic(port: int) -> None:
    assert raw(port, "GET", f"{users_url()}?{INTEGRATION}", JANE_TOKEN)[0] == 200
    assert raw(port, "GET", user_url(JANE), JANE_TOKEN)[0] == 200
    assert raw(port, "PATCH", user_url(JANE), [*JANE_TOKEN, ("Content-Type", "application/json")],
               b'{"jobTitle": "Partner"}')[0] == 200


def test_a_clean_run_stops_on_sigterm_with_exit_0_even_with_fail_on_violation(fake, env):
    with ProxyProcess(fake.url, "--fail-on-violation", env=env) as proxy:
        assert proxy.url and proxy.url.startswith("http://127.0.0.1:"), proxy.output
        banner = proxy.output
        assert f"Target: {fake.url}" in banner and "every method is forwarded" in banner and "fake" in banner
        assert "admin token: admin-" in banner
        clean_traffic(proxy.port)
        code, _ = proxy.stop()
    assert code == 0, proxy.output
    assert "3 request(s), 3 forwarded, 0 refused" in proxy.output and "0 violation(s)" in proxy.output
    assert "jane-token" not in proxy.output


@pytest.mark.parametrize(("flags", "expected"), [(("--fail-on-violation=any",), 1), (("--fail-on-violation",), 0),
                                                 ((), 0)])
def test_a_client_violation_makes_sigterm_exit_1_only_with_fail_on_violation_any(fake, env, flags, expected):
    with ProxyProcess(fake.url, *flags, env=env) as proxy:
        clean_traffic(proxy.port)
        assert raw(proxy.port, "GET", f"{users_url()}?search=jane", JANE_TOKEN)[0] == 400
        token = proxy.admin_token()
        listed = httpx.get(proxy.url + "/__admin/violations", headers={"Authorization": f"Bearer {token}"}).json()
        assert [(v["operationId"], v["check"]) for v in listed["violations"]] == [
            ("list_users", "request_parameters_conformance")]
        code, _ = proxy.stop()
    assert code == expected, proxy.output
    out = proxy.output
    assert "VIOLATION list_users request_parameters_conformance: missing required query parameter 'integration'" in out
    assert "curl -X GET -H 'authorization: Bearer ***'" in out and "jane-token" not in out
    assert "1 violation(s): 0 by the deployment, 1 in the client's requests" in out
    assert "list_users" in out.split("1 violation(s)")[1]


def test_ctrl_c_stops_it_like_sigterm(fake, env):
    with ProxyProcess(fake.url, "--fail-on-violation=any", env=env) as proxy:
        raw(proxy.port, "GET", user_url(JANE), [])  # no token: a request violation
        code, _ = proxy.stop(signal.SIGINT)
    assert code == 1 and "get_user" in proxy.output and "request_authorization" in proxy.output


def test_a_target_that_is_not_the_fake_is_read_only_and_says_why(env):
    with ProxyProcess("http://127.0.0.1:9", env=env) as proxy:
        assert "read-only: only GET, HEAD and OPTIONS are forwarded" in proxy.output
        assert "nothing answered the identity check" in proxy.output
        status, _, body = raw(proxy.port, "DELETE", user_url(JANE), JANE_TOKEN)
        assert status == 403 and b"--allow-writes" in body
        assert proxy.stop()[0] == 0


@pytest.mark.parametrize(("args", "message"), [
    (("https://staging.example.com/api/v1",), "names the spec's own paths"),
    (("https://staging.example.com/identity?x=1",), "has a query or fragment"),
    (("ftp://x",), "is not an http:// or https:// origin"),
    (("https://staging.example.com", "--key", "k.pem"), "--key needs --cert"),
    (("https://staging.example.com", "--cacert", "missing.pem"), "--cacert missing.pem: no such file"),
])
def test_what_keeps_it_from_starting_is_one_line_and_exit_2(env, args, message):
    with ProxyProcess(*args, env=env) as proxy:
        code = proxy.process.wait(timeout=30)
    assert code == 2 and proxy.url is None
    assert len(proxy.errors) == 1 and message in proxy.errors[0] and "Traceback" not in proxy.output


def test_insecure_prints_the_warning(env):
    with ProxyProcess("https://127.0.0.1:9", "--insecure", env=env) as proxy:
        assert INSECURE_WARNING in proxy.output
        assert proxy.stop()[0] == 0


def test_a_port_in_use_is_exit_2_with_one_line(env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "mockserver", "proxy", "https://staging.example.com", "--port",
                               str(port)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and done.stdout == ""
