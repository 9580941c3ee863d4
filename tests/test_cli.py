"""The ``mockserver`` command: the real process on a real port, and its failures."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from mockserver.cli import main
from tests.conftest import ACME, ACME_FILE, JANE
from tests.support import MOCKSERVER, Server, run_cli

pytestmark = pytest.mark.slow  # starts servers or runs whole contract, drift, kill or browser runs


@pytest.fixture
def server():
    started = Server()
    yield started
    if started.process.poll() is None:
        started.process.kill()
        started.process.wait()


def test_serves_the_bundled_fixtures_and_prints_tokens(server):
    banner = server.banner
    assert ACME in banner and "Acme Legal LLP" in banner
    assert "acme-admin-token" in banner and "jane-token" in banner
    assert "/ui/" in banner
    status, headers, body = server.get(f"/api/v1/customers/{ACME}/users/{JANE}")
    assert status == 200 and body["_id"] == JANE
    assert headers["content-type"] == "application/json"


def test_state_persists_across_requests_on_the_real_server(server):
    request = urllib.request.Request(
        f"{server.url}/api/v1/customers/{ACME}/users/{JANE}", method="DELETE",
        headers={"Authorization": "Bearer acme-admin-token"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    status, _, body = server.get(f"/api/v1/customers/{ACME}/users/{JANE}")
    assert status == 404 and body["status"] == 404


def test_sigterm_stops_cleanly(server):
    code, output = server.stop()
    assert code == 0, output
    assert "mockserver: stopped" in output
    assert "Traceback" not in output


def test_request_line_over_the_limit_is_a_problem(server):
    """A 100 KB search reaches the app (not the HTTP parser's plain-text 400) and gets a 414 problem."""
    target = f"/api/v1/customers/{ACME}/users?integration=cloud-assistant-cdr&search={'x' * 100_000}"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer acme-admin-token\r\nConnection: close\r\n\r\n".encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414")
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["status"] == 414


def test_no_server_header_reveals_the_stack(server):
    _, headers, _ = server.get(f"/api/v1/customers/{ACME}/users/{JANE}")
    assert "server" not in {k.lower() for k in headers}


def test_several_seed_files(tmp_path):
    document = json.loads(ACME_FILE.read_text())
    (tmp_path / "acme.json").write_text(json.dumps({"customers": document["customers"][:1], "tokens": document["tokens"][:4]}))
    (tmp_path / "birch.json").write_text(json.dumps({"customers": document["customers"][1:], "tokens": document["tokens"][4:5]}))
    started = Server("--seed", str(tmp_path / "acme.json"), "--seed", str(tmp_path / "birch.json"))
    try:
        assert "Birch & Stone LLP" in started.banner
        status, _, body = started.get("/api/v1/customers/6500000000000000000000b2/users?integration=cloud-assistant-cdr", token="birch-admin-token")
        assert status == 200 and len(body) == 6
    finally:
        started.stop()


def test_bad_fixture_file_exits_2_listing_every_problem(tmp_path):
    document = json.loads(ACME_FILE.read_text())
    users = document["customers"][0]["users"]
    users[0]["email"] = "nope"
    users[1]["roleIds"] = ["6500000000000000000009ff"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    result = run_cli("--seed", str(bad), "--port", "0")
    assert result.returncode == 2
    assert "2 problems in the fixtures" in result.stderr
    assert f"{bad}: $.customers[0].users[0].email" in result.stderr
    assert f"{bad}: $.customers[0].users[1].roleIds[0]" in result.stderr
    assert "serving" not in result.stdout and "Traceback" not in result.stderr


def test_malformed_fixture_exits_2_with_line_and_column(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"customers": [}')
    result = run_cli("--seed", str(bad), "--port", "0")
    assert result.returncode == 2 and "line 1 column 16" in result.stderr


def test_missing_fixture_file_exits_2(tmp_path):
    result = run_cli("--seed", str(tmp_path / "missing.json"), "--port", "0")
    assert result.returncode == 2 and "missing.json: cannot read the file" in result.stderr


@pytest.mark.parametrize("args,fragment", [
    (["--port", "notaport"], "--port"),
    (["--port", "70000"], "--port"),
    (["--no-such-flag"], "--no-such-flag"),
    (["--max-body-bytes", "0"], "--max-body-bytes"),
])
def test_bad_flags_exit_2_with_a_clear_message(args, fragment, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Error" in err


def test_port_in_use_exits_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("--port", str(port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_binding_beyond_loopback_warns():
    process = subprocess.Popen([*MOCKSERVER, "--host", "0.0.0.0", "--port", "0", "--no-access-log"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        process.stdout.readline()
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=15)
    assert "WARNING: listening on 0.0.0.0" in err


def test_help_lists_the_options():
    result = run_cli("--help")
    assert result.returncode == 0
    for option in ("--seed", "--host", "--port", "--any-token"):
        assert option in result.stdout


def test_installed_console_script_is_the_same_entry_point():
    script = Path(sys.executable).parent / "mockserver"
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    assert os.access(script, os.X_OK)
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "--seed" in result.stdout
