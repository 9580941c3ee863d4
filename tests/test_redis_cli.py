"""``--state``, ``--state-namespace`` and ``--workers`` as a user meets them: one clear line and exit 2
for every mistake, and a fake whose Redis goes away answering 503 problems until it is back."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import JANE, user_url
from tests.redis_support import RedisServer, redis_binary
from tests.support import Server, run_cli


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "2"], "--workers > 1 needs --state redis://"),
    (["--state", "http://user:secret@127.0.0.1:6379"], "--state http://... is not a redis:// or rediss:// URL"),
    (["--state", "redis://127.0.0.1:6379/0", "--state-file", "state.json"], "--state-file and --state exclude"),
])
def test_a_wrong_state_option_is_one_line_and_exit_2(args, message):
    done = run_cli(*args, "--port", "0")
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert "secret" not in done.stderr  # a URL's password is never printed


@pytest.mark.slow
def test_an_unreachable_redis_at_start_up_is_exit_2_with_the_reason():
    done = run_cli("--state", f"redis://127.0.0.1:{_closed_port()}/0", "--port", "0", timeout=60)
    assert done.returncode == 2
    assert "cannot start: the shared state (Redis) is not reachable" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_missing_redis_server_skips_locally_and_fails_in_ci(monkeypatch, tmp_path, ci):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no redis-server on it
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected, match="redis-server is not installed"):
        redis_binary()


@pytest.mark.slow
def test_a_replica_that_loses_redis_answers_503_problems_and_recovers_by_itself():
    redis = RedisServer()  # no persistence: the state is gone with it, and the replica seeds again
    try:
        with Server("--state", redis.url, "--state-namespace", "lost") as server:
            assert server.request("PATCH", user_url(JANE, version="v2"), token="acme-admin-token",
                                  body={"firstName": "Before"})[0] == 200
            redis.kill()
            for path, headers in ((user_url(JANE), None), (user_url(JANE), {"X-Mock-Session": "s1"})):
                status, answer_headers, body = server.request("GET", path, token="acme-admin-token", headers=headers)
                assert status == 503, body
                assert answer_headers["Content-Type"] == "application/problem+json"
                assert int(answer_headers["Retry-After"]) >= 1
                assert "Redis" in body["detail"] and "Traceback" not in body["detail"]
            status, _, body = server.request("POST", "/__admin/reset", token=server.admin_token())
            assert status == 503, body
            redis.start()
            assert server.wait_for(lambda: server.get(user_url(JANE))[0] == 200)
            assert server.get(user_url(JANE))[2]["firstName"] == "Jane"  # seeded again from its --seed
            _, output = server.stop()
        assert " 500" not in output and "Traceback" not in output
    finally:
        redis.stop()



@pytest.mark.slow
def test_rediss_with_the_ca_in_the_url_serves_and_without_it_cannot_start():
    redis = RedisServer(tls=True)
    try:
        with Server("--state", redis.url, "--state-namespace", "tls") as server:
            assert server.get(user_url(JANE))[0] == 200
            assert server.request("PATCH", user_url(JANE, version="v2"), token="acme-admin-token",
                                  body={"firstName": "OverTls"})[0] == 200
        done = run_cli("--state", redis.url.split("?")[0], "--port", "0", timeout=60)  # the system CAs: not ours
        assert done.returncode == 2
        assert "cannot start: the shared state (Redis) is not reachable" in done.stderr
    finally:
        redis.stop()
