"""The proxy's findings: violations (kept for ``GET /__admin/violations``, one log line each) and the
counters of the stop summary (requests, refused writes, bodies not validated).

A token never gets in: the curl line masks ``Authorization`` (:func:`mockserver.contract.report.curl_line`),
and every line and detail goes through a :class:`~mockserver.contract.report.Redactor` with the
request's own credentials, so a deployment that echoes the token back cannot make the log show it.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mockserver.contract.results import WireRequest
from mockserver.core.clock import format_timestamp
from mockserver.remote.report import Redactor, curl_line

DEFAULT_KEPT = 1000
# The checks of what the client sent (mockserver.proxy.contract): a client's bad request, answered as
# the contract says, is not the deployment's fault (an e2e test may send one on purpose).
CLIENT_CHECKS = frozenset({"request_parameters_conformance", "request_body_conformance",
                           "request_content_type_conformance", "request_authorization", "request_method"})
# A request body longer than this is left out of the curl line (it would not paste anyway).
CURL_BODY_LIMIT = 4096
NO_OPERATION = "(no operation)"


@dataclass(frozen=True)
class Exchange:
    """One request as the client sent it, for the log and the admin API."""

    method: str
    origin: str  # the deployment's, so the curl line goes where the answer came from
    path: str
    query: str
    headers: dict[str, str]
    body: bytes | None  # None: not buffered (over --max-body-bytes)
    body_size: int | None = None

    def secrets(self) -> tuple[str, ...]:
        value = self.headers.get("authorization", "")
        credentials = value.strip().partition(" ")[2].strip() or value.strip()
        return (credentials,) if len(credentials) >= 4 else ()

    def curl(self) -> str:
        url = self.origin + self.path + (f"?{self.query}" if self.query else "")
        body = self.body if self.body is not None and len(self.body) <= CURL_BODY_LIMIT else None
        line = curl_line(WireRequest(self.method, url, self.headers, body), secrets=self.secrets() or None)
        if body is None and (self.body or self.body_size):
            line += f"  # body of {self.body_size or len(self.body or b'')} bytes not shown"
        return line

    def describe(self) -> dict[str, Any]:
        redact = Redactor(self.secrets())
        return {"method": self.method, "path": self.path, "query": redact(self.query), "curl": redact(self.curl())}


class ViolationLog:
    """Thread-safe: the last ``kept`` violations, and counters over the whole run."""

    def __init__(self, kept: int = DEFAULT_KEPT, write: Callable[[str], None] | None = None):
        self._violations: deque[dict[str, Any]] = deque(maxlen=kept)
        self._by_operation_check: Counter[tuple[str, str]] = Counter()
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._write = write or _print

    def count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def violation(self, operation_id: str | None, check: str, detail: str, status: int | None,
                  exchange: Exchange) -> None:
        redact = Redactor(exchange.secrets())
        detail = redact(detail)
        record = {"operationId": operation_id, "check": check, "detail": detail, "status": status,
                  "request": exchange.describe(), "at": format_timestamp(datetime.now(UTC))}
        with self._lock:
            self._violations.append(record)
            self._by_operation_check[(operation_id or NO_OPERATION, check)] += 1
            self.counters["violations"] += 1
            self.counters["client_violations" if check in CLIENT_CHECKS else "deployment_violations"] += 1
        answered = f" (answer {status})" if status is not None else ""
        self._write(f"VIOLATION {operation_id or NO_OPERATION} {check}: {detail}{answered}"
                    f" | reproduce: {record['request']['curl']}")

    def note(self, line: str, exchange: Exchange | None = None) -> None:
        """A line that is not a violation (a body not validated, a refused write)."""
        self._write(Redactor(exchange.secrets())(line) if exchange is not None else line)

    def violations(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._violations)

    def clear(self) -> None:
        with self._lock:
            self._violations.clear()

    @property
    def total(self) -> int:
        with self._lock:
            return self.counters["violations"]

    @property
    def deployment_total(self) -> int:
        """Violations in the deployment's answers (and methods it accepted that the contract lacks)."""
        with self._lock:
            return self.counters["deployment_violations"]

    def failing(self, mode: str | None) -> int:
        """How many violations fail the run under ``--fail-on-violation[=deployment|any]`` (None: off)."""
        if mode == "any":
            return self.total
        return self.deployment_total if mode else 0

    def summary(self) -> list[str]:
        """The stop summary's lines."""
        with self._lock:
            counters, grouped = Counter(self.counters), dict(self._by_operation_check)
        lines = [
            f"mockserver proxy: {counters['requests']} request(s), {counters['forwarded']} forwarded, "
            f"{counters['refused']} refused (writes not forwarded), {counters['upstream_errors']} without an answer "
            "from the deployment",
            f"  {counters['violations']} violation(s): {counters['deployment_violations']} by the deployment, "
            f"{counters['client_violations']} in the client's requests; bodies not validated: {counters['not_validated']}; "
            f"requests outside the contract (not checked): {counters['outside_contract']}; "
            f"429 rate-limit answers (not checked): {counters['rate_limited']}",
        ]
        for (operation, check), count in sorted(grouped.items()):
            lines.append(f"    {operation:<22} {check:<34} {count}")
        return lines


def _print(line: str) -> None:
    print(f"mockserver proxy: {line}", file=sys.stdout, flush=True)
