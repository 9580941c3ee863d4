"""Coverage: which documented (operation, status) answers a run, or a frontend, has exercised.

:func:`compute_coverage` takes the spec and journal-like entries (mappings with ``method``,
``path`` and ``status``, and optionally ``count``, else 1; the admin journal's entries fit) and
returns::

    {"operations": [{"operationId", "method", "path", "statuses": {"200": 3, "404": 0, ...},
                     "unseen": [{"status": "409", "force": "Prefer: code=409"}]}, ...],
     "covered": 14, "total": 56, "percent": 25.0, "undocumented": [...]}

``total`` counts every documented (operation, status) pair, ``covered`` those seen at least once.
Answers with a status the operation does not document, or to a request no operation owns (HEAD,
OPTIONS, an unknown path), are listed under ``undocumented``. A pure function: no HTTP, no store.

:class:`Tally` counts answers as they happen, in memory bounded whatever the paths (ids are folded
into the operation's path template): the fake's ``GET /__admin/coverage`` and the runners'
``--coverage`` count with it and report through :func:`compute_coverage`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from mockserver.spec.routes import RouteTable, base_path

MAX_TALLY_KEYS = 2000  # distinct (method, path, status) kept by a Tally; the rest are folded together
MAX_PATH_CHARS = 200  # of a path no operation has (a fuzzer's), as a Tally keeps it
OTHER_PATH = "(other requests)"


class _Operations:
    """The spec's operations with their documented statuses, and which one a request reaches (the
    route table the fake routes by: ``.../users/lookup`` before ``.../users/{userId}``)."""

    def __init__(self, spec: Mapping[str, Any]):
        self.table = RouteTable(spec, prefix=base_path(spec))
        self.ops: list[dict[str, Any]] = []
        self.by_key: dict[tuple[str, str], dict[str, Any]] = {}
        for method, route, operation in self.table.operations():
            statuses = sorted(str(code) for code in (operation.get("responses") or {}) if str(code).isdigit())
            op = {"operationId": operation.get("operationId") or f"{method} {route.template}",
                  "method": method, "path": route.template, "statuses": statuses}
            self.ops.append(op)
            self.by_key[(method, route.template)] = op

    def find(self, method: str, path: str, scope: MutableMapping[str, Any] | None = None,
             ) -> tuple[str | None, dict[str, Any] | None]:
        """(the path's template or None, the operation ``method`` reaches there or None). With the
        ``scope`` of the request whose ``path`` it is, the match kept there is used (or kept)."""
        if scope is None or scope.get("path") != path:
            route = self.table.match(path)
        else:
            route = self.table.route_of(scope)
        if route is None:
            return None, None
        return route.template, self.by_key.get((method, route.template))


def compute_coverage(spec: Mapping[str, Any], entries: Iterable[Mapping[str, Any]], *,
                     known: _Operations | None = None) -> dict[str, Any]:
    """The coverage model of ``entries`` (each with ``method``, ``path``, ``status``, optionally
    ``count``) against ``spec``."""
    known = known or _Operations(spec)
    ops = known.ops
    counts: dict[int, dict[str, int]] = {id(op): {s: 0 for s in op["statuses"]} for op in ops}
    undocumented: dict[tuple[str, str, str | None, str], int] = {}
    for entry in entries:
        method, path, status = str(entry.get("method", "")).upper(), str(entry.get("path", "")), str(entry.get("status", ""))
        number = int(entry.get("count", 1))
        template, match = known.find(method, path)
        if match is not None and status in counts[id(match)]:
            counts[id(match)][status] += number
            continue
        if match is None:
            key = (method, template or path, None, status)
        else:
            key = (method, match["path"], match["operationId"], status)
        undocumented[key] = undocumented.get(key, 0) + number
    operations, covered, total = [], 0, 0
    for op in ops:
        seen = counts[id(op)]
        total += len(seen)
        covered += sum(1 for n in seen.values() if n)
        operations.append({"operationId": op["operationId"], "method": op["method"], "path": op["path"],
                           "statuses": seen,
                           "unseen": [{"status": s, "force": f"Prefer: code={s}"} for s, n in seen.items() if not n]})
    return {
        "operations": operations,
        "covered": covered,
        "total": total,
        "percent": round(100.0 * covered / total, 1) if total else 100.0,
        "undocumented": [{"method": m, "path": p, "operationId": o, "status": s, "count": n}
                         for (m, p, o, s), n in sorted(undocumented.items(), key=lambda kv: kv[0][:2] + (kv[0][3],))],
    }


def meets(coverage: Mapping[str, Any], min_percent: float) -> bool:
    """Whether at least ``min_percent`` % of the documented (operation, status) pairs were seen."""
    total = coverage["total"]
    return total == 0 or 100.0 * coverage["covered"] / total >= min_percent


def render_table(coverage: Mapping[str, Any]) -> str:
    """Operations x documented statuses: the count seen, or ``-`` for never seen."""
    codes = sorted({s for op in coverage["operations"] for s in op["statuses"]})
    width = max((len(op["operationId"]) for op in coverage["operations"]), default=9)
    lines = [f"{'operation':<{width}}  " + " ".join(f"{c:>4}" for c in codes)]
    for op in coverage["operations"]:
        cells = [f"{op['statuses'][c]:>4}" if c in op["statuses"] and op["statuses"][c] else
                 ("   -" if c in op["statuses"] else "    ") for c in codes]
        lines.append(f"{op['operationId']:<{width}}  " + " ".join(cells))
    lines.append(f"coverage: {coverage['covered']}/{coverage['total']} documented answers seen "
                 f"({coverage['percent']}%); {sum(u['count'] for u in coverage['undocumented'])} undocumented")
    return "\n".join(lines)


def gate_line(coverage: Mapping[str, Any], min_percent: float) -> str:
    """The one line saying whether ``coverage`` passes ``--min-coverage min_percent``."""
    total = coverage["total"]
    exact = 100.0 * coverage["covered"] / total if total else 100.0
    verdict = "at or above" if meets(coverage, min_percent) else "below"
    return (f"coverage gate: {exact:.1f}% of documented answers seen ({coverage['covered']}/{total}), "
            f"{verdict} --min-coverage {min_percent:g}")


class Tally:
    """Answers counted by (method, path template, status) as they happen. Thread-safe.

    A path an operation owns is kept as its template (``.../users/{userId}``), so memory does not
    grow with the ids sent; another path is kept to its first 200 characters; at most ``max_keys``
    other keys are kept besides the documented pairs, and answers past that are counted under
    ``(other requests)`` with their status.
    """

    def __init__(self, spec: Mapping[str, Any], *, max_keys: int = MAX_TALLY_KEYS, like: Tally | None = None):
        """``like``: a Tally of the same spec whose compiled operations this one shares."""
        self.spec = spec
        self.max_keys = max_keys
        if like is not None:
            self._known, self._documented = like._known, like._documented
        else:
            self._known = _Operations(spec)
            self._documented = {(op["method"], op["path"], status) for op in self._known.ops
                                for status in op["statuses"]}
        self._counts: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()

    def key(self, method: str, path: str, status: int | str,
            scope: MutableMapping[str, Any] | None = None) -> tuple[str, str, str]:
        """(METHOD, the path's template, or the path when no operation has it, status); ``scope``: the
        request's, whose path's match is then not made again (see :meth:`RouteTable.matched`)."""
        method = str(method).upper()
        template, _operation = self._known.find(method, path, scope)
        if template is None:
            template = path if len(path) <= MAX_PATH_CHARS else path[:MAX_PATH_CHARS] + "…"
        return method, template, str(status)

    def add(self, method: str, path: str, status: int | str, count: int = 1) -> None:
        self.add_key(self.key(method, path, status), count)

    def add_key(self, key: tuple[str, str, str], count: int = 1) -> None:
        """Count an answer under a :meth:`key` (of this Tally or of one on the same spec)."""
        with self._lock:
            if key not in self._counts and len(self._counts) >= self.max_keys and key not in self._documented:
                key = ("*", OTHER_PATH, key[2])
            self._counts[key] = self._counts.get(key, 0) + count

    def entries(self) -> list[dict[str, Any]]:
        """The counts as entries :func:`compute_coverage` takes (with ``count``)."""
        with self._lock:
            items = list(self._counts.items())
        return [{"method": m, "path": p, "status": s, "count": n} for (m, p, s), n in items]

    def answers(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def coverage(self) -> dict[str, Any]:
        return compute_coverage(self.spec, self.entries(), known=self._known)

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
