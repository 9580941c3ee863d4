"""The HTTP side of a remote run: the runner's own client, the retry rules, the rate-limit wait, the paths.

:class:`Client` sends the runner's own requests (pre-flight, snapshots, restores, recordings, the
behavioural checks) with the run's token, timeout and TLS settings. Every request of a run, the
client's and Schemathesis', leaves the process through the transport guard
(:func:`mockserver.remote.safety.guard_requests`), which also applies :func:`send_with_retries`:
a connection that was refused or never opened is tried again for every method (the request was
not sent), a connection reset or closed before the answer only for GET, HEAD and OPTIONS (a write
may have arrived; it is never sent twice); and :class:`WaitBudget`: a 429, or a 503 with
Retry-After, is the gateway's rate limit, waited out within the run's budget. Proxies come from the usual environment variables
(``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``): nothing here switches ``trust_env`` off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from mockserver.remote.tls import TLSSettings, certificate_problem
from mockserver.spec import rules

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 2
RETRY_BACKOFF = 0.25  # seconds before the first retry; doubled for each next one
# The rate-limit wait: what one run may spend waiting out 429s (and 503s with Retry-After) in all.
DEFAULT_WAIT_BUDGET = 120.0
FIRST_WAIT = 0.5  # a 429 without Retry-After: this long first, then twice as long each time, up to MAX_BACKOFF
MAX_BACKOFF = 8.0
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


class RateLimited(requests.RequestException):
    """The target kept answering 429 (or 503 with Retry-After) after the run's wait budget was spent."""


@dataclass
class WaitBudget:
    """The seconds one run may spend waiting out the target's rate limit, shared by every request.

    A 429 Too Many Requests, and a 503 Service Unavailable that says when to come back (Retry-After),
    is the deployment's gateway asking to wait, never an answer of the API: the request is sent
    again after the wait (Retry-After when given, else 0.5 s, doubled each time, at most 8 s) as
    long as the budget lasts. When it is spent, :meth:`send` raises :class:`RateLimited`, and so
    does every later request (nothing more is sent) until :meth:`renewed` gives a last allowance
    (the restore of the changed users at the end of a run)."""

    seconds: float = DEFAULT_WAIT_BUDGET
    waited: float = 0.0
    waits: int = 0
    exhausted: str = ""  # one line when the budget ran out
    sleep: Callable[[float], None] = time.sleep
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send(self, send: Callable[[], Any], what: str) -> Any:
        """``send()``, again after each wait the target asks for, within the budget."""
        if self.exhausted:
            raise RateLimited(self.exhausted)
        attempt = 0
        while True:
            response = send()
            delay = wait_asked(response, attempt)
            if delay is None:
                return response
            with self._lock:
                if self.waited + delay > self.seconds:
                    self.exhausted = (
                        f"the target kept answering {response.status_code} {_REASONS[response.status_code]} "
                        f"(last: {what}); the {self.seconds:g} s wait budget (--wait-budget) ran out after "
                        f"{self.waits} wait(s): lower --rate-limit, or raise --wait-budget")
                    raise RateLimited(self.exhausted)
                self.waited += delay
                self.waits += 1
            response.close()
            self.sleep(delay)
            attempt += 1

    def renewed(self, seconds: float = 30.0) -> None:
        """A last allowance of ``seconds`` (after the budget ran out: for the restore)."""
        with self._lock:
            self.exhausted = ""
            self.seconds = self.waited + seconds


_REASONS = {429: "Too Many Requests", 503: "Service Unavailable"}


def wait_asked(response: Any, attempt: int = 0) -> float | None:
    """How long the target asks to wait before the request is sent again, or None (an answer).

    429: its Retry-After, else a backoff from the attempt; 503: only with Retry-After (without one
    it is the API's answer, which the checks judge)."""
    from schemathesis.core.rate_limit import parse_retry_after

    status = getattr(response, "status_code", None)
    if status not in (429, 503):
        return None
    delay = parse_retry_after(response.headers.get("Retry-After", "") or "")
    if delay is None:
        if status == 503:
            return None
        delay = min(MAX_BACKOFF, FIRST_WAIT * 2**attempt)
    return delay


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
    if isinstance(error, RateLimited):
        return str(error)
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
