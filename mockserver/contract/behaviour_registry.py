"""The registry of behavioural checks, and the runner that runs them.

A behavioural check is a small function ``check(ctx)`` registered with :func:`behaviour_check`: its
name (the row of the report and of JUnit), what it sends (:data:`READ_ONLY`, :data:`WRITE`,
:data:`DELETE`), which credentials it needs besides the run's token (keys of :data:`CREDENTIALS`) and
what it asserts (the row of ``docs/contract.md``'s table; a test checks the table against it). Any
module may register checks: the built-in ones are in :mod:`mockserver.contract.behaviour`, and a module
listed in :data:`CHECK_MODULES` is imported before a run, so its checks run too.

The runner (:class:`Behaviour`) decides "not run" the same way for every check, with the reason in the
report: the customer's list cannot be read; a credential the check needs is missing; the method it
sends is not allowed; or the check itself raises :class:`NotRun` (not enough users, a user that
cannot be read). A check not run is never counted as passed.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from mockserver.contract.results import ErrorRecord, FailureRecord, RunResult, Tally, WireRequest, WireResponse
from mockserver.contract.user_facts import sample_users, users_of
from mockserver.remote.client import Client, user_path
from mockserver.remote.restore import restore_users, snapshot_users
from mockserver.spec.operations import INTEGRATION
from mockserver.spec.rules import users_path

# The modules whose import registers behavioural checks (a new module of checks is added here).
CHECK_MODULES = ["mockserver.contract.behaviour"]


@dataclass(frozen=True)
class Sends:
    """What a check sends: the method of the table, and why it is not run when that method is not allowed."""

    method: str
    refused: str = ""  # "" for a read-only check, which runs against any target


READ_ONLY = Sends("GET")
WRITE = Sends("PATCH", "it sends PATCH; writes are not allowed (--allow-writes --user-id ID)")
DELETE = Sends("DELETE", "it sends DELETE; deletes are not allowed (--allow-delete --user-id ID)")


@dataclass
class Credentials:
    """What the behavioural checks may use besides the run's main token."""

    other_customer_id: str | None = None
    other_token: str | None = None
    lookup_token: str | None = None
    lookup_user_id: str | None = None
    source: str = ""  # where they came from, for the header


# A credential a check may need: the Credentials fields it is made of, and what is missing without it.
CREDENTIALS: dict[str, tuple[tuple[str, ...], str]] = {
    "other_customer": (("other_customer_id", "other_token"),
                       "a second customer and a token of it: --other-customer-id and --other-token / "
                       "$MOCKSERVER_CONTRACT_OTHER_TOKEN"),
    "lookup_user": (("lookup_token", "lookup_user_id"),
                    "a token bound to a user and that user's id: --lookup-token / $MOCKSERVER_CONTRACT_LOOKUP_TOKEN "
                    "and --lookup-user-id"),
}


class NotRun(Exception):
    """Raised by a check that cannot run here; ``str(err)`` says why (shown as ``not run: check (why)``)."""


# Requests in a row that got no answer (refused, reset, timed out) before the target counts as down:
# the checks stop at once rather than wait out every request's timeout (a hung server would hold a
# run for each of a hundred requests).
MAX_UNANSWERED = 3


class TargetUnavailable(Exception):
    """Raised by :meth:`Context.send` when the target stopped answering; stops the behavioural checks."""


@dataclass(frozen=True)
class BehaviourCheck:
    name: str
    sends: Sends
    needs: tuple[str, ...]
    asserts: str  # one line of docs/contract.md's table (Markdown)
    function: Callable[[Context], None]


_REGISTRY: dict[str, BehaviourCheck] = {}


def behaviour_check(*, name: str, sends: Sends, asserts: str, needs: tuple[str, ...] = ()):
    """Register the decorated ``function(ctx)`` as the behavioural check ``name``."""
    unknown = [need for need in needs if need not in CREDENTIALS]
    if unknown or sends not in (READ_ONLY, WRITE, DELETE):
        raise ValueError(f"check {name}: unknown credentials {unknown} or sends {sends}")

    def register(function: Callable[[Context], None]) -> Callable[[Context], None]:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.function is not function:
            raise ValueError(f"a behavioural check named {name} is already registered")
        _REGISTRY[name] = BehaviourCheck(name, sends, tuple(needs), asserts, function)
        return function

    return register


def unregister(name: str) -> None:
    """Take the check ``name`` out of the registry (a check some run must not see again)."""
    _REGISTRY.pop(name, None)


def registered() -> list[BehaviourCheck]:
    """Every registered check, in the order of registration (the order they run in)."""
    for module in CHECK_MODULES:
        importlib.import_module(module)
    return list(_REGISTRY.values())


class CheckNames(Sequence[str]):
    """The names of the registered checks (of those sending ``kinds``), read from the registry on every use."""

    def __init__(self, *kinds: Sends):
        self.kinds = kinds

    def _names(self) -> list[str]:
        return [check.name for check in registered() if not self.kinds or check.sends in self.kinds]

    def __getitem__(self, index):
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __repr__(self) -> str:
        return repr(tuple(self._names()))


def markdown_table() -> str:
    """docs/contract.md's table of the behavioural checks."""
    rows = ["| check | sends | asserts |", "| --- | --- | --- |"]
    rows += [f"| `{check.name}` | {check.sends.method} | {check.asserts} |" for check in registered()]
    return "\n".join(rows)


# -- what a check works with -------------------------------------------------------------------------


@dataclass
class Exchange:
    request: WireRequest
    response: WireResponse | None
    status: int | None
    body: Any
    error: str | None = None  # no answer came (refused, reset, timed out): why


@dataclass
class Context:
    """What a check works with: the target (through the run's guarded client), the customer, its users,
    the credentials; ``expect`` records an outcome. ``memo`` holds what several checks share (the exchanges
    of one sequence of requests, made once)."""

    client: Client
    result: RunResult
    customer_id: str
    policy: Any
    user_ids: tuple[str, ...]
    credentials: Credentials
    limiter: Any = None
    users: list[dict] = field(default_factory=list)
    sample: list[dict] = field(default_factory=list)
    picked: dict[str, dict] = field(default_factory=dict)  # users picked on the fake: snapshots to restore
    unreadable: str = ""  # why a user picked to be changed could not be read first (then none is changed)
    memo: dict[str, Any] = field(default_factory=dict)
    unanswered: int = 0  # requests in a row without an answer
    _failure_keys: dict[tuple[str, str, str], FailureRecord] = field(default_factory=dict)

    def allows(self, sends: Sends) -> bool:
        if not sends.refused or self.policy.unrestricted:
            return True
        return bool(self.policy.allow_delete if sends is DELETE else self.policy.allow_patch)

    def send(self, method: str, path: str, *, token: str | None = None, params=None, body=None) -> Exchange:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.limiter is not None:
            self.limiter.try_acquire(self.client.origin)
        request = requests.Request(method, self.client.origin + path, params=params, headers=headers, data=data)
        prepared = self.client.session.prepare_request(request)
        wire = WireRequest(method=method, url=prepared.url, headers=dict(prepared.headers), body=data)
        self.result.requests += 1
        try:
            response = self.client.send(prepared, allow_redirects=False)
        except requests.RequestException as error:
            self.unanswered += 1
            if self.unanswered >= MAX_UNANSWERED:
                raise TargetUnavailable(f"{self.unanswered} requests in a row got no answer; the last: "
                                        f"{method} {path}: {type(error).__name__}") from None
            said = f"{type(error).__name__}: {error}"
            return Exchange(wire, None, None, said, error=said)
        self.unanswered = 0
        self.result.statuses[response.status_code] += 1
        self.result.behaviour_requests += 1
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        answer = WireResponse(status=response.status_code, content_type=response.headers.get("Content-Type", ""),
                              body=response.content or b"")
        return Exchange(wire, answer, response.status_code, parsed)

    def expect(self, condition: bool, check: str, label: str, title: str, message: str, steps: list[Exchange]) -> bool:
        """Record one outcome of ``check`` on operation ``label``; ``condition`` is whether it held."""
        tally = self.result.tallies.setdefault((label, check), Tally())
        if condition:
            tally.passed += 1
            return True
        unanswered = next((step for step in steps if step.error), None)
        if unanswered is not None:
            # No answer is no evidence about the behaviour: an error of the run, not a violation.
            self.result.errors.append(ErrorRecord(label, "No answer",
                                                  f"{check}: {unanswered.request.method} {unanswered.request.url}: "
                                                  f"{unanswered.error}"))
            return False
        tally.failed += 1
        key = (label, check, title)
        if key in self._failure_keys:
            self._failure_keys[key].count += 1
            return False
        record = FailureRecord(operation=label, check=check, title=title, message=message,
                               steps=[step.request for step in steps], response=steps[-1].response if steps else None)
        self._failure_keys[key] = record
        self.result.failures.append(record)
        return False

    def list_users(self, customer_id: str | None = None, *, token: str | None = None, search: str | None = None):
        params = {"integration": INTEGRATION}
        if search is not None:
            params["search"] = search
        return self.send("GET", users_path(customer_id or self.customer_id), token=token, params=params)

    def get_user(self, user_id: str, *, customer_id: str | None = None, token: str | None = None):
        return self.send("GET", user_path(customer_id or self.customer_id, user_id), token=token)

    def listing_hint(self) -> Exchange:
        """The list request, for a reproduction (not sent again)."""
        path = users_path(self.customer_id)
        request = requests.Request("GET", self.client.origin + path, params={"integration": INTEGRATION})
        prepared = self.client.session.prepare_request(request)
        return Exchange(WireRequest("GET", prepared.url, dict(prepared.headers), None), None, None, None)

    def writable(self, count: int) -> list[str]:
        """Users the checks may change: the --user-id users, or (unrestricted fake) picked ones, snapshotted
        so that the run restores them."""
        if not self.policy.unrestricted:
            return list(self.user_ids[:count])
        picked = []
        for user in reversed(self.users):
            if user["_id"] != self.credentials.lookup_user_id:
                picked.append(user["_id"])
            if len(picked) == count:
                break
        fresh = tuple(u for u in picked if u not in self.picked)
        if fresh:
            try:
                self.picked.update(snapshot_users(self.client, self.customer_id, fresh))
            except LookupError as unreadable:  # a listed user that cannot be read is never changed
                self.unreadable = str(unreadable)
                return []
        return picked

    def shared(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()``'s value, made once per run for every check that asks for ``key`` (a :class:`NotRun` too)."""
        if key not in self.memo:
            try:
                self.memo[key] = make()
            except NotRun as not_run:
                self.memo[key] = not_run
        value = self.memo[key]
        if isinstance(value, NotRun):
            raise NotRun(str(value))
        return value


# -- the runner --------------------------------------------------------------------------------------


@dataclass
class Behaviour:
    """Runs the wanted behavioural checks against ``client``'s origin and records them in ``result``."""

    client: Client
    result: RunResult
    customer_id: str
    policy: Any
    user_ids: tuple[str, ...]
    credentials: Credentials
    wanted: set[str]
    limiter: Any = None

    def run(self) -> None:
        checks = [check for check in registered() if check.name in self.wanted]
        ctx = Context(client=self.client, result=self.result, customer_id=self.customer_id, policy=self.policy,
                      user_ids=self.user_ids, credentials=self.credentials, limiter=self.limiter)
        listing = ctx.list_users()
        users = users_of(listing.body) if listing.status == 200 else None
        if users is None:
            for check in checks:
                self.result.not_run_checks[check.name] = (f"the list of customer {self.customer_id} could not be "
                                                          f"read (GET answered {listing.status})")
            return
        ctx.users, ctx.sample = users, sample_users(users)
        try:
            for index, check in enumerate(checks):
                why = self.why_not(check, ctx)
                if why is None:
                    try:
                        check.function(ctx)
                    except NotRun as not_run:
                        why = str(not_run)
                    except TargetUnavailable as down:
                        self.result.stop_reason = "server_unavailable"
                        self.result.errors.append(ErrorRecord("behavioural checks", "Target stopped answering",
                                                              f"{check.name}: {down}"))
                        for later in checks[index:]:
                            self.result.not_run_checks[later.name] = "the target stopped answering"
                        return
                if why is not None:
                    self.result.not_run_checks[check.name] = why
        finally:
            if ctx.picked:
                restore_users(self.client, self.customer_id, ctx.picked)

    def why_not(self, check: BehaviourCheck, ctx: Context) -> str | None:
        """Why ``check`` cannot run here before it sends anything, or None."""
        for need in check.needs:
            fields, what = CREDENTIALS[need]
            if not all(getattr(self.credentials, name) for name in fields):
                return f"needs {what}"
        if not ctx.allows(check.sends):
            return check.sends.refused
        return None
