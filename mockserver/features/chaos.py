"""Forced answers and chaos: the ``Prefer`` request header, and latency and faults for the whole server.

``Prefer`` (RFC 7240, the words Prism uses), per request:

- ``Prefer: code=404`` answers with that operation's documented 404 instead of running it: a
  problem+json body for an error, an example body for a success (built from the spec's examples,
  schema-valid), the documented headers (``WWW-Authenticate`` on a 401, ``Retry-After`` on a 503).
  A code the operation does not document is a 400 problem listing the documented ones.
- ``Prefer: delay=1500`` delays that one answer by 1500 ms (at most :data:`MAX_DELAY_MS`; a longer
  delay is cut to it, and ``Preference-Applied`` says what was applied).
- Both may be combined (``Prefer: code=503, delay=2000``); other preferences are ignored, as RFC
  7240 asks. Applied preferences are echoed in ``Preference-Applied``.

A forced answer is decided *after* authentication, validation and the customer check: a missing or
unknown token still gets its 401, a bad request its 400, a token of another customer its 403. The
operation itself never runs, so a forced answer changes no state.

Chaos, for the whole server (off by default; ``--latency``, ``--error-rate``, ``--error-codes``,
``--chaos-seed``): every Users API request waits a uniformly drawn latency, and a fraction of them
(those that would reach an operation) get a fault instead of their answer. A fault only uses codes
the operation documents, so a client generated from the spec is never surprised; a code that no
operation documents is refused at start-up. Draws come from a generator seeded per request from the
chaos seed and the request's number, so the same sequence of requests sees the same faults.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.core.asgi import send_whole
from mockserver.core.problems import PROBLEM_JSON, problem, send_problem
from mockserver.features.sessions import SESSION_KEY
from mockserver.server.auth import may_access
from mockserver.spec.routes import RouteTable

MAX_DELAY_MS = 30_000
RETRY_AFTER_SECONDS = 1
NOTES_KEY = "mockserver.notes"  # what was applied to a request, for the journal
_PLAN_KEY = "mockserver.features.chaos"


# -- the Prefer header ---------------------------------------------------------------------------


@dataclass
class Preferences:
    code: int | None = None
    delay_ms: int | None = None
    problems: list[str] = field(default_factory=list)


def parse_prefer(values: Iterable[str]) -> Preferences:
    """``code`` and ``delay`` from every ``Prefer`` header (RFC 7240: comma-separated preferences,
    ``;``-parameters ignored, optional quotes). Unknown preferences are ignored."""
    prefs = Preferences()
    for value in values:
        for item in value.split(","):
            token, _, rest = item.split(";", 1)[0].partition("=")
            name, raw = token.strip().lower(), rest.strip().strip('"').strip()
            if name == "code":
                if re.fullmatch(r"[1-5]\d\d", raw):
                    prefs.code = int(raw)
                else:
                    prefs.problems.append(f"Prefer: code={raw!r} is not an HTTP status code (100-599)")
            elif name == "delay":
                if raw.isascii() and raw.isdigit() and len(raw) <= 9:  # not "²": a digit to isdigit, not to int
                    prefs.delay_ms = int(raw)
                else:
                    prefs.problems.append(f"Prefer: delay={raw!r} is not a number of milliseconds")
    return prefs


def _prefer_values(scope: Scope) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", ()) if key == b"prefer"]


# -- the operations and their documented answers -------------------------------------------------


def _resolve(node: Any, spec: dict[str, Any]) -> Any:
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 20:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node, seen = target, seen + 1
    return node


def example_value(schema: Any, spec: dict[str, Any], depth: int = 0) -> Any:
    """A value valid against an OpenAPI schema, taken from its examples where it has them."""
    schema = _resolve(schema, spec)
    if not isinstance(schema, dict) or depth > 8:
        return None
    if "example" in schema:
        return schema["example"]
    if "enum" in schema:
        return schema["enum"][0]
    if "allOf" in schema:
        merged: Any = None
        for part in schema["allOf"]:
            value = example_value(part, spec, depth + 1)
            merged = {**merged, **value} if isinstance(merged, dict) and isinstance(value, dict) else value
        return merged
    for key in ("oneOf", "anyOf"):
        if schema.get(key):
            return example_value(schema[key][0], spec, depth + 1)
    kind = schema.get("type") or ("object" if "properties" in schema else "string")
    if kind == "object":
        return {
            name: example_value(sub, spec, depth + 1)
            for name, sub in (schema.get("properties") or {}).items()
            if depth < 3 or name in schema.get("required", ())
        }
    if kind == "array":
        return [example_value(schema.get("items", {}), spec, depth + 1)]
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return False
    return {"email": "user@example.com", "date-time": "2022-08-12T20:44:48Z", "date": "2022-08-12"}.get(
        schema.get("format", ""), "string"
    )


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...]


@dataclass
class Operation:
    operation_id: str
    responses: dict[int, dict[str, Any]]  # documented status -> response object (resolved)

    @property
    def codes(self) -> list[int]:
        return sorted(self.responses)


class Catalog:
    """The Users contract's operations, their documented answers, and which paths are theirs."""

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.operations: dict[str, Operation] = {}
        self.routes = RouteTable(spec)
        for _method, _route, op in self.routes.operations():
            if "operationId" in op:
                responses = {
                    int(code): _resolve(response, spec)
                    for code, response in op.get("responses", {}).items()
                    if str(code).isdigit()
                }
                self.operations[op["operationId"]] = Operation(op["operationId"], responses)

    def owns(self, path: str) -> bool:
        """Whether ``path`` is one of the contract's paths (a Users API request)."""
        return self.routes.owns(path)

    def owns_request(self, scope: Scope) -> bool:
        """Whether the request's path is one of the contract's (matched once per request, kept in the scope)."""
        return self.routes.route_of(scope) is not None

    def documented_codes(self) -> list[int]:
        return sorted({code for op in self.operations.values() for code in op.codes})

    def answer(self, operation: Operation, status: int, detail: str) -> Answer:
        response = operation.responses[status]
        content = response.get("content") or {}
        headers = [(name, self._header_value(name, spec)) for name, spec in (response.get("headers") or {}).items()]
        if status == 503 and not any(name.lower() == "retry-after" for name, _ in headers):
            headers.append(("Retry-After", str(RETRY_AFTER_SECONDS)))
        if not content:
            return Answer(status, "", b"", tuple(headers))
        content_type = PROBLEM_JSON if PROBLEM_JSON in content else next(iter(content))
        media = content[content_type] or {}
        if "example" in media:
            body = media["example"]
        elif media.get("examples"):
            body = _resolve(next(iter(media["examples"].values())), self.spec).get("value")
        elif content_type == PROBLEM_JSON:
            body = problem(status, detail)
        else:
            body = example_value(media.get("schema", {}), self.spec)
        return Answer(status, content_type, json.dumps(body).encode(), tuple(headers))

    def _header_value(self, name: str, header: dict[str, Any]) -> str:
        header = _resolve(header, self.spec)
        if "example" in header:
            return str(header["example"])
        if name.lower() == "www-authenticate":
            return "Bearer"
        if name.lower() == "retry-after":
            return str(RETRY_AFTER_SECONDS)
        value = example_value(header.get("schema", {}), self.spec)
        return str(value)

    def check_fault_codes(self, codes: Sequence[int]) -> dict[str, list[int]]:
        """Which of ``codes`` each operation may get as a fault; ValueError for a code that no
        operation documents (a fault must stay within the contract)."""
        documented = self.documented_codes()
        errors = [code for code in codes if code not in documented]
        if errors:
            listed = ", ".join(str(c) for c in documented if c >= 400)
            raise ValueError(
                f"--error-codes {','.join(map(str, errors))}: no operation of the Users contract documents "
                f"{'this code' if len(errors) == 1 else 'these codes'}; faults use only codes an operation "
                f"documents, so the fake stays within its contract. Documented error codes: {listed}. "
                f"(Document the code in the spec first to inject it.)"
            )
        return {
            op_id: [code for code in sorted(set(codes)) if code in op.responses]
            for op_id, op in self.operations.items()
        }


# -- chaos settings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChaosOptions:
    latency_ms: tuple[int, int] | None = None  # uniform, per request
    error_rate: float = 0.0
    error_codes: tuple[int, ...] = ()
    seed: int | None = None  # None: drawn at start-up (and shown in the banner)

    @property
    def enabled(self) -> bool:
        return self.latency_ms is not None or self.error_rate > 0

    @staticmethod
    def parse_latency(text: str) -> tuple[int, int]:
        """``"50-300"`` or ``"100"`` (ms)."""
        low, sep, high = text.partition("-")
        try:
            bounds = (int(low), int(high) if sep else int(low))
        except ValueError:
            raise ValueError(f"--latency {text!r}: expected MIN-MAX in milliseconds, e.g. 50-300") from None
        if bounds[0] < 0 or bounds[1] < bounds[0] or bounds[1] > MAX_DELAY_MS:
            raise ValueError(f"--latency {text!r}: expected 0 <= MIN <= MAX <= {MAX_DELAY_MS} (ms)")
        return bounds

    @staticmethod
    def parse_codes(text: str) -> tuple[int, ...]:
        codes = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            if not re.fullmatch(r"[45]\d\d", part):
                raise ValueError(f"--error-codes: {part!r} is not an HTTP error status (400-599)")
            codes.append(int(part))
        if not codes:
            raise ValueError("--error-codes: give at least one status, e.g. 401,404")
        return tuple(dict.fromkeys(codes))

    def describe(self, fault_codes: dict[str, list[int]] | None = None) -> list[str]:
        """Lines for the start-up banner."""
        lines = []
        if self.latency_ms is not None:
            low, high = self.latency_ms
            lines.append(f"latency {low}-{high} ms on every Users API request (uniform)")
        if self.error_rate > 0:
            lines.append(f"faults: {self.error_rate:.1%} of requests answer {', '.join(map(str, self.error_codes))}"
                         " (only where the operation documents the code)")
            for op_id, codes in sorted((fault_codes or {}).items()):
                lines.append(f"  {op_id}: {', '.join(map(str, codes)) if codes else 'none (documents none of them)'}")
        if lines:
            lines.append(f"chaos seed {self.seed} (--chaos-seed {self.seed} replays the same faults)")
        return lines


class ChaosPlan:
    """Draws, request by request, the latency and whether the request gets a fault."""

    def __init__(self, options: ChaosOptions):
        self.options = options
        self.seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
        self._numbers = itertools.count()
        self._lock = threading.Lock()

    def draw(self) -> tuple[int, float, float]:
        """(latency ms, fault roll in [0,1), code pick in [0,1)) for the next request."""
        with self._lock:
            number = next(self._numbers)
        rng = random.Random(f"{self.seed}:{number}")
        latency = 0
        if self.options.latency_ms is not None:
            low, high = self.options.latency_ms
            latency = rng.randint(low, high)
        return latency, rng.random(), rng.random()


@dataclass
class LiveChaos:
    """The chaos settings in force, read by the middleware on every request; the admin API may
    replace them while the server runs (``PUT /__admin/chaos``, :mod:`mockserver.features.chaos_control`)."""

    plan: ChaosPlan | None = None
    error_rate: float = 0.0
    fault_codes: dict[str, list[int]] = field(default_factory=dict)


# -- middleware ----------------------------------------------------------------------------------


def _note(scope: Scope, text: str) -> None:
    scope.setdefault(NOTES_KEY, []).append(text)


class DelayMiddleware:
    """Outside the request guard: reads ``Prefer``, waits (Prefer delay, or the chaos latency) and
    draws the request's fault roll; echoes ``Preference-Applied``. Users API paths only."""

    def __init__(self, app: ASGIApp, *, catalog: Catalog, plan: ChaosPlan | None, live: LiveChaos | None = None):
        self.app = app
        self.catalog = catalog
        self.live = live or LiveChaos(plan=plan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        values = _prefer_values(scope)
        plan = self.live.plan
        if (not values and plan is None) or not self.catalog.owns_request(scope):
            await self.app(scope, receive, send)
            return
        prefs = parse_prefer(values) if values else Preferences()
        delay = 0
        if plan is not None:
            delay, roll, pick = plan.draw()
            scope[_PLAN_KEY] = (roll, pick)
            if delay and prefs.delay_ms is None:
                _note(scope, f"latency {delay} ms")
        applied: list[str] = []
        if prefs.delay_ms is not None:
            delay = min(prefs.delay_ms, MAX_DELAY_MS)
            applied.append(f"delay={delay}")
            _note(scope, f"Prefer delay={delay}")
        scope["mockserver.prefer"] = prefs
        scope["mockserver.applied"] = applied
        if delay:
            await asyncio.sleep(delay / 1000)
        if not values:
            await self.app(scope, receive, send)
            return

        async def send_with_applied(message: Message) -> None:
            if message["type"] == "http.response.start" and applied:
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"preference-applied", ", ".join(applied).encode())]}
            await send(message)

        await self.app(scope, receive, send_with_applied)


class ForcedAnswers:
    """Just before the operation runs (after routing, security and validation): answers a
    ``Prefer: code=...`` or a chaos fault instead of running it, unless the token may not touch the
    customer (the operation then answers its 403)."""

    def __init__(self, app: ASGIApp, *, catalog: Catalog, error_rate: float = 0.0,
                 fault_codes: dict[str, list[int]] | None = None, scenarios: Any = None,
                 live: LiveChaos | None = None):
        self.app = app
        self.catalog = catalog
        self.live = live or LiveChaos(error_rate=error_rate, fault_codes=fault_codes or {})
        self.scenarios = scenarios  # mockserver.features.scenarios.Scenarios: rules set through the admin API

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        prefs: Preferences | None = scope.get("mockserver.prefer")
        plan = scope.get(_PLAN_KEY)
        wants_code = prefs is not None and (prefs.code is not None or prefs.problems)
        live = self.live
        faulty = plan is not None and plan[0] < live.error_rate
        if not wants_code and not faulty and not self.scenarios:
            await self.app(scope, receive, send)
            return
        operation = self._operation(scope)
        if operation is None or not self._may_access(scope):
            await self.app(scope, receive, send)
            return
        if prefs is not None and prefs.problems:
            await send_problem(send, 400, "; ".join(prefs.problems))
            return
        if prefs is not None and prefs.code is not None:
            if prefs.code not in operation.responses:
                documented = ", ".join(map(str, operation.codes))
                await send_problem(
                    send, 400,
                    f"Prefer: code={prefs.code} is not documented for {operation.operation_id}; documented: {documented}",
                )
                return
            scope.setdefault("mockserver.applied", []).append(f"code={prefs.code}")
            _note(scope, f"Prefer code={prefs.code}")
            await self._send(send, self.catalog.answer(
                operation, prefs.code, f"forced by Prefer: code={prefs.code}; the request changed nothing"))
            return
        if self.scenarios:
            rule = self.scenarios.take(operation.operation_id, (scope.get("path_params") or {}).get("userId"),
                                       scope.get(SESSION_KEY))
            if rule is not None:
                _note(scope, f"scenario rule {rule.id} code={rule.status}"
                             + (f" delay={rule.delay_ms}" if rule.delay_ms else ""))
                if rule.delay_ms:
                    await asyncio.sleep(rule.delay_ms / 1000)
                await self._send(send, self.catalog.answer(
                    operation, rule.status, f"forced by scenario rule {rule.id}; the request changed nothing"))
                return
        codes = live.fault_codes.get(operation.operation_id) or [] if faulty else []
        if not codes:
            await self.app(scope, receive, send)
            return
        code = codes[min(int(plan[1] * len(codes)), len(codes) - 1)]
        _note(scope, f"chaos fault {code}")
        await self._send(send, self.catalog.answer(
            operation, code, f"a fault injected by --error-rate ({HTTPStatus(code).phrase}); the request changed nothing"))

    def _operation(self, scope: Scope) -> Operation | None:
        routing = scope.get("extensions", {}).get("connexion_routing", {})
        operation_id = routing.get("operation_id")
        if not operation_id:
            return None
        return self.catalog.operations.get(operation_id.rsplit(".", 1)[-1])

    @staticmethod
    def _may_access(scope: Scope) -> bool:
        info = scope.get("extensions", {}).get("connexion_context", {}).get("token_info") or {}
        principal = info.get("principal")
        customer_id = (scope.get("path_params") or {}).get("customerId")
        if principal is None or customer_id is None:
            return True  # an operation without security, or without a customer
        return may_access(info, customer_id)  # decided once: the operation's own check finds the verdict

    @staticmethod
    async def _send(send: Send, answer: Answer) -> None:
        await send_whole(send, answer.status, answer.body, content_type=answer.content_type, headers=answer.headers)
