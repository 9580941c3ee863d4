"""HTTPS targets: a certificate problem is exit 2 with one line naming what failed."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

from tests.contract_servers import fresh_fake
from tests.drift_support import run_cli

trustme = pytest.importorskip("trustme")


@pytest.fixture
def https_fake(tmp_path):
    def serve(*names: str):
        ca = trustme.CA()
        leaf = ca.issue_cert(*names)
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        leaf.private_key_and_cert_chain_pem.write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        app, _store = fresh_fake()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        server = uvicorn.Server(uvicorn.Config(app, ssl_certfile=str(cert), ssl_keyfile=str(key),
                                               log_level="critical", access_log=False, lifespan="off"))
        server.install_signal_handlers = lambda: None
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
        while not server.started:
            time.sleep(0.02)
        servers.append((server, sock))
        return sock.getsockname()[1]

    servers: list = []
    yield serve
    for server, sock in servers:
        server.should_exit = True
        sock.close()


@pytest.mark.parametrize("command", ["contract", "drift"])
def test_an_untrusted_certificate_is_exit_2_with_one_line(https_fake, command):
    port = https_fake("localhost")
    code, out, err = run_cli(command, f"https://localhost:{port}", "--phases", "examples", "--max-examples", "1")
    assert code == 2
    assert err.strip().count("\n") == 0, err
    assert "TLS: the server's certificate is not trusted" in err


def test_a_certificate_for_another_host_name_is_named(https_fake, tmp_path, monkeypatch):
    port = https_fake("other.example.test")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))  # trusted CA: only the name is wrong
    code, out, err = run_cli("contract", f"https://localhost:{port}", "--phases", "examples", "--max-examples", "1")
    assert code == 2
    assert "TLS: the server's certificate is for another host name" in err, err
