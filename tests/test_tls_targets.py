"""HTTPS targets and unreliable networks (mockserver.remote): a certificate problem is exit 2 with
one line naming what failed; --cacert, --insecure and --cert/--key work for contract, record and
drift; bad TLS options are one line; the proxy variables are honoured; a connection reset before
an answer is retried for reads, and a target that keeps resetting is one line."""

from __future__ import annotations

import socket
import threading

import pytest
import requests
import urllib3

from mockserver.remote.client import not_sent, send_with_retries
from mockserver.remote.tls import INSECURE_WARNING
from tests.drift_support import run_cli
from tests.support import LiveServer, fresh_fake

pytestmark = pytest.mark.slow  # starts servers or runs whole contract, drift, kill or browser runs

pytest.importorskip("trustme")  # the https_fake fixture (tests/conftest.py) needs it
FAST = {"contract": ("--phases", "examples", "--max-examples", "1"),
        "drift": ("--phases", "examples", "--steps", "0"),
        "record": ()}


def command_line(command: str, url: str, tmp_path, *extra: str) -> list[str]:
    """The command against ``url``, quick (one example, no model steps), no rate limit."""
    args = [command, url, *FAST[command], "--rate-limit", "off", *extra]
    if command == "record":
        args += ["--customer-id", "6500000000000000000000a1", "-o", str(tmp_path / "recorded.json")]
    return args


def one_line(err: str) -> str:
    assert err.strip().count("\n") == 0, err
    return err.strip()


@pytest.mark.parametrize("command", ["contract", "drift", "record"])
def test_an_untrusted_certificate_is_exit_2_with_one_line(https_fake, command, tmp_path):
    port = https_fake("localhost")
    code, out, err = run_cli(*command_line(command, f"https://localhost:{port}", tmp_path))
    assert code == 2
    assert "TLS: the server's certificate is not trusted" in one_line(err)


@pytest.mark.parametrize("command", ["contract", "drift", "record"])
def test_cacert_makes_a_private_ca_trusted(https_fake, command, tmp_path):
    port = https_fake("localhost")
    code, out, err = run_cli(*command_line(command, f"https://localhost:{port}", tmp_path,
                                           "--cacert", str(tmp_path / "ca.pem")))
    assert code == 0, (out, err)
    assert "an https target is never the fake" in out + err or command == "record"
    assert command == "record" or "TLS: certificates signed by" in out
    if command == "record":
        assert (tmp_path / "recorded.json").is_file()


@pytest.mark.parametrize("command", ["contract", "record"])
def test_insecure_skips_verification_with_one_warning(https_fake, command, tmp_path):
    port = https_fake("localhost")
    code, out, err = run_cli(*command_line(command, f"https://localhost:{port}", tmp_path, "--insecure"))
    assert code == 0, (out, err)
    assert err.count(INSECURE_WARNING) == 1
    assert "InsecureRequestWarning" not in err


def test_an_expired_certificate_is_named(https_fake, tmp_path):
    port = https_fake("localhost", expired=True)
    code, out, err = run_cli(*command_line("contract", f"https://localhost:{port}", tmp_path,
                                           "--cacert", str(tmp_path / "ca.pem")))
    assert code == 2
    assert "TLS: the server's certificate has expired" in one_line(err)


def test_a_certificate_for_another_host_name_is_named(https_fake, tmp_path):
    port = https_fake("other.example.test")
    code, out, err = run_cli(*command_line("contract", f"https://localhost:{port}", tmp_path,
                                           "--cacert", str(tmp_path / "ca.pem")))
    assert code == 2
    assert "TLS: the server's certificate is for another host name" in one_line(err)


def test_the_ca_bundle_variable_of_requests_is_honoured(https_fake, tmp_path, monkeypatch):
    port = https_fake("other.example.test")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))  # trusted CA: only the name is wrong
    code, out, err = run_cli(*command_line("record", f"https://localhost:{port}", tmp_path))
    assert code == 2
    assert "TLS: the server's certificate is for another host name" in one_line(err)


@pytest.mark.parametrize("command", ["contract", "record"])
def test_a_server_that_wants_a_client_certificate(https_fake, command, tmp_path):
    port = https_fake("localhost", client_ca=True)
    url = f"https://localhost:{port}"
    code, out, err = run_cli(*command_line(command, url, tmp_path, "--cacert", str(tmp_path / "ca.pem")))
    assert code == 2
    assert "client certificate" in one_line(err) and "--cert" in err
    code, out, err = run_cli(*command_line(command, url, tmp_path, "--cacert", str(tmp_path / "ca.pem"),
                                           "--cert", str(tmp_path / "client.pem"),
                                           "--key", str(tmp_path / "client-key.pem")))
    assert code == 0, (out, err)


@pytest.mark.parametrize(("extra", "message"), [
    (("--key", "k.pem"), "--key needs --cert"),
    (("--cacert", "missing.pem"), "--cacert missing.pem: no such file"),
    (("--insecure", "--cacert", "ca.pem"), "--insecure and --cacert contradict each other"),
    (("--cert", "garbage.pem"), "--cert garbage.pem: cannot load the client certificate"),
])
@pytest.mark.parametrize("command", ["contract", "drift", "record"])
def test_bad_tls_options_are_one_line(command, extra, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    code, out, err = run_cli(*command_line(command, "https://localhost:9", tmp_path, *extra))
    assert code == 2
    assert message in one_line(err)


def test_the_proxy_variables_are_honoured(https_fake, tmp_path, monkeypatch):
    port = https_fake("localhost")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{dead}")
    code, out, err = run_cli(*command_line("record", f"https://localhost:{port}", tmp_path,
                                           "--cacert", str(tmp_path / "ca.pem")))
    assert code == 2 and "cannot reach" in one_line(err)  # through the (dead) proxy, not directly
    monkeypatch.setenv("NO_PROXY", "localhost")
    code, out, err = run_cli(*command_line("record", f"https://localhost:{port}", tmp_path,
                                           "--cacert", str(tmp_path / "ca.pem")))
    assert code == 0, err


# -- retries -------------------------------------------------------------------------------------


class ResettingRelay:
    """A loopback TCP relay to ``upstream`` that resets (RST) the first ``resets`` connections
    carrying a Users API request, after reading it; the others are relayed byte for byte."""

    def __init__(self, upstream_port: int, resets: int):
        self.upstream_port, self.resets, self.reset_count = upstream_port, resets, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket):
        first = conn.recv(65536)
        with self.lock:
            reset = b" /api/" in first[:80] and (self.resets < 0 or self.reset_count < self.resets)
            if reset:
                self.reset_count += 1
        if reset:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        upstream.sendall(first)

        def pump(source, sink):
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for end in (source, sink):
                    try:
                        end.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(upstream, conn), daemon=True).start()
        pump(conn, upstream)

    def close(self):
        self.listener.close()


@pytest.mark.parametrize("command", ["contract", "record"])
def test_a_connection_reset_before_the_answer_of_a_read_is_retried(command, tmp_path):
    app, _store = fresh_fake()
    with LiveServer(app) as fake:
        relay = ResettingRelay(fake.port, resets=1)
        try:
            code, out, err = run_cli(*command_line(command, relay.url, tmp_path))
        finally:
            relay.close()
    assert relay.reset_count == 1
    assert code == 0, (out, err)
    for alarming in ("connection reset", "connection aborted", "cannot reach", "could not", "Errors (", "INCOMPLETE"):
        assert alarming not in out + err, alarming


def test_a_target_that_keeps_resetting_is_one_line(tmp_path):
    app, _store = fresh_fake()
    with LiveServer(app) as fake:
        relay = ResettingRelay(fake.port, resets=-1)
        try:
            code, out, err = run_cli(*command_line("contract", relay.url, tmp_path))
        finally:
            relay.close()
    assert code == 2
    assert "cannot reach" in one_line(err)
    assert relay.reset_count == 3  # the request and its two retries


def _refused() -> requests.ConnectionError:
    reason = urllib3.exceptions.NewConnectionError(None, "Connection refused")
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))


def _reset() -> requests.ConnectionError:
    return requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104)))


@pytest.mark.parametrize(("method", "error", "attempts"), [
    ("GET", _refused(), 3), ("PATCH", _refused(), 3),  # never sent: any method may be sent again
    ("GET", _reset(), 3), ("HEAD", _reset(), 3),  # a read may have been sent: it is sent again
    ("PATCH", _reset(), 1), ("DELETE", _reset(), 1),  # a write may have arrived: never sent twice
    ("GET", requests.exceptions.ReadTimeout(), 1), ("GET", requests.exceptions.SSLError(), 1),
])
def test_what_is_retried(method, error, attempts):
    calls = []

    def send():
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        send_with_retries(send, method, retries=2, backoff=0)
    assert len(calls) == attempts
    assert not_sent(_refused()) is True and not_sent(_reset()) is False


def test_a_retry_that_succeeds_answers():
    answers = iter([_reset(), "answer"])

    def send():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert send_with_retries(send, "GET", retries=2, backoff=0) == "answer"
