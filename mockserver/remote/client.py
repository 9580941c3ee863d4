"""The HTTP side of a remote run: the runner's own client, the retry rules, the 429 wait, the paths.

:class:`Client` sends the runner's own requests (pre-flight, snapshots, restores, recordings, the
behavioural checks) with the run's token, timeout and TLS settings. Every request of a run, the
client's and Schemathesis', leaves the process through the transport guard
(:func:`mockserver.remote.safety.guard_requests`), which also applies :func:`send_with_retries`:
a connection that was refused or never opened is tried again for every method (the request was
not sent), a connection reset or closed before the answer only for GET, HEAD and OPTIONS (a write
may have arrived; it is never sent twice). Proxies come from the usual environment variables
(``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``): nothing here switches ``trust_env`` off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from mockserver.remote.tls import TLSSettings, certificate_problem
from mockserver.spec import rules

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 2
RETRY_BACKOFF = 0.25  # seconds before the first retry; doubled for each next one
RETRIES_AFTER_429 = 3
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


# The API paths are spelled once, with the rules (re-exported for the checkers).
users_path = rules.users_path
user_path = rules.user_path
lookup_path = rules.lookup_path


class Client:
    """The runner's own requests, with the run's token, timeout and TLS settings."""

    def __init__(self, origin: str, token: str | None, timeout: float = DEFAULT_TIMEOUT, *,
                 tls: TLSSettings | None = None, user_agent: str = "mockserver-contract"):
        self.origin = origin
        self.timeout = timeout
        self.tls = tls or TLSSettings()
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.session.verify = self.tls.verify
        self.session.cert = self.tls.client_cert
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        # ``verify`` on every request: requests lets $REQUESTS_CA_BUNDLE override the session's own.
        kwargs.setdefault("verify", self.tls.verify)
        return self.session.request(method, self.origin + path, timeout=self.timeout, **kwargs)

    def send(self, prepared: requests.PreparedRequest, **kwargs) -> requests.Response:
        """Send a prepared request as :meth:`request` would (timeout, TLS, proxies from the environment)."""
        settings = self.session.merge_environment_settings(prepared.url, {}, None, self.tls.verify,
                                                           self.tls.client_cert)
        return self.session.send(prepared, timeout=self.timeout, **{**settings, **kwargs})

    def close(self) -> None:
        self.session.close()


def json_or_none(response) -> Any:
    """The answer's JSON body, or None when it has none (or not a valid one)."""
    try:
        return response.json()
    except Exception:  # requests' JSONDecodeError, or a transport's own
        return None


def retry_after_429(send: Callable[[], Any], retries: int = RETRIES_AFTER_429) -> Any:
    """``send()``, again after a 429 Too Many Requests (waiting its Retry-After, at most a
    minute, else a second), at most ``retries`` more times: the deployment's own rate limit."""
    from schemathesis.core.rate_limit import parse_retry_after

    for _attempt in range(retries):
        response = send()
        if response.status_code != 429:
            return response
        delay = parse_retry_after(response.headers.get("Retry-After", ""))
        time.sleep(1.0 if delay is None else delay)
    return send()


def not_sent(error: BaseException) -> bool | None:
    """True: the request never left (connection refused, connect timeout); False: the connection
    broke after it may have been sent (reset, closed before the answer); None: not a network
    failure that a retry could cure (TLS, a read timeout, a proxy, a bad URL)."""
    import urllib3.exceptions as u3

    if isinstance(error, (requests.exceptions.SSLError, requests.exceptions.ProxyError, requests.exceptions.ReadTimeout)):
        return None
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(error, requests.ConnectionError):
        return None
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", None) or reason  # urllib3's MaxRetryError wraps the cause
    if isinstance(reason, u3.NameResolutionError):
        return None
    if isinstance(reason, (u3.NewConnectionError, u3.ConnectTimeoutError)):
        return True
    if isinstance(reason, (u3.ProtocolError, ConnectionError)):
        return False
    return None


def send_with_retries(send: Callable[[], Any], method: str, retries: int = DEFAULT_RETRIES,
                      backoff: float = RETRY_BACKOFF) -> Any:
    """``send()``, again (at most ``retries`` more times, after ``backoff``, then twice as long) when
    the connection was refused, or was reset before the answer of a GET, HEAD or OPTIONS."""
    attempt = 0
    while True:
        try:
            return send()
        except requests.RequestException as error:
            unsent = not_sent(error)
            if attempt >= retries or unsent is None or (not unsent and str(method).upper() not in IDEMPOTENT):
                raise
        time.sleep(backoff * 2**attempt)
        attempt += 1


def network_reason(error: Exception) -> str:
    """One short phrase for a request that got no answer."""
    certificate = certificate_problem(error)
    if certificate is not None:
        return certificate
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host",
                   "Temporary failure in name resolution", "certificate verify failed", "Connection reset",
                   "Connection aborted"):
        if marker in text:
            return marker.lower()
    return type(error).__name__
