"""The fake as a pytest fixture: ``users_api``, for Python consumers of the Users API.

Registered through the package's ``pytest11`` entry point, so installing the package is enough (no
conftest). A project that never asks for ``users_api`` pays nothing but this module's import: it
imports only the standard library and pytest; the server is built on the first test that uses it.

- One server per test session (per pytest-xdist worker: each worker is its own process, with its own
  server and port), in-process, on a free port of 127.0.0.1 (uvicorn in a daemon thread).
- It serves the bundled fixtures, or the files of the ini option ``users_api_seed`` (paths relative
  to the rootdir); ``@pytest.mark.users_api_seed("other.json", ...)`` picks other files for one test.
- Every test starts from the seed: the store is reset in-process before each test, so the consumer's
  client needs nothing special (no session header) and keeps one base URL for the whole run.
- ``users_api.calls`` is what *this* test sent (method, path, query, JSON body, status),
  ``users_api.force(...)`` makes the next matching request answer as if it had sent ``Prefer: code=...``,
  and ``users_api.coverage()`` is the operations and statuses this test's traffic reached.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

INI_SEED = "users_api_seed"
MARKER = "users_api_seed"
MAX_RECORDED_BODY = 64 * 1024  # bytes of a request body kept for the test to inspect
_SERVER_KEY = pytest.StashKey["_UsersApiServer"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(INI_SEED, type="linelist", default=[],
                  help="fixture file(s) the users_api fixture serves, relative to the rootdir "
                       "(default: the bundled Acme fixtures)")


def pytest_configure(config: pytest.Config) -> None:
    # Connexion's own deprecations (its imports of jsonschema and Starlette) are not the consumer's to fix.
    config.addinivalue_line("filterwarnings", r"ignore::DeprecationWarning:connexion(\..*)?")
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`")
    config.addinivalue_line("markers", f"{MARKER}(*paths): serve these fixture files (relative to the rootdir) "
                                       "to this test's users_api instead of the configured seed")


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(_SERVER_KEY, None)
    if server is not None:
        server.stop()


# -- what a test sees -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request the test sent to the fake."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names; Authorization masked (``Bearer jane…``)
    body: bytes
    status: int  # 0: no answer was sent
    operation: str | None  # the contract's operationId, None for a path it does not own

    def json(self) -> Any:
        """The request body parsed as JSON (None when there was none)."""
        return json.loads(self.body) if self.body else None


@dataclass
class _Rule:
    method: str | None
    path: re.Pattern[str] | None
    prefer: str
    times: int | None  # None: every matching request until the test ends


@dataclass
class _Traffic:
    """What the current test sent and the answers it forced; replaced before every test."""

    calls: list[Call] = field(default_factory=list)
    rules: list[_Rule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class UsersAPI:
    """The ``users_api`` fixture's value: the running fake, at this test's seed."""

    def __init__(self, server: _UsersApiServer, seed: dict[str, Any]):
        self._server = server
        self.url: str = server.url  # base URL, no trailing slash
        self.admin_token: str = server.admin_token  # for the admin API (``/__admin``), if a test wants it
        self.customers: list[dict[str, Any]] = [
            {"_id": c["_id"], "fullName": c.get("fullName"), "users": [u["_id"] for u in c.get("users", [])]}
            for c in seed.get("customers", [])
        ]
        self.tokens: list[dict[str, Any]] = [dict(token) for token in seed.get("tokens", [])]

    # -- the fixtures ---------------------------------------------------------------------------

    def customer(self, name_or_id: str) -> dict[str, Any]:
        """A customer by ``_id`` or by (a case-insensitive part of) its ``fullName``."""
        needle = name_or_id.lower()
        for customer in self.customers:
            if customer["_id"] == name_or_id or needle in (customer["fullName"] or "").lower():
                return customer
        raise LookupError(f"no customer {name_or_id!r} in the fixtures; there are "
                          f"{', '.join(c['fullName'] or c['_id'] for c in self.customers) or 'none'}")

    def token(self, customer: str | None = None, *, user: str | None = None) -> str:
        """A bearer token: the one bound to ``user`` (a user ``_id``), or the first token of ``customer``
        (``_id`` or name) bound to no user, i.e. a customer-wide one."""
        if user is not None:
            for token in self.tokens:
                if token.get("userId") == user:
                    return token["token"]
            raise LookupError(f"no token in the fixtures is bound to user {user}")
        wanted = self.customer(customer)["_id"] if customer else None
        for token in self.tokens:
            if "userId" not in token and (wanted is None or wanted in token["customerIds"]):
                return token["token"]
        raise LookupError(f"no customer-wide token in the fixtures for {customer or 'any customer'}")

    # -- forcing answers ------------------------------------------------------------------------

    @staticmethod
    def prefer(code: int | None = None, *, delay_ms: int | None = None) -> dict[str, str]:
        """The ``Prefer`` header for a client that can send it: ``headers=users_api.prefer(404)``."""
        words = [f"code={code}"] if code is not None else []
        words += [f"delay={delay_ms}"] if delay_ms is not None else []
        if not words:
            raise ValueError("prefer() needs a code, a delay_ms or both")
        return {"Prefer": ", ".join(words)}

    def force(self, code: int | None = None, *, method: str | None = None, path: str | None = None,
              delay_ms: int | None = None, times: int | None = 1) -> None:
        """Answer the next ``times`` matching requests (None: all of them until this test ends) as if
        they had sent ``Prefer: code=<code>``: the operation's documented answer, nothing changed.
        ``method`` and ``path`` (a regular expression matched against the whole path) narrow it.
        The consumer's client sends nothing special."""
        prefer = self.prefer(code, delay_ms=delay_ms)["Prefer"]
        rule = _Rule(method.upper() if method else None, re.compile(path) if path else None, prefer, times)
        traffic = self._server.traffic
        with traffic.lock:
            traffic.rules.append(rule)

    # -- what this test sent --------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every request this test sent to the Users API (admin API requests excluded), in order."""
        traffic = self._server.traffic
        with traffic.lock:
            return list(traffic.calls)

    def calls_to(self, method: str | None = None, path: str | None = None,
                 operation: str | None = None) -> list[Call]:
        """The calls with this method, whose path matches the regular expression ``path`` (whole
        path), and/or of this operationId."""
        pattern = re.compile(path) if path else None
        return [call for call in self.calls
                if (method is None or call.method == method.upper())
                and (pattern is None or pattern.fullmatch(call.path))
                and (operation is None or call.operation == operation)]

    def coverage(self) -> dict[str, Any]:
        """What this test's traffic reached of the contract, computed here from :attr:`calls`:
        ``{"operations": {operationId: [statuses answered]}, "missed": [operationIds not called],
        "ratio": called / all, "outside": [paths the contract does not own]}``. A per-test view of
        the same idea as a server-wide coverage report; only the operation and status are counted."""
        reached: dict[str, set[int]] = {}
        outside: list[str] = []
        for call in self.calls:
            if call.operation is None:
                outside.append(f"{call.method} {call.path}")
            else:
                reached.setdefault(call.operation, set()).add(call.status)
        every = self._server.operation_ids
        return {
            "operations": {op: sorted(statuses) for op, statuses in sorted(reached.items())},
            "missed": [op for op in every if op not in reached],
            "ratio": round(len(reached) / len(every), 3) if every else 0.0,
            "outside": outside,
        }

    def reset(self) -> None:
        """Back to the seed in the middle of a test (the calls recorded so far stay)."""
        self._server.store.reset()

    def __repr__(self) -> str:
        return f"<users_api {self.url}: {len(self.customers)} customers, {len(self.tokens)} tokens>"


# -- the server -------------------------------------------------------------------------------------


class _Recorder:
    """The fake's embedder layer (mockserver.app.pipeline): records each Users API request for the current
    test and applies the test's forced answers (as a ``Prefer`` header the fake then honours)."""

    def __init__(self, app, server: _UsersApiServer, skip: tuple[str, ...]):
        self.app = app
        self.server = server
        self.skip = skip

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith(self.skip):
            await self.app(scope, receive, send)
            return
        from mockserver.core.asgi import call_observed
        from mockserver.features.journal import mask_authorization

        traffic = self.server.traffic
        method, path = scope["method"], scope["path"]
        with traffic.lock:
            for rule in traffic.rules:
                if (rule.method is None or rule.method == method) and (rule.path is None or rule.path.fullmatch(path)):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times == 0:
                            traffic.rules.remove(rule)
                    headers = [(k, v) for k, v in scope["headers"] if k != b"prefer"]
                    scope = dict(scope, headers=[*headers, (b"prefer", rule.prefer.encode("latin-1"))])
                    break
        headers = {}
        for key, value in scope.get("headers", ()):
            name, text = key.decode("latin-1"), value.decode("latin-1")
            headers[name] = mask_authorization(text) if name == "authorization" else text
        chunks: list[bytes] = []
        size = 0

        async def recording_receive():
            nonlocal size
            message = await receive()
            if message["type"] == "http.request" and size < MAX_RECORDED_BODY:
                chunk = message.get("body", b"")[: MAX_RECORDED_BODY - size]
                chunks.append(chunk)
                size += len(chunk)
            return message

        def record(status: int) -> None:
            call = Call(method, path, scope.get("query_string", b"").decode("latin-1"), headers, b"".join(chunks),
                        status, self.server.operations.operation_id(method, path))
            with traffic.lock:
                if traffic is self.server.traffic:  # not a straggler from the previous test
                    traffic.calls.append(call)

        # Recorded before the client can see the answer, so a test reading calls finds it; a request
        # that ended without a whole answer is recorded with status 0.
        await call_observed(self.app, scope, recording_receive, send, record, before_last_body=True)


class _UsersApiServer:
    """The fake on a free loopback port, in a daemon thread, for the whole test session."""

    def __init__(self, seed: dict[str, Any], seed_key: tuple[str, ...]):
        import secrets
        from functools import partial

        from mockserver.app.build import SWAGGER_UI_PATH, ServerOptions, build_app
        from mockserver.app.pipeline import unrecorded_paths
        from mockserver.app.serve import Background
        from mockserver.spec import schemas
        from mockserver.spec.routes import RouteTable

        self.admin_token = "admin-" + secrets.token_urlsafe(12)
        self.seed_key = seed_key
        self.seeds: dict[tuple[str, ...], dict[str, Any]] = {seed_key: seed}
        self.traffic = _Traffic()
        self.operations = RouteTable(schemas.load_spec(None))
        self.operation_ids = list(dict.fromkeys(op["operationId"] for _, _, op in self.operations.operations()
                                                if "operationId" in op))
        options = ServerOptions(admin_token=self.admin_token, swagger_ui=False)
        fake = build_app(seed, options,
                         embedder=partial(_Recorder, server=self, skip=unrecorded_paths(SWAGGER_UI_PATH)))
        self.store = fake.store
        self.control = fake.control
        self._served = Background(fake.app)
        self.url = self._served.url
        try:
            self._served.start()
        except RuntimeError as err:
            raise RuntimeError(f"the users_api fake did not start: {err}") from None

    def begin_test(self, seed: dict[str, Any], seed_key: tuple[str, ...]) -> None:
        """The state back at ``seed`` and a clean record of calls, before a test."""
        self.traffic = _Traffic()
        if seed_key != self.seed_key:
            self.control.replace_seed(seed, "users_api fixture: " + (", ".join(seed_key) or "bundled fixtures"))
            self.seed_key = seed_key
        else:
            self.store.reset()
        self.control.sessions.clear()

    def stop(self) -> None:
        self._served.stop()


def _seed_files(request: pytest.FixtureRequest) -> tuple[str, ...]:
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if not marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER}(...) needs at least one fixture file")
        names = [str(arg) for arg in marker.args]
    else:
        names = list(request.config.getini(INI_SEED))
    root = Path(request.config.rootpath)
    return tuple(str((root / name).resolve()) for name in names)


def _load_seed(files: tuple[str, ...]) -> dict[str, Any]:
    from mockserver.fixtures.document import FixtureError, FixtureLoader
    from mockserver.spec.resources import default_fixture_path

    paths = [Path(name) for name in files] or [default_fixture_path()]
    for path in paths:
        if not path.is_file():
            raise pytest.UsageError(f"users_api seed: {path} is not a file "
                                    f"(paths in '{INI_SEED}' and the marker are relative to the rootdir)")
    try:
        return FixtureLoader().load_files(paths)
    except FixtureError as err:
        raise pytest.UsageError(f"users_api seed: the fixtures are not valid:\n{err.render()}") from None


@pytest.fixture
def users_api(request: pytest.FixtureRequest) -> UsersAPI:
    """The Users API fake, at the seed state for this test. See :class:`UsersAPI`."""
    files = _seed_files(request)
    server: _UsersApiServer | None = request.config.stash.get(_SERVER_KEY, None)
    seed = server.seeds.get(files) if server is not None else None
    if seed is None:
        seed = _load_seed(files)
    if server is None:
        server = _UsersApiServer(seed, files)
        request.config.stash[_SERVER_KEY] = server
    else:
        server.seeds[files] = seed
        server.begin_test(seed, files)
    return UsersAPI(server, seed)
