"""The options every remote command takes and what they decide: the target, its safety policy,
the token, the customer, the rate limit, TLS; and the pre-flight that checks them on the target.

:func:`plan_target` turns a URL and :class:`TargetOptions` into a :class:`TargetPlan` (or raises
:class:`~mockserver.remote.safety.UsageProblem` with one line), with the same checks and words
for ``contract``, ``record`` and ``drift``; :func:`preflight` asks the target whether the run can
be meaningful (reachable? token accepted? customer and users there?).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mockserver.remote.client import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    Client,
    network_reason,
    not_sent,
    user_path,
    users_path,
)
from mockserver.remote.safety import OBJECT_ID, Policy, Target, UsageProblem, parse_target, target_policy
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

    def limiter(self) -> Any:
        """A rate limiter for the runner's own requests (``try_acquire(label)``), or None."""
        if not self.rate_limit:
            return None
        from schemathesis.core.rate_limit import build_limiter

        return build_limiter(self.rate_limit)

    def client(self, timeout: float, user_agent: str = "mockserver-contract") -> Client:
        return Client(self.target.origin, self.token, timeout, tls=self.tls, user_agent=user_agent)


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
    policy = target_policy(target, customer_id=customer_id, user_ids=user_ids, read_only=options.read_only,
                           allow_writes=options.allow_writes, allow_delete=options.allow_delete,
                           timeout=options.request_timeout)
    # No rate limit by default only for the proven fake: a port-forward may lead to a deployment.
    rate_limit = resolve_rate_limit(options.rate_limit, loopback=policy.proven)
    if options.retries < 0:
        raise UsageProblem("--retries must be 0 or more")
    return TargetPlan(target=target, policy=policy, token=token, customer_id=customer_id, user_ids=user_ids,
                      rate_limit=rate_limit, tls=tls, retries=options.retries)


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
        return f"customer {plan.customer_id} was not found at {plan.target.origin} (GET {path} answered 404)"
    for user_id in plan.user_ids:
        try:
            answer = client.request("GET", user_path(plan.customer_id, user_id))
        except requests.RequestException as error:
            return unreachable(plan, error)
        if answer.status_code == 404:
            return f"--user-id {user_id} was not found in customer {plan.customer_id} (GET answered 404)"
    return None


def unreachable(plan: TargetPlan, error: Exception) -> str:
    """``cannot reach ORIGIN: why`` for a request that got no answer."""
    reason = network_reason(error)
    if plan.target.scheme == "https" and not_sent(error) is False and not reason.startswith("TLS:"):
        reason = closed_after_handshake(plan.tls)
    return f"cannot reach {plan.target.origin}: {reason}"
