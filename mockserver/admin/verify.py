"""``POST /__admin/verify``: did the app send what it should have? Checked against the request journal.

A verification is a request matcher and an expected count, or an ordered sequence of matchers::

    {"request": {"method": "PATCH", "operationId": "update_user", "body": {"jobTitle": "CTO"}},
     "times": {"exactly": 1}}
    {"sequence": [{"operationId": "get_user"}, {"method": "PATCH", "path": "/api/.../users/{userId}"}]}

A matcher's fields (all optional; every one given must hold):

- ``method``; ``path`` (a request path, or a path template with ``{name}`` segments; a trailing slash
  is ignored); ``operationId``; ``status`` (of the answer);
- ``query``: names with a value or a list of values the request's query string must hold;
- ``body``: JSON the request's body must contain (objects: the fields given, recursively; arrays and
  values: equal);
- ``session``: the ``X-Mock-Session`` the request carried (``null``: none; ``"*"``: any). Left out: the
  verify request's own ``X-Mock-Session`` (none: requests without one), as scenario rules do.

``times`` holds ``exactly``, or ``atLeast`` and/or ``atMost`` (default: at least 1). The answer is 200 with
what matched, 417 when the count or the sequence is not met (with the closest near-misses and, for each,
why it did not match), 422 when the verification itself is malformed (one line per problem).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from mockserver.spec.routes import HTTP_METHODS

MATCHER_FIELDS = ("method", "path", "operationId", "query", "body", "session", "status")
TIMES_FIELDS = ("exactly", "atLeast", "atMost")
ANY_SESSION = "*"
NEAR_MISSES = 3
MAX_SHOWN = 20
MAX_SEQUENCE = 50
_TEMPLATE_PARAMETER = re.compile(r"\\\{[^/]+?\\\}")
_UNSET = object()


class VerifyError(Exception):
    """A malformed verification (422): every problem, one line each."""

    def __init__(self, problems: list[str]):
        super().__init__(problems[0])
        self.problems = problems


@dataclass(frozen=True)
class Matcher:
    fields: dict[str, Any]
    path_pattern: re.Pattern[str] | None

    def describe(self) -> str:
        text = json.dumps(self.fields, separators=(", ", ": "), ensure_ascii=False)
        return text if len(text) <= 100 else text[:97] + "..."

    def differences(self, entry: dict[str, Any]) -> list[str]:
        """Why ``entry`` (a rendered journal entry) does not match: one line per field that differs."""
        found: list[str] = []
        fields = self.fields
        if "method" in fields and entry["method"] != fields["method"]:
            found.append(f"method: expected {fields['method']}, got {entry['method']}")
        if "path" in fields and not self.path_pattern.fullmatch(entry["path"]):
            found.append(f"path: expected {fields['path']}, got {entry['path']}")
        if "operationId" in fields and entry.get("operationId") != fields["operationId"]:
            found.append(f"operationId: expected {fields['operationId']}, got {entry.get('operationId') or 'none'}")
        if "status" in fields and entry["status"] != fields["status"]:
            found.append(f"status: expected {fields['status']}, got {entry['status']}")
        if "session" in fields and fields["session"] != ANY_SESSION and entry.get("session") != fields["session"]:
            expected, got = fields["session"], entry.get("session")
            found.append(f"session: expected {_session_text(expected)}, got {_session_text(got)}")
        if "query" in fields:
            found += _query_differences(fields["query"], entry.get("query") or "")
        if "body" in fields:
            found += _body_differences(fields["body"], entry)
        return found


def _session_text(name: str | None) -> str:
    return repr(name) if name is not None else "none (no X-Mock-Session)"


def _query_differences(expected: dict[str, Any], raw: str) -> list[str]:
    from urllib.parse import parse_qs

    query = parse_qs(raw, keep_blank_values=True)
    found = []
    for name, want in expected.items():
        wanted = want if isinstance(want, list) else [want]
        got = query.get(name)
        if got is None:
            found.append(f"query {name}: expected {_show(want)}, not sent")
        elif any(str(value) not in got for value in wanted):
            found.append(f"query {name}: expected {_show(want)}, got {_show(got if len(got) > 1 else got[0])}")
    return found


def _body_differences(expected: Any, entry: dict[str, Any]) -> list[str]:
    body = (entry.get("request") or {}).get("body") or {}
    if body.get("truncated"):
        return [f"body: {body['size']} bytes, over the journal's bound: not kept whole, so not compared"]
    text = body.get("text")
    if text is None or body.get("encoding"):
        return ["body: expected JSON, the request had no body" if text is None else "body: not JSON"]
    try:
        sent = json.loads(text)
    except ValueError:
        return ["body: expected JSON, got text that is not JSON"]
    return list(_subset("body", expected, sent))[:5]


def _subset(where: str, expected: Any, got: Any):
    """Where ``got`` does not contain ``expected``: objects by the fields given, everything else equal."""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            yield f"{where}: expected an object, got {_show(got)}"
            return
        for key, value in expected.items():
            if key not in got:
                yield f"{where}.{key}: expected {_show(value)}, missing"
            else:
                yield from _subset(f"{where}.{key}", value, got[key])
    elif isinstance(expected, list):
        if not isinstance(got, list) or len(got) != len(expected):
            yield f"{where}: expected {_show(expected)}, got {_show(got)}"
            return
        for index, (want, have) in enumerate(zip(expected, got, strict=True)):
            yield from _subset(f"{where}[{index}]", want, have)
    elif expected != got or type(expected) is not type(got) and not _both_numbers(expected, got):
        yield f"{where}: expected {_show(expected)}, got {_show(got)}"


def _both_numbers(a: Any, b: Any) -> bool:
    return all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b))


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


# -- parsing ---------------------------------------------------------------------------------------


def _unknown(where: str, names, known: tuple[str, ...]) -> list[str]:
    problems = []
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else f"; known: {', '.join(known)}"
            problems.append(f"{where}: unknown field {name!r}{hint}")
    return problems


def parse_matcher(raw: Any, where: str, *, operations: set[str], default_session: str | None) -> Matcher:
    if not isinstance(raw, dict):
        raise VerifyError([f"{where}: must be an object with some of {', '.join(MATCHER_FIELDS)}"])
    problems = _unknown(where, raw, MATCHER_FIELDS)
    fields = dict(raw)
    pattern = None
    method = raw.get("method", _UNSET)
    if method is not _UNSET:
        if not isinstance(method, str) or method.lower() not in HTTP_METHODS:
            problems.append(f"{where}.method: {_show(method)} is not an HTTP method")
        else:
            fields["method"] = method.upper()
    path = raw.get("path", _UNSET)
    if path is not _UNSET:
        if not isinstance(path, str) or not path.startswith("/"):
            problems.append(f"{where}.path: {_show(path)} is not a path (it starts with /)")
        else:
            escaped = re.escape(path.rstrip("/") or "/")
            pattern = re.compile(_TEMPLATE_PARAMETER.sub("[^/]+", escaped) + "/?")
    operation = raw.get("operationId", _UNSET)
    if operation is not _UNSET and (not isinstance(operation, str) or operation not in operations):
        close = difflib.get_close_matches(str(operation), sorted(operations), n=1)
        hint = f"did you mean {close[0]}?" if close else f"the operations are {', '.join(sorted(operations))}"
        problems.append(f"{where}.operationId: {_show(operation)} is not an operation of the Users API; {hint}")
    status = raw.get("status", _UNSET)
    if status is not _UNSET and not (isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599):
        problems.append(f"{where}.status: {_show(status)} is not an HTTP status (an integer from 100 to 599)")
    query = raw.get("query", _UNSET)
    if query is not _UNSET and not (isinstance(query, dict) and all(_query_value(v) for v in query.values())):
        problems.append(f"{where}.query: must be an object of names to a value or a list of values, such as "
                        '{"q": "jane"}')
    session = raw.get("session", _UNSET)
    if session is _UNSET:
        fields["session"] = default_session
    elif session is not None and not isinstance(session, str):
        problems.append(f"{where}.session: {_show(session)} is not a session name (a string, null or \"*\")")
    if problems:
        raise VerifyError(problems)
    return Matcher(fields, pattern)


def _query_value(value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return bool(values) and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)


def parse_times(raw: Any) -> tuple[int, int | None]:
    """``times`` as (at least, at most or None)."""
    if raw is None:
        return 1, None
    if not isinstance(raw, dict) or not raw:
        raise VerifyError(['times: must be an object such as {"exactly": 1} or {"atLeast": 1, "atMost": 3}'])
    problems = _unknown("times", raw, TIMES_FIELDS)
    for name, value in raw.items():
        if name in TIMES_FIELDS and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            problems.append(f"times.{name}: {_show(value)} is not a count (an integer, 0 or more)")
    if "exactly" in raw and ("atLeast" in raw or "atMost" in raw):
        problems.append("times: give exactly, or atLeast and/or atMost, not both")
    if not problems and raw.get("atLeast", 0) > raw.get("atMost", raw.get("atLeast", 0)):
        problems.append(f"times: atLeast {raw['atLeast']} is more than atMost {raw['atMost']}")
    if problems:
        raise VerifyError(problems)
    if "exactly" in raw:
        return raw["exactly"], raw["exactly"]
    return raw.get("atLeast", 0), raw.get("atMost")


def _times_text(low: int, high: int | None) -> str:
    if high is None:
        return f"at least {low}"
    if low == high:
        return f"exactly {low}"
    return f"at most {high}" if low == 0 else f"from {low} to {high}"


# -- the verification -------------------------------------------------------------------------------


def summary(entry: dict[str, Any]) -> dict[str, Any]:
    """A journal entry as a verification answer shows it."""
    body = (entry.get("request") or {}).get("body") or {}
    text = body.get("text") if not body.get("encoding") else None
    return {"id": entry["id"], "timestamp": entry["timestamp"], "method": entry["method"], "path": entry["path"],
            "query": entry["query"], "operationId": entry.get("operationId"), "status": entry["status"],
            "session": entry.get("session"), "body": text if text is None or len(text) <= 2000 else text[:2000] + "…"}


def near_misses(matcher: Matcher, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries that differ from ``matcher`` in the fewest fields, newest first, with the differences."""
    scored = [(len(diff), -entry["id"], entry, diff) for entry in entries if (diff := matcher.differences(entry))]
    scored.sort(key=lambda item: item[:2])
    return [{"request": summary(entry), "differences": diff} for _, _, entry, diff in scored[:NEAR_MISSES]]


def verify(body: Any, entries: list[dict[str, Any]], *, operations: set[str],
           session: str | None) -> tuple[int, dict[str, Any]]:
    """(200, what matched) or (417, a problem's members). Raises :class:`VerifyError` (422)."""
    if not isinstance(body, dict):
        raise VerifyError(['the body must be a JSON object such as {"request": {"operationId": "get_user"}, '
                           '"times": {"exactly": 1}}'])
    problems = _unknown("the body", body, ("request", "times", "sequence"))
    if ("request" in body) == ("sequence" in body):
        problems.append('give "request" (with "times") or "sequence", one of the two')
    if "sequence" in body and "times" in body:
        problems.append('"times" goes with "request"; a sequence is checked in order, each step once')
    if problems:
        raise VerifyError(problems)
    if "request" in body:
        matcher = parse_matcher(body["request"], "request", operations=operations, default_session=session)
        low, high = parse_times(body.get("times"))
        return _count(matcher, low, high, entries)
    steps = body["sequence"]
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_SEQUENCE:
        raise VerifyError([f"sequence: must be a list of 1 to {MAX_SEQUENCE} request matchers"])
    matchers, problems = [], []
    for index, raw in enumerate(steps):
        try:
            matchers.append(parse_matcher(raw, f"sequence[{index}]", operations=operations, default_session=session))
        except VerifyError as err:
            problems += err.problems
    if problems:
        raise VerifyError(problems)
    return _sequence(matchers, entries)


def _count(matcher: Matcher, low: int, high: int | None, entries: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    matched = [entry for entry in entries if not matcher.differences(entry)]
    shown = [summary(entry) for entry in matched[-MAX_SHOWN:]]
    expected = _times_text(low, high)
    if low <= len(matched) and (high is None or len(matched) <= high):
        return 200, {"matched": len(matched), "expected": expected, "requests": shown}
    detail = (f"expected {expected} request(s) matching {matcher.describe()}; found {len(matched)} "
              f"among the {len(entries)} journaled")
    misses = near_misses(matcher, entries) if len(matched) < low else []
    if misses:
        detail += _closest(misses)
    return 417, {"detail": detail, "matched": len(matched), "expected": expected, "requests": shown,
                 "nearMisses": misses}


def _closest(misses: list[dict[str, Any]]) -> str:
    first = misses[0]["differences"][0]
    first = first if len(first) <= 80 else first[:77] + "..."
    more = len(misses[0]["differences"]) - 1
    return f"; closest: #{misses[0]['request']['id']} ({first}{f' and {more} more' if more else ''})"


def _sequence(matchers: list[Matcher], entries: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    position, found = 0, []
    for index, matcher in enumerate(matchers):
        hit = next((i for i in range(position, len(entries)) if not matcher.differences(entries[i])), None)
        if hit is None:
            after = f"after #{found[-1]['id']}" if found else "in the journal"
            earlier = any(not matcher.differences(entry) for entry in entries[:position])
            detail = (f"the sequence stops at step {index + 1} of {len(matchers)}: no request {after} matches "
                      f"{matcher.describe()}" + ("; one matches earlier, out of order" if earlier else ""))
            misses = near_misses(matcher, entries[position:])
            if misses:
                detail += _closest(misses)
            return 417, {"detail": detail, "matchedSteps": index, "requests": found, "nearMisses": misses}
        found.append(summary(entries[hit]))
        position = hit + 1
    return 200, {"matchedSteps": len(matchers), "requests": found}
