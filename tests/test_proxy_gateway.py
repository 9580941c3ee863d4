"""The proxy in front of a deployment served under a gateway's base path, and whose violations fail
``--fail-on-violation``: the deployment's, not a client's bad request."""

from __future__ import annotations

import contextlib

import httpx
import pytest

from mockserver.proxy.app import build_proxy
from mockserver.proxy.violations import ViolationLog
from tests.conftest import ACME, JANE, JANE_AUTH
from tests.contract_variants import undocumented_status
from tests.proxy_support import ADMIN_TOKEN
from tests.support import LiveServer, Served, fresh_fake

pytestmark = pytest.mark.slow  # every test runs the proxy command

BASE = "/identity"


def under_base_path(app, seen: list[str]):
    """The fake as a gateway serves it: under BASE (404 elsewhere), its answers carrying a Location
    under BASE (as a gateway that rewrites them would)."""

    async def gateway(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path = scope["path"]
        if not path.startswith(BASE + "/"):
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"no route"})
            return
        inner = path[len(BASE):]
        seen.append(inner)

        async def located(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"location", (BASE + inner).encode())]}
            await send(message)

        await app({**scope, "path": inner, "raw_path": inner.encode()}, receive, located)

    return gateway


@contextlib.contextmanager
def proxy_in_front(backend_app, base: str = ""):
    lines: list[str] = []
    with LiveServer(backend_app) as backend:
        proxy = build_proxy(backend.url + base, admin_token=ADMIN_TOKEN, log=ViolationLog(write=lines.append))
        front = Served(proxy.app)
        try:
            yield proxy, front, lines, backend
        finally:
            front.stop()


def test_the_proxy_puts_the_spec_paths_under_the_base_path_and_brings_locations_back():
    app, _store = fresh_fake()
    seen: list[str] = []
    with proxy_in_front(under_base_path(app, seen), BASE) as (proxy, front, lines, backend):
        answer = httpx.get(f"{front.url}/api/v1/customers/{ACME}/users/{JANE}", headers=JANE_AUTH)
        no_token = httpx.get(f"{front.url}/api/v1/customers/{ACME}/users/{JANE}")
    assert answer.status_code == 200 and answer.json()["_id"] == JANE
    assert seen[0] == f"/api/v1/customers/{ACME}/users/{JANE}"
    assert answer.headers["location"] == f"/api/v1/customers/{ACME}/users/{JANE}"
    assert proxy.target.base == backend.url + BASE
    assert no_token.status_code == 401
    # the curl line of the client's violation goes where the answer came from: under the base path
    assert any(f"{backend.url}{BASE}/api/v1/customers/{ACME}/users/{JANE}" in line for line in lines), lines


def test_fail_on_violation_counts_the_deployment_and_any_also_the_client():
    app, _store = fresh_fake()
    with proxy_in_front(app) as (proxy, front, lines, _backend):
        assert httpx.get(f"{front.url}/api/v1/customers/{ACME}/users/{JANE}").status_code == 401  # on purpose
    log = proxy.log
    assert log.total == 1 and log.deployment_total == 0
    assert (log.failing(None), log.failing("deployment"), log.failing("any")) == (0, 0, 1)
    assert "1 violation(s): 0 by the deployment, 1 in the client's requests" in log.summary()[1]

    with proxy_in_front(undocumented_status()) as (proxy, front, lines, _backend):
        missing = "f" * 24
        assert httpx.get(f"{front.url}/api/v1/customers/{ACME}/users/{missing}", headers=JANE_AUTH).status_code == 410
    assert proxy.log.deployment_total == 1, lines
    assert proxy.log.failing("deployment") == proxy.log.deployment_total


def test_the_gateways_429_is_passed_on_and_never_a_violation():
    from tests.gateway_support import Gateway

    app, _store = fresh_fake()
    with LiveServer(app) as fake, Gateway(fake.url, every=2, retry_after="1") as gateway:
        lines: list[str] = []
        proxy = build_proxy(gateway.url, admin_token=ADMIN_TOKEN, log=ViolationLog(write=lines.append))
        front = Served(proxy.app)
        try:
            statuses = [httpx.get(f"{front.url}/api/v1/customers/{ACME}/users/{JANE}", headers=JANE_AUTH).status_code
                        for _ in range(4)]
        finally:
            front.stop()
    assert sorted(statuses) == [200, 200, 429, 429]  # the client gets the deployment's answers as they are
    assert proxy.log.total == 0, lines
    assert "429 rate-limit answers (not checked): 2" in proxy.log.summary()[1]
