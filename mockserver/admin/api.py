"""The admin API: a few routes under ``/__admin``, described and routed by ``mockserver/admin/openapi.yaml``.

Kept out of the Users contract on purpose: it is the fake's control panel, not part of the API it
imitates. It is a small ASGI app in front of Connexion (so the Users API's body limit, chaos,
sessions and journal do not apply to it); a Schemathesis run against its own spec keeps the code
and the document in step (tests/test_admin.py).

The spec is the router: its paths make a :class:`mockserver.spec.routes.RouteTable`, each ``operationId``
is the method of :class:`AdminAPI` that answers it, and an operation's ``security`` says whether it
needs the token. 404, 405 (with ``Allow``), ``HEAD`` and ``OPTIONS`` come from the same code as the
Users API's (:func:`mockserver.spec.routes.answer_method`).

Every route but ``GET /__admin/openapi.json`` needs ``Authorization: Bearer <admin token>``; a
missing or wrong token is a 401 problem. Errors are problem+json like the Users API's.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.admin.control import Control
from mockserver.core.asgi import BodyTooLarge, ClientGone, header, read_body, send_whole
from mockserver.core.problems import Problem, ProblemError
from mockserver.features.sessions import SessionError, Sessions, session_name
from mockserver.fixtures.document import MAX_FIXTURE_BYTES, FixtureError, parse_json
from mockserver.fixtures.document import text_problems as fixture_text_problems
from mockserver.spec.routes import RouteTable, answer_method

log = logging.getLogger("mockserver")
PREFIX = "/__admin"
SPEC_FILE = Path(__file__).with_name("openapi.yaml")
MAX_JOURNAL_LIMIT = 100_000


@cache
def admin_spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))


def spec_with(keep: tuple[str, ...], paths: dict[str, Any] | None = None) -> dict[str, Any]:
    """The admin spec with only the paths ``keep`` (``"/journal"``, ...) plus ``paths``: the spec of an admin
    API that offers some of these operations and its own (an :class:`AdminAPI` subclass names the handlers)."""
    spec = admin_spec()
    return {**spec, "paths": {**{path: spec["paths"][path] for path in keep}, **(paths or {})}}


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] | None = None
    content_type: str = "application/json"


@dataclass
class Request:
    scope: Scope
    receive: Receive
    params: dict[str, str]

    def header(self, name: bytes) -> str | None:
        return header(self.scope, name)

    def query(self) -> dict[str, list[str]]:
        from urllib.parse import parse_qs

        return parse_qs(self.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)

    async def body(self, limit: int) -> bytes:
        try:
            return await read_body(self.scope, self.receive, limit)
        except BodyTooLarge as err:
            raise ProblemError(413, err.detail) from None
        except ClientGone as err:
            raise ProblemError(400, err.detail) from None


Handler = Callable[[Request], Awaitable[Reply]]


class AdminAPI:
    """ASGI middleware: answers ``/__admin/...``, passes everything else on."""

    def __init__(self, app: ASGIApp, *, control: Control, token: str, prefix: str = PREFIX,
                 spec: dict[str, Any] | None = None):
        self.app = app
        self.control = control
        self.token = token.encode()
        self.prefix = prefix
        self.spec = spec if spec is not None else admin_spec()
        self.routes = RouteTable(self.spec, prefix=prefix)
        self._spec_hint = f"; see {prefix}/openapi.json" if self.routes.owns(f"{prefix}/openapi.json") else ""
        # The spec is the router: each operationId is a method of this object (as Connexion resolves the Users API),
        # and an operation without ``security: []`` needs the admin token.
        self.handlers: dict[str, Handler] = {}
        self.protected: dict[str, bool] = {}
        for _method, _route, operation in self.routes.operations():
            operation_id = operation["operationId"]
            self.handlers[operation_id] = getattr(self, operation_id)
            self.protected[operation_id] = operation.get("security", self.spec.get("security")) != []

    @property
    def sessions(self) -> Sessions:
        return self.control.sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        try:
            reply = await self._dispatch(scope, receive, send, path.rstrip("/") or "/")
        except ProblemError as err:
            await err.problem.send(send, head=head)
            return
        except Exception:  # noqa: BLE001 - a bug of the fake: logged, and still a problem answer
            log.exception("unexpected error in the admin API (%s %s)", scope["method"], path)
            await Problem(500, "the admin API failed to handle this request; the error is in the server's log").send(
                send, head=head)
            return
        if reply is not None:
            await _send(send, reply, head=head)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send, path: str) -> Reply | None:
        """The operation's reply; None when the route itself answered (405, OPTIONS)."""
        route = self.routes.match(path)
        if route is None:
            raise ProblemError(404, f"no admin operation at {path}{self._spec_hint}")
        method = scope["method"]
        if await answer_method(route, method, send):
            return None
        operation_id = route.operation_id("GET" if method == "HEAD" else method)
        request = Request(scope, receive, route.params(path))
        if self.protected[operation_id]:
            self._authenticate(request)
        return await self.handlers[operation_id](request)

    def _authenticate(self, request: Request) -> None:
        challenge = {"WWW-Authenticate": 'Bearer realm="mockserver-admin"'}
        value = request.header(b"authorization")
        if not value:
            raise ProblemError(401, "the admin API needs the admin token: send Authorization: Bearer <admin token> "
                                    "(printed at start-up, or set with --admin-token)", challenge)
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.token):
            raise ProblemError(401, "this is not the admin token (printed at start-up, or set with --admin-token)",
                               challenge)

    def _session(self, request: Request) -> str | None:
        name = session_name(request.scope)
        if name is not None:
            try:
                Sessions.check_name(name)
            except SessionError as err:
                raise ProblemError(400, str(err)) from None
        return name

    # -- routes ----------------------------------------------------------------------------------

    async def admin_spec(self, request: Request) -> Reply:
        return Reply(200, self.spec)

    async def admin_status(self, request: Request) -> Reply:
        return Reply(200, self.control.status())

    async def admin_reset(self, request: Request) -> Reply:
        """The state the request selects (its X-Mock-Session, or the default state) back to the seed."""
        name = self._session(request)
        self.control.coverage.reset(name)
        if name is None:
            await asyncio.to_thread(self.control.store.reset)  # 100,000 users take a while: off the event loop
        else:
            self.sessions.reset(name)
        return Reply(204)

    async def admin_export_fixtures(self, request: Request) -> Reply:
        name = self._session(request)
        if name is None:
            store = self.control.store
        else:
            store = self.sessions.existing(name) or self.control.store.fork()  # not used yet: the seed
        filename = f"mockserver-{name or 'default'}-state.json"
        document = await asyncio.to_thread(store.snapshot)
        return Reply(200, document, {"Content-Disposition": f'attachment; filename="{filename}"'})

    async def admin_replace_fixtures(self, request: Request) -> Reply:
        document = await self._fixture_body(request)
        seed = await asyncio.to_thread(self._validated, [("<body>", document)])
        await asyncio.to_thread(self.control.replace_seed, seed, "admin API (PUT /__admin/fixtures)")
        return Reply(200, self._summary())

    async def admin_load_fixtures(self, request: Request) -> Reply:
        document = await self._fixture_body(request)
        current = await asyncio.to_thread(self.control.store.seed_document)
        seed = await asyncio.to_thread(self._validated, [("<current seed>", current), ("<body>", document)])
        await asyncio.to_thread(self.control.replace_seed, seed, "admin API (POST /__admin/fixtures: seed plus body)")
        return Reply(200, self._summary())

    async def admin_journal(self, request: Request) -> Reply:
        journal = self.control.journal
        raw = request.query().get("limit", [None])[-1]
        limit = None
        if raw is not None:
            if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_JOURNAL_LIMIT:
                raise ProblemError(400, f"query parameter 'limit': {raw!r} is not an integer from 1 to {MAX_JOURNAL_LIMIT}")
            limit = int(raw)
        bodies = request.query().get("bodies", ["true"])[-1]
        if bodies not in ("true", "false"):
            raise ProblemError(400, f"query parameter 'bodies': {bodies[:40]!r} is not true or false")
        entries = await asyncio.to_thread(journal.entries, limit, bodies=bodies == "true") if journal is not None else []
        return Reply(200, {"capacity": journal.size if journal is not None else 0, "entries": entries})

    async def admin_journal_entry(self, request: Request) -> Reply:
        raw = request.params["id"]
        entry = self.control.journal.entry(int(raw)) if raw.isascii() and raw.isdigit() and self.control.journal else None
        if entry is None:
            raise ProblemError(404, f"there is no journal entry {raw[:40]!r} (the journal keeps the last "
                                    f"{self.control.journal.size if self.control.journal else 0} requests)")
        return Reply(200, entry)

    async def admin_journal_har(self, request: Request) -> Reply:
        """The journal as HAR 1.2 (secrets masked), to open in a browser's developer tools or Playwright."""
        from mockserver import __version__
        from mockserver.admin.har import har_document

        entries = await asyncio.to_thread(self.control.journal.entries) if self.control.journal else []
        base = f"{request.scope.get('scheme', 'http')}://{request.header(b'host') or 'localhost'}"
        return Reply(200, har_document(entries, base, __version__),
                     {"Content-Disposition": 'attachment; filename="mockserver-journal.har"'})

    async def admin_verify(self, request: Request) -> Reply:
        """Whether the journal holds the requests the body describes: 200, 417 with near-misses, 422."""
        from mockserver.admin.verify import VerifyError, verify

        session = self._session(request)
        body = await self._small_json(request, '{"request": {"operationId": "get_user"}, "times": {"exactly": 1}}')
        entries = await asyncio.to_thread(self.control.journal.entries) if self.control.journal else []
        operations = self.control.operations()
        try:
            status, result = await asyncio.to_thread(verify, body, entries, operations=operations, session=session)
        except VerifyError as err:
            raise ProblemError(422, _summary_line(err.problems, "the verification is malformed"),
                               problems=err.problems) from None
        if status != 200:
            detail = result.pop("detail")
            if self.control.journal is None:
                detail += " (the journal is off: --journal-size 0)"
            raise ProblemError(status, detail, **result)
        return Reply(200, result)

    async def admin_clear_journal(self, request: Request) -> Reply:
        if self.control.journal:
            self.control.journal.clear()
        return Reply(204)

    async def admin_coverage(self, request: Request) -> Reply:
        """Documented answers seen since start-up or the last reset (of the session the header names)."""
        return Reply(200, self.control.coverage.coverage(self._session(request)))

    async def admin_sessions(self, request: Request) -> Reply:
        return Reply(200, {"max": self.sessions.max_sessions, "ttlSeconds": self.sessions.ttl,
                            "sessions": self.sessions.describe()})

    async def admin_clear_sessions(self, request: Request) -> Reply:
        self.sessions.clear()
        return Reply(204)

    async def admin_delete_session(self, request: Request) -> Reply:
        from urllib.parse import unquote

        name = unquote(request.params["name"])
        try:
            Sessions.check_name(name)
        except SessionError as err:
            raise ProblemError(400, str(err).replace("X-Mock-Session: ", "session name ")) from None
        if not self.sessions.reset(name):
            raise ProblemError(404, f"there is no session {name!r} (it may have expired)")
        return Reply(204)

    # Scenario rules: the logic is in mockserver.features.scenarios; these only move JSON in and out.

    async def admin_scenarios(self, request: Request) -> Reply:
        return Reply(200, {"rules": self.control.scenarios.pending(self._session(request))})

    async def admin_add_scenario(self, request: Request) -> Reply:
        session = self._session(request)
        body = await self._small_json(request, '{"operationId": "get_user", "status": 503, "times": 2}')
        return Reply(201, self._scenario(self.control.scenarios.add, body, session))

    async def admin_chaos(self, request: Request) -> Reply:
        return Reply(200, self.control.live_chaos.describe())

    async def admin_put_chaos(self, request: Request) -> Reply:
        body = await self._small_json(request, '{"latencyMs": [50, 300], "errorRate": 0.1, "errorCodes": [503]}')
        return Reply(200, self._scenario(self.control.live_chaos.put, body))

    async def admin_chaos_off(self, request: Request) -> Reply:
        self.control.live_chaos.off()
        return Reply(204)

    @staticmethod
    async def _small_json(request: Request, example: str) -> Any:
        if (request.header(b"content-type") or "").split(";")[0].strip().lower() != "application/json":
            raise ProblemError(415, "send the body as Content-Type: application/json")
        try:
            return json.loads(await request.body(64 * 1024))
        except (ValueError, RecursionError):
            raise ProblemError(400, f"the body is not JSON; send something such as {example}") from None

    async def admin_clear_scenarios(self, request: Request) -> Reply:
        self.control.scenarios.clear(self._session(request))
        return Reply(204)

    async def admin_delete_scenario(self, request: Request) -> Reply:
        raw = request.params["id"]
        if not raw.isdigit():
            raise ProblemError(400, f"rule id {raw[:40]!r} is not a rule id (a positive integer)")
        self._scenario(self.control.scenarios.remove, int(raw), self._session(request))
        return Reply(204)

    @staticmethod
    def _scenario(action, *args):
        from mockserver.features.scenarios import ScenarioError

        try:
            return action(*args)
        except ScenarioError as err:
            raise ProblemError(err.status, err.detail, **err.extra) from None

    # -- helpers ---------------------------------------------------------------------------------

    async def _fixture_body(self, request: Request) -> Any:
        if self._session(request) is not None:
            raise ProblemError(400, "fixtures are shared by every session: send PUT/POST /__admin/fixtures without "
                                    "X-Mock-Session (sessions restart from the new seed)")
        content_type = (request.header(b"content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ProblemError(415, "send the fixture document as Content-Type: application/json")
        raw = await request.body(MAX_FIXTURE_BYTES)
        problems: list[str] = []
        values: list[str] = []  # JSON, but with values no fixture may hold (integers beyond 64 bits)
        document = await asyncio.to_thread(parse_json, raw, "<body>", problems, values)
        if problems:
            raise ProblemError(400, _summary_line(problems, "the body is not a JSON fixture document"), problems=problems)
        if values:
            raise ProblemError(422, _summary_line(values, "the fixtures are not valid"), problems=values)
        if text := fixture_text_problems(raw, document, "<body>"):
            raise ProblemError(422, _summary_line(text, "the fixtures are not valid"), problems=text)
        return document

    def _validated(self, documents: list[tuple[str, Any]]) -> dict[str, Any]:
        try:
            return self.control.loader.merge(documents)
        except FixtureError as err:
            raise ProblemError(422, _summary_line(err.problems, "the fixtures are not valid"),
                               problems=err.problems) from None

    def _summary(self) -> dict[str, Any]:
        customers = self.control.store.customers()
        return {"customers": len(customers), "users": sum(c["users"] for c in customers),
                "tokens": len(self.control.store.tokens())}


def _summary_line(problems: list[str], what: str) -> str:
    first = problems[0] if len(problems[0]) <= 160 else problems[0][:157] + "..."
    more = f" (and {len(problems) - 1} more; see 'problems')" if len(problems) > 1 else ""
    return f"{what}: {first}{more}"


async def _send(send: Send, reply: Reply, *, head: bool = False) -> None:
    body = b"" if reply.body is None else json.dumps(reply.body).encode()
    await send_whole(send, reply.status, body, content_type=reply.content_type if reply.body is not None else None,
                     headers=(reply.headers or {}).items(), head=head)
