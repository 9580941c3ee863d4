"""Scenario rules: force an operation's documented answer from outside the app, through the admin API.

``POST /__admin/scenarios`` with ``{"operationId": "get_user", "status": 503, "times": 2}`` makes the
next two ``get_user`` requests answer the operation's documented 503, exactly as ``Prefer: code=503``
would (the same code path: :class:`mockserver.features.chaos.ForcedAnswers`), after authentication, validation
and the customer check, changing no state. Then behaviour returns to normal.

- ``times`` omitted or null: the rule holds until it is cleared.
- ``userId``: only requests whose path names that user match.
- ``delayMs``: the forced answer waits that long first (at most :data:`mockserver.features.chaos.MAX_DELAY_MS`).
- Rules belong to a state: created with ``X-Mock-Session: <name>`` they match only that session's
  requests; without it, only requests without the header.
- The first pending rule that matches (oldest first) is used; a request that sends ``Prefer: code=``
  gets what it asked for and uses no rule.
- The journal notes each forced answer as ``scenario rule <id> code=<status>``.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any

from mockserver.core.problems import closed_object_problem
from mockserver.features.chaos import MAX_DELAY_MS, Catalog

MAX_RULES = 1000
MAX_TIMES = 1_000_000
FIELDS = ("operationId", "status", "times", "userId", "delayMs")


class ScenarioError(Exception):
    """A rule the server will not take: ``status`` is the admin API's answer (400, 404, 409)."""

    def __init__(self, status: int, detail: str, **extra: Any):
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


@dataclass
class Rule:
    id: int
    operation_id: str
    status: int
    times: int | None  # uses left; None: until cleared
    user_id: str | None
    delay_ms: int
    session: str | None
    used: int = 0

    def render(self) -> dict[str, Any]:
        return {"id": self.id, "operationId": self.operation_id, "status": self.status,
                "remaining": self.times, "used": self.used, "userId": self.user_id,
                "delayMs": self.delay_ms, "session": self.session}


class Scenarios:
    """The pending rules of one server, all states together. Thread-safe."""

    def __init__(self, catalog: Catalog, *, max_rules: int = MAX_RULES, shared: Any = None):
        self.catalog = catalog
        # A shared backend's rule book (mockserver.store.redis_shared.RedisRules): the rules of every replica.
        self.shared = shared
        self.max_rules = max_rules
        self._rules: list[Rule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._with_user_id = {
            item[method]["operationId"]
            for template, item in catalog.spec.get("paths", {}).items() if "{userId}" in template
            for method in item if isinstance(item[method], dict) and "operationId" in item[method]
        }

    def __bool__(self) -> bool:
        if self.shared is not None:
            return bool(self.shared)
        return bool(self._rules)  # read without the lock: the hot path's cheap "any rules at all?"

    def add(self, body: Any, session: str | None) -> dict[str, Any]:
        operation_id, status, times, user_id, delay_ms = self._checked(body)
        if self.shared is not None:
            added = self.shared.add(Rule(0, operation_id, status, times, user_id, delay_ms, session).render(),
                                    self.max_rules)
            if added is None:
                raise ScenarioError(409, f"there are already {self.max_rules} pending rules; clear some with "
                                         f"DELETE /__admin/scenarios first")
            return added
        with self._lock:
            if len(self._rules) >= self.max_rules:
                raise ScenarioError(409, f"there are already {self.max_rules} pending rules; clear some with "
                                         f"DELETE /__admin/scenarios first")
            rule = Rule(next(self._ids), operation_id, status, times, user_id, delay_ms, session)
            self._rules.append(rule)
            return rule.render()

    def pending(self, session: str | None) -> list[dict[str, Any]]:
        if self.shared is not None:
            return [rule for rule in self.shared.all() if rule["session"] == session]
        with self._lock:
            return [rule.render() for rule in self._rules if rule.session == session]

    def remove(self, rule_id: int, session: str | None) -> None:
        if self.shared is not None and any(r["id"] == rule_id for r in self.pending(session)) and \
                self.shared.remove(rule_id):
            return
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.id == rule_id and rule.session == session:
                    del self._rules[index]
                    return
        where = f"session {session!r}" if session else "the default state (no X-Mock-Session)"
        raise ScenarioError(404, f"there is no pending rule {rule_id} for {where}; it may have been used up")

    def clear(self, session: str | None) -> int:
        if self.shared is not None:
            return sum(self.shared.remove(rule["id"]) for rule in self.pending(session))
        with self._lock:
            kept = [rule for rule in self._rules if rule.session != session]
            count = len(self._rules) - len(kept)
            self._rules = kept
            return count

    def take(self, operation_id: str, user_id: str | None, session: str | None) -> Rule | None:
        """The first pending rule that matches the request, with one use counted (and removed when
        that was its last use); None when none matches."""
        if self.shared is not None:
            found = self.shared.take(operation_id, user_id, session)
            return None if found is None else Rule(found["id"], found["operationId"], found["status"],
                                                   found["remaining"], found["userId"], found["delayMs"],
                                                   found["session"], found["used"])
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.operation_id != operation_id or rule.session != session:
                    continue
                if rule.user_id is not None and rule.user_id != user_id:
                    continue
                rule.used += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        del self._rules[index]
                return rule
        return None

    # -- checking a new rule -------------------------------------------------------------------------

    def _checked(self, body: Any) -> tuple[str, int, int | None, str | None, int]:
        problem = closed_object_problem(body, FIELDS, what="a rule has",
                                        example='{"operationId": "get_user", "status": 503, "times": 2}')
        if problem:
            raise ScenarioError(400, problem)
        operation_id = body.get("operationId")
        operations = sorted(self.catalog.operations)
        if not isinstance(operation_id, str) or operation_id not in self.catalog.operations:
            shown = repr(operation_id)[:80]
            raise ScenarioError(400, f"operationId {shown} is not an operation of the Users contract; "
                                     f"operations: {', '.join(operations)}", operations=operations)
        operation = self.catalog.operations[operation_id]
        status = body.get("status")
        if not _is_int(status) or status not in operation.responses:
            documented = operation.codes
            raise ScenarioError(400, f"status {repr(status)[:40]} is not documented for {operation_id}; "
                                     f"documented: {', '.join(map(str, documented))}", documented=documented)
        times = body.get("times")
        if times is not None and (not _is_int(times) or not 1 <= times <= MAX_TIMES):
            raise ScenarioError(400, f"times {repr(times)[:40]} is not an integer from 1 to {MAX_TIMES} "
                                     f"(leave it out for a rule that holds until cleared)")
        user_id = body.get("userId")
        if user_id is not None:
            if not isinstance(user_id, str) or not 1 <= len(user_id) <= 200:
                raise ScenarioError(400, f"userId {repr(user_id)[:60]} is not a user id (a string)")
            if operation_id not in self._with_user_id:
                raise ScenarioError(400, f"{operation_id} has no userId in its path; leave userId out")
        delay_ms = body.get("delayMs", 0)
        if delay_ms is None:
            delay_ms = 0
        if not _is_int(delay_ms) or not 0 <= delay_ms <= MAX_DELAY_MS:
            raise ScenarioError(400, f"delayMs {repr(delay_ms)[:40]} is not an integer from 0 to {MAX_DELAY_MS}")
        return operation_id, status, times, user_id, delay_ms


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
