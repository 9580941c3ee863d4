"""Building the proxy: the forwarding app, the journal and the admin routes around it, for one target."""

from __future__ import annotations

from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from mockserver.admin import PREFIX as ADMIN_PREFIX
from mockserver.features.coverage_live import CoverageCounters, CoverageMiddleware
from mockserver.features.journal import Journal, JournalMiddleware
from mockserver.proxy import DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT
from mockserver.proxy.admin import ProxyAdmin
from mockserver.proxy.contract import Contract
from mockserver.proxy.forward import Forwarder
from mockserver.proxy.safety import Policy, Target, forwarding_policy, parse_target
from mockserver.proxy.violations import ViolationLog
from mockserver.remote.tls import TLSSettings
from mockserver.spec.schemas import load_spec


@dataclass
class Proxy:
    app: object  # the ASGI app to serve
    target: Target
    policy: Policy
    log: ViolationLog
    journal: Journal | None
    admin_token: str
    on_startup: list  # callables run when the server has started (the banner)


def build_proxy(url: str, *, admin_token: str, allow_writes: bool = False, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                tls: TLSSettings | None = None, journal_size: int = 1000, timeout: float = DEFAULT_TIMEOUT,
                log: ViolationLog | None = None) -> Proxy:
    """Raises :class:`mockserver.remote.safety.UsageProblem` for a URL that is not an origin, and
    :class:`mockserver.remote.tls.TLSConfigError` for TLS options that cannot be used."""
    target = parse_target(url)
    tls = (tls or TLSSettings()).check()
    policy = forwarding_policy(target, allow_writes=allow_writes, timeout=min(timeout, 5.0))
    log = log or ViolationLog()
    client = httpx.AsyncClient(
        verify=tls.ssl_context() if target.scheme == "https" else True,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,  # a redirect is the deployment's answer: the client gets it as it is
        cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),  # keeps none: the client's own go through
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        # A target proved to be the fake was reached directly by the proof: so is every request to it
        # (httpx's own proxy rules from the environment could route it elsewhere).
        trust_env=not policy.proven,
    )
    forwarder = Forwarder(target=target, client=client, contract=Contract(load_spec()), log=log, policy=policy,
                          max_body_bytes=max_body_bytes)
    journal = Journal(journal_size) if journal_size > 0 else None
    coverage = CoverageCounters(load_spec())
    app = ProxyAdmin(forwarder, journal=journal, coverage=coverage, violations=log, token=admin_token)
    app = CoverageMiddleware(app, counters=coverage, skip=(ADMIN_PREFIX,))
    if journal is not None:
        app = JournalMiddleware(app, journal=journal, skip=(ADMIN_PREFIX,))
    return Proxy(app=app, target=target, policy=policy, log=log, journal=journal, admin_token=admin_token,
                 on_startup=forwarder.on_startup)
