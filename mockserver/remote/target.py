"""The options every remote command takes and what they decide: the target, its safety policy,
the token, the customer, the rate limit, TLS; and the pre-flight that checks them on the target.

:func:`plan_target` turns a URL and :class:`TargetOptions` into a :class:`TargetPlan` (or raises
:class:`~mockserver.remote.safety.UsageProblem` with one line), with the same checks and words
for ``contract``, ``record`` and ``drift``; :func:`preflight` asks the target whether the run can
be meaningful (reachable? token accepted? customer and users there?).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from mockserver.remote.client import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_BUDGET,
    Client,
    json_or_none,
    network_reason,
    not_sent,
    user_path,
    users_path,
)
from mockserver.remote.safety import (
    OBJECT_ID,
    GuardLog,
    Policy,
    Target,
    UsageProblem,
    decide_policy,
    guard_requests,
    parse_target,
    prove_target,
)
from mockserver.remote.tls import TLSConfigError, TLSSettings, closed_after_handshake
from mockserver.spec.operations import INTEGRATION

TOKEN_ENV = "MOCKSERVER_CONTRACT_TOKEN"
DEFAULT_REMOTE_RATE_LIMIT = "10/s"
# With the bundled fixtures: the first customer, and a token bound to a user so that the
# identity lookup can answer 200 (an admin token only reaches its 404).
LOCAL_DEFAULT_CUSTOMER = "6500000000000000000000a1"
LOCAL_DEFAULT_TOKEN = "jane-token"
_RATE = re.compile(r"^[1-9]\d*/(s|m|h|d)$")


@dataclass(kw_only=True)
class TargetOptions:
    """What every remote command is told about its target (the shared command-line options)."""

    token: str | None = None
    token_source: str = "--token"
    customer_id: str | None = None
    user_ids: tuple[str, ...] = ()
    rate_limit: str | None = None  # None: the default for the target; "off": none
    read_only: bool = False
    allow_writes: bool = False
    allow_delete: bool = False
    request_timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    tls: TLSSettings = field(default_factory=TLSSettings)
    wait_budget: float = DEFAULT_WAIT_BUDGET  # seconds of 429/503 waits a run may spend
    shared_state: bool = False  # the proven fake: act on its default state, not in a session of the run's own
    tool: str = "contract"  # names the run's session


UNREADABLE_USERS = "--user-id users could not be read before the run: nothing is changed"


@dataclass
class TargetPlan:
    """What :func:`plan_target` decided."""

    target: Target
    policy: Policy
    token: str | None
    customer_id: str
    user_ids: tuple[str, ...]
    rate_limit: str | None
    tls: TLSSettings = field(default_factory=TLSSettings)
    retries: int = DEFAULT_RETRIES
    wait_budget: float = DEFAULT_WAIT_BUDGET
    # The proven local fake: the X-Mock-Session the run acts in (None: the default state), and the
    # fake's admin token that drops it at the end (never printed).
    session: str | None = None
    fake_admin_token: str | None = field(default=None, repr=False)

    def guard(self):
        """The request guard of the run (:func:`mockserver.remote.safety.guard_requests`): its policy,
        retries, rate-limit wait budget and session header."""
        from mockserver.features.sessions import HEADER
        from mockserver.remote.client import WaitBudget

        headers = {HEADER: self.session} if self.session else None
        return guard_requests(self.policy, retries=self.retries, target=self.target,
                              budget=WaitBudget(self.wait_budget), headers=headers)

    def read_only(self, guard: GuardLog | None = None) -> TargetPlan:
        """This plan with every write refused, because its ``--user-id`` users could not be read before
        the run (a user that cannot be read is never changed: its state could not be restored). The
        run's ``guard``, already in force, is narrowed to it too."""
        plan = replace(self, policy=self.policy.made_read_only(UNREADABLE_USERS))
        if guard is not None:
            guard.policy = plan.policy
        return plan

    def state_line(self) -> str | None:
        """The header line saying whose state the run acts on (the proven fake only)."""
        if not self.policy.unrestricted:
            return None
        if self.session:
            end = "dropped at the end" if self.fake_admin_token else "left to expire (the fake has no admin API)"
            return (f"  state: a session of its own (X-Mock-Session: {self.session}), {end}; the fake's "
                    "own state is not touched (--shared-state to act on it)")
        return "  state: the fake's default state (--shared-state): its users may be changed or deleted"

    def drop_session(self) -> str | None:
        """Forget the run's session on the fake; None when done (or there is none), else why not."""
        if not self.session or not self.fake_admin_token:
            # A fake without an admin API (built in a program, never by the command): the session
            # expires after its idle time.
            return None
        import requests

        from mockserver.admin import PREFIX

        try:
            with requests.Session() as session:
                session.trust_env = False  # the proven fake is reached directly, as the proof was
                answer = session.delete(f"{self.target.origin}{PREFIX}/sessions/{self.session}", timeout=5,
                                        headers={"Authorization": f"Bearer {self.fake_admin_token}"})
        except requests.RequestException as error:
            return f"session {self.session} could not be dropped: {network_reason(error)}"
        if answer.status_code not in (204, 404):
            return f"session {self.session} could not be dropped: the admin API answered {answer.status_code}"
        return None

    def limiter(self) -> Any:
        """A rate limiter for the runner's own requests (``try_acquire(label)``), or None."""
        if not self.rate_limit:
            return None
        from schemathesis.core.rate_limit import build_limiter

        return build_limiter(self.rate_limit)

    def client(self, timeout: float, user_agent: str = "mockserver-contract") -> Client:
        return Client(self.target.base, self.token, timeout, tls=self.tls, user_agent=user_agent)


def plan_target(url: str, options: TargetOptions) -> TargetPlan:
    """Parse and check the target options; the identity handshake decides the safety policy."""
    target = parse_target(url)
    try:
        tls = options.tls.check()
    except TLSConfigError as error:
        raise UsageProblem(str(error)) from None
    token = options.token
    customer_id = options.customer_id
    if target.is_loopback:
        if customer_id is None:
            customer_id = LOCAL_DEFAULT_CUSTOMER
        if token is None:
            token = LOCAL_DEFAULT_TOKEN
    else:
        if customer_id is None:
            raise UsageProblem(
                f"--customer-id is required for a non-loopback target ({target.origin}): random ids only reach 403/404"
            )
        if not token:
            raise UsageProblem(f"no token: pass --token or set {TOKEN_ENV} (the target is not the local fake)")
    check_object_id("--customer-id", customer_id)
    for user_id in options.user_ids:
        check_object_id("--user-id", user_id)
    user_ids = tuple(dict.fromkeys(options.user_ids))
    proof = prove_target(target, options.request_timeout)
    policy = decide_policy(target, customer_id=customer_id, user_ids=user_ids, read_only=options.read_only,
                           allow_writes=options.allow_writes, allow_delete=options.allow_delete,
                           proven=proof.ok, why=proof.reason)
    # No rate limit by default only for the proven fake: a port-forward may lead to a deployment.
    rate_limit = resolve_rate_limit(options.rate_limit, loopback=policy.proven)
    if options.retries < 0:
        raise UsageProblem("--retries must be 0 or more")
    if options.wait_budget < 0:
        raise UsageProblem("--wait-budget must be 0 or more seconds")
    session = fake_admin_token = None
    # The proven fake in its default mode (every method, any user): a session of the run's own. With
    # --allow-writes/--allow-delete --user-id the run changes only those users and restores them.
    if policy.unrestricted and not options.shared_state:
        from mockserver.server.identity import admin_token_of

        session = f"mockserver-{options.tool}-{secrets.token_hex(6)}"
        fake_admin_token = admin_token_of(proof.instance)
    return TargetPlan(target=target, policy=policy, token=token, customer_id=customer_id, user_ids=user_ids,
                      rate_limit=rate_limit, tls=tls, retries=options.retries, wait_budget=options.wait_budget,
                      session=session, fake_admin_token=fake_admin_token)


def check_object_id(flag: str, value: str | None) -> None:
    if value is not None and not OBJECT_ID.match(value):
        raise UsageProblem(f"{flag} {value!r} is not an ObjectId (24 lowercase hex characters)")


def resolve_rate_limit(value: str | None, *, loopback: bool) -> str | None:
    """``--rate-limit`` as the runner reads it: None gives the target's default (10/s for a
    non-loopback target, none for loopback); ``off``, ``none`` or ``0`` give none; else ``N/s``,
    ``N/m``, ``N/h`` or ``N/d`` (raises :class:`UsageProblem` otherwise)."""
    if value is None:
        return None if loopback else DEFAULT_REMOTE_RATE_LIMIT
    if value.lower() in ("off", "none", "0"):
        return None
    if not _RATE.match(value):
        raise UsageProblem(f"--rate-limit {value!r}: use N/s, N/m or N/h (for example 10/s), or off")
    return value


def preflight(client: Client, plan: TargetPlan) -> str | None:
    """One line saying why the run cannot be meaningful, or None."""
    import requests

    path = users_path(plan.customer_id)
    try:
        response = client.request("GET", path, params={"integration": INTEGRATION})
    except requests.RequestException as error:
        return unreachable(plan, error)
    status = response.status_code
    if status == 401:
        return (
            f"the token was rejected (GET {path} answered 401): every request would be a 401. "
            f"Check --token / ${TOKEN_ENV}"
        )
    if status == 403:
        return f"the token may not access customer {plan.customer_id} (GET {path} answered 403)"
    if status == 404:
        if not _speaks_json(response):
            return not_the_api(plan, path, response)
        under = (f"; or the API is not served under {plan.target.base_path} (the spec's paths were put under it)"
                 if plan.target.base_path else "")
        return f"customer {plan.customer_id} was not found at {plan.target.base} (GET {path} answered 404){under}"
    if not _speaks_json(response):
        return not_the_api(plan, path, response)
    for user_id in plan.user_ids:
        try:
            answer = client.request("GET", user_path(plan.customer_id, user_id))
        except requests.RequestException as error:
            return unreachable(plan, error)
        if answer.status_code == 404:
            return f"--user-id {user_id} was not found in customer {plan.customer_id} (GET answered 404)"
    return None


def _speaks_json(response) -> bool:
    """Is the answer JSON at all: one of the spec's media types, or a JSON body under another label
    (a wrong Content-Type is a violation the run reports, not a sign of another server)?"""
    media = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return True
    return json_or_none(response) is not None


def not_the_api(plan: TargetPlan, path: str, response) -> str:
    media = response.headers.get("Content-Type", "").split(";", 1)[0].strip() or "no Content-Type"
    base = (f"; the spec's paths were put under {plan.target.base_path}" if plan.target.base_path
            else "; if a gateway serves it under a base path, add it to the URL (https://host/identity)")
    return (f"{plan.target.base} does not look like the Users API: GET {path} answered {response.status_code} "
            f"{media}, none of the spec's media types (application/json, application/problem+json){base}")


def unreachable(plan: TargetPlan, error: Exception) -> str:
    """``cannot reach ORIGIN: why`` for a request that got no answer."""
    reason = network_reason(error)
    if plan.target.scheme == "https" and not_sent(error) is False and not reason.startswith("TLS:"):
        reason = closed_after_handshake(plan.tls)
    return f"cannot reach {plan.target.origin}: {reason}"
