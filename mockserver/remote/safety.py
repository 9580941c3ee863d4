"""What a remote run may send to a target, and the guard that enforces it on the wire.

:func:`target_policy` is the one safety decision of every remote command (contract, record,
drift, the proxy): is this target the fake (:mod:`mockserver.server.identity`), and which methods may be
sent to it. It is decided once per run from the target and the flags (:func:`decide_policy`), then
enforced at the transport level by :func:`guard_requests`: every request Schemathesis (or the runner
itself) sends goes through ``requests.Session.send``, so that is where a refused method is stopped,
whichever phase, probe or check produced it. Filtering operations and switching off Schemathesis'
undocumented-method probes keeps such requests from being generated in the first place; the guard
is what makes "no writing method reaches the target" hold even if a future Schemathesis version
finds a new way to send one.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from mockserver.core.loopback import is_loopback
from mockserver.remote.client import DEFAULT_RETRIES, WaitBudget, send_with_retries
from mockserver.spec.routes import SAFE_METHODS, RouteTable
from mockserver.spec.schemas import load_spec

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
# The routes whose users may be written: a user of a customer (PATCH v1 and v2, DELETE), as the spec says.
USER_PARAMETERS = ("customerId", "userId")


@functools.cache
def _routes() -> RouteTable:
    return RouteTable(load_spec())


def written_user(path: str) -> tuple[str, str] | None:
    """(customer id, user id) when ``path`` is one user of one customer in the spec, else None."""
    route = _routes().match(path)
    if route is None or route.parameters != USER_PARAMETERS:
        return None
    params = route.params(path)
    return params["customerId"], params["userId"]


class UsageProblem(ValueError):
    """A bad combination of options or a bad value: the run cannot start (exit code 2)."""


@dataclass(frozen=True)
class Target:
    """The deployment: its origin (scheme, host, port) and the base path its gateway serves the
    spec's paths under (``/identity`` in ``https://host/identity/api/v1/...``; "" for none)."""

    origin: str
    host: str
    scheme: str = "http"
    port: int | None = None
    base_path: str = ""

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    @property
    def base(self) -> str:
        """Where the spec's paths go: the origin, plus the base path."""
        return self.origin + self.base_path

    def spec_path(self, path: str) -> str:
        """``path`` as the spec names it: without the base path (unchanged when it is not under it)."""
        return strip_base(path, self.base_path)


def strip_base(path: str, base_path: str) -> str:
    """``path`` without the leading ``base_path`` ("/identity/api/v1/x" -> "/api/v1/x")."""
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        return path[len(base_path):] or "/"
    return path


_SPEC_PREFIXES = ("/api/v1", "/api/v2")


def parse_target(url: str) -> Target:
    """``http(s)://host[:port][/base/path]``: the spec's paths (``/api/v1/...``, ``/api/v2/...``) go
    under the base path, as a gateway serves them; no query, no fragment, no credentials."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # validates the port
    except ValueError as err:
        raise UsageProblem(f"URL {url!r} is not valid: {err}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageProblem(f"URL {url!r} is not an http:// or https:// origin such as https://staging.example.com")
    if parts.query or parts.fragment:
        raise UsageProblem(f"URL {url!r} has a query or fragment; give the deployment's origin, and its base path "
                           "if a gateway serves the API under one (https://host/identity)")
    base_path = parts.path.rstrip("/")
    if any(f"{prefix}/" in base_path + "/" for prefix in _SPEC_PREFIXES):
        raise UsageProblem(f"URL {url!r} names the spec's own paths; give the part in front of /api/v1 "
                           "(https://host or https://host/identity): the spec's paths go under it")
    if base_path and (not re.fullmatch(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+", base_path)
                      or any(segment in (".", "..") for segment in base_path.split("/"))):
        raise UsageProblem(f"URL {url!r}: the base path {base_path!r} is not a plain path (/identity)")
    if parts.username or parts.password:
        raise UsageProblem("URL must not carry credentials; pass the token with --token or the environment")
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    origin = f"{parts.scheme}://{shown}" + (f":{port}" if port is not None else "")
    return Target(origin=origin, host=host, scheme=parts.scheme, port=port, base_path=base_path)


is_loopback_host = is_loopback  # the one rule: mockserver.core.loopback


@dataclass(frozen=True)
class Policy:
    """Which methods may reach the target.

    ``unrestricted`` (the local fake without safety flags): everything, including the undocumented
    methods Schemathesis probes with. Otherwise GET/HEAD/OPTIONS always; PATCH when ``allow_patch``
    and DELETE when ``allow_delete``, each only on ``/api/v{1,2}/customers/<customer>/users/<user>``
    of the run's customer and, when ``users`` is not None, only for those users.
    """

    unrestricted: bool
    allow_patch: bool = False
    allow_delete: bool = False
    customer_id: str | None = None
    users: frozenset[str] | None = None
    reason: str = ""
    proven: bool = False  # the target proved it is this machine's fake (flags may still restrict it)
    base_path: str = ""  # the target's base path: the spec's paths are under it

    @property
    def read_only(self) -> bool:
        return not (self.unrestricted or self.allow_patch or self.allow_delete)

    def made_read_only(self, reason: str) -> Policy:
        """This policy with every write refused; ``reason`` says why (the report's safety line)."""
        return replace(self, unrestricted=False, allow_patch=False, allow_delete=False, reason=reason)

    def allowed_methods(self) -> set[str]:
        methods = set(SAFE_METHODS)
        if self.allow_patch:
            methods.add("PATCH")
        if self.allow_delete:
            methods.add("DELETE")
        return methods

    def refusal(self, method: str, url: str) -> str | None:
        """None when the request may be sent, else why not (one line)."""
        method = (method or "").upper()
        if self.unrestricted or method in SAFE_METHODS:
            return None
        if method not in self.allowed_methods():
            return f"{method} is not allowed ({self.describe()})"
        path = strip_base(urlsplit(url).path, self.base_path)
        written = written_user(path)
        if written is None:
            return f"{method} {path} is not a user of the run's customer ({self.describe()})"
        customer, user = written
        if self.customer_id is not None and customer != self.customer_id:
            return f"{method} {path} is outside customer {self.customer_id}"
        if self.users is not None and user not in self.users:
            return f"{method} {path}: user {user} is not one of --user-id"
        return None

    def describe(self) -> str:
        if self.unrestricted:
            return "every method allowed (the fake, no safety flag)"
        if self.read_only:
            return "read-only: only GET, HEAD and OPTIONS are sent"
        who = "any user" if self.users is None else "users " + ", ".join(sorted(self.users))
        allowed = " and ".join(m for m in ("PATCH", "DELETE") if m in self.allowed_methods())
        return f"GET, HEAD, OPTIONS; {allowed} only on {who}"


def decide_policy(
    target: Target,
    *,
    customer_id: str | None,
    user_ids: tuple[str, ...],
    read_only: bool,
    allow_writes: bool,
    allow_delete: bool,
    proven: bool = False,
    why: str = "",
) -> Policy:
    """The run's policy; raises :class:`UsageProblem` for a combination that is refused."""
    if read_only and (allow_writes or allow_delete):
        raise UsageProblem("--read-only cannot be combined with --allow-writes or --allow-delete")
    users = frozenset(user_ids) if user_ids else None
    if proven and not (read_only or allow_writes or allow_delete):
        return Policy(unrestricted=True, customer_id=customer_id, users=users,
                      reason=why or "the target proved it is the fake", proven=True, base_path=target.base_path)
    # Every target that did not prove it is the fake, loopback included, follows the remote rules.
    if not proven and users is None:
        if allow_writes:
            raise UsageProblem(
                "--allow-writes on a target that is not the proven fake needs --user-id: only those users are "
                "updated, and they are restored at the end"
            )
        if allow_delete:
            raise UsageProblem(
                "--allow-delete is refused for a target that is not the proven fake unless --user-id names the "
                "only users that may be deleted"
            )
    if not target.is_loopback:
        kind = "non-loopback target"
    else:
        kind = "loopback target that did not prove it is the fake" + (f": {why}" if why else "")
    reason = "--read-only" if read_only else (kind if not (allow_writes or allow_delete) else f"flags; {kind}")
    return Policy(
        unrestricted=False,
        allow_patch=allow_writes,
        allow_delete=allow_delete,
        customer_id=customer_id,
        users=users,
        reason=reason,
        proven=proven,
        base_path=target.base_path,
    )


def prove_target(target: Target, timeout: float = 5.0):
    """The identity handshake (:func:`mockserver.server.identity.prove`), tried only for a loopback target."""
    from mockserver.server.identity import Proof, prove

    if not target.is_loopback:
        return Proof(False, "")
    if target.base_path:
        return Proof(False, f"under a base path ({target.base_path}): the fake serves the spec's paths at its root")
    return prove(target.scheme, target.host, target.port, timeout=min(timeout, 5.0))


def target_policy(
    target: Target,
    *,
    customer_id: str | None = None,
    user_ids: tuple[str, ...] = (),
    read_only: bool = False,
    allow_writes: bool = False,
    allow_delete: bool = False,
    timeout: float = 5.0,
) -> Policy:
    """Is ``target`` the fake, and what may be sent to it? Every method only when it proves it is
    this machine's fake and no flag says otherwise; else GET, HEAD and OPTIONS, plus what
    ``--allow-writes``/``--allow-delete`` allow (raises :class:`UsageProblem` for a refused combination)."""
    proof = prove_target(target, timeout)
    return decide_policy(target, customer_id=customer_id, user_ids=user_ids, read_only=read_only,
                         allow_writes=allow_writes, allow_delete=allow_delete, proven=proof.ok, why=proof.reason)


class WriteRefused(RuntimeError):
    """Raised instead of sending a request the run's policy forbids."""


@dataclass
class GuardLog:
    """What the guard stopped, and how long the target's rate limit made the run wait, for the report."""

    refused: list[tuple[str, str]] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)
    budget: WaitBudget = field(default_factory=WaitBudget)
    # The policy the guard enforces: a run that goes read-only after it started narrows it here.
    policy: Policy | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_sent(self, method: str) -> None:
        with self._lock:
            self.sent[method] = self.sent.get(method, 0) + 1

    def record_refused(self, method: str, url: str) -> None:
        with self._lock:
            self.refused.append((method, url))

    @property
    def rate_limited(self) -> str:
        """One line when the rate-limit wait budget ran out, else ""."""
        return self.budget.exhausted


_GUARD_LOCK = threading.Lock()


@contextmanager
def guard_requests(policy: Policy, *, retries: int = DEFAULT_RETRIES, target: Target | None = None,
                   budget: WaitBudget | None = None, headers: dict[str, str] | None = None) -> Iterator[GuardLog]:
    """Refuse, at ``requests.Session.send``, any request ``policy`` forbids, for the duration; send
    the others with :func:`mockserver.remote.client.send_with_retries` (``retries`` at most).

    For the requests to ``target`` (all requests when it is None), also: a 429, or a 503 with
    Retry-After, is waited out and the request sent again within ``budget``
    (:class:`mockserver.remote.client.WaitBudget`), so no check ever sees the gateway's rate limit
    as the API's answer; and ``headers`` are added (``X-Mock-Session`` on the local fake).
    Schemathesis' own ``rate-limit = "auto"`` is not used for this: it retries only a 429 that has
    a Retry-After, and still validates the 429s it got (a finding for an undocumented status).

    One guarded run at a time per process (a second one waits): the guard is installed on the
    class, so it covers every session Schemathesis creates, its probes and the runner's own calls.
    """
    import requests

    log = GuardLog(budget=budget or WaitBudget(), policy=policy)
    prefix = target.origin + "/" if target is not None else ""
    with _GUARD_LOCK:
        original = requests.Session.send

        def guarded_send(session, request, **kwargs):
            reason = (log.policy or policy).refusal(request.method, request.url)
            if reason is not None:
                log.record_refused(request.method, _without_query(request.url))
                raise WriteRefused(f"refused to send {request.method} {_without_query(request.url)}: {reason}")
            ours = (request.url or "").startswith(prefix)
            if ours and headers:
                for name, value in headers.items():
                    request.headers.setdefault(name, value)
            if str(request.method).upper() not in SAFE_METHODS:
                # A write is never followed to wherever a redirect points (another host, another
                # path): the redirect is its answer, and a write is never sent twice.
                kwargs["allow_redirects"] = False

            def once():
                log.record_sent(str(request.method).upper())
                return send_with_retries(lambda: original(session, request, **kwargs), request.method, retries)

            if not ours:
                return once()
            return log.budget.send(once, f"{request.method} {_without_query(request.url)}")

        requests.Session.send = guarded_send
        try:
            yield log
        finally:
            requests.Session.send = original


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]
