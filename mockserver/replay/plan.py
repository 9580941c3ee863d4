"""From recorded requests to the steps a replay sends: which are the Users API's, and how each
is rewritten for the run.

An entry is replayed when it was sent to the Users API's origin in the file (``--har-origin``, or
the one origin whose requests match the spec's paths) and its method is an operation of the spec
on its path (:class:`mockserver.spec.routes.RouteTable`). Every other entry is skipped, with why:
another host, a path the spec does not have, a method the path does not have, a CORS preflight.

A replayed request is rewritten, the same way for both sides:

- ``--map OLD=NEW``: every ObjectId ``OLD`` in the path, the query and the body becomes ``NEW``
  (customers, users, roles: the ids the app saw against the fake, and the deployment's);
- the run's token replaces every recorded ``Authorization`` (recorded tokens belong to the
  environment the app ran against, and a journal keeps them masked); a request recorded without
  one is sent without one;
- of the other headers only ``Accept``, ``Accept-Language`` and ``Content-Type`` are kept (the
  browser's cookies, ``Origin``, client hints and the fake's ``Prefer`` and session headers are not
  the Users API's business, and ``Prefer`` would switch on the fake's chaos).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from requests.utils import requote_uri

from mockserver.drift.sequence import Step
from mockserver.remote.safety import UsageProblem
from mockserver.replay.har import HarError, Recorded
from mockserver.spec.routes import RouteTable, base_path

USER_AGENT = "mockserver-replay"
SOURCE = "har"
KEPT_HEADERS = ("accept", "accept-language", "content-type")
_OBJECT_ID = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{24}(?![0-9a-fA-F])")


@dataclass
class Item:
    """One entry of the file and what became of it in the run."""

    recorded: Recorded
    step: Step | None = None  # None: skipped (not a request to the Users API)
    operation_id: str = ""
    skipped: str = ""  # why the entry is not the Users API's
    not_sent: str = ""  # why a Users API request was not sent (the safety policy, the run stopped)
    error: str = ""  # sent, but without two answers to compare
    target: object = None  # WireResponse
    fake: object = None
    differences: list = field(default_factory=list)
    sequence: list[int] = field(default_factory=list)  # entry numbers that show the difference, this one last
    sequence_note: str = ""

    @property
    def number(self) -> int:
        return self.recorded.number

    @property
    def outcome(self) -> str:
        if self.skipped:
            return "skipped"
        if self.not_sent:
            return "not sent"
        if self.error:
            return "not compared"
        if self.target is None:
            return "not sent"
        # As drift decides by default: a difference in form alone (extra fields, wording, timestamp
        # precision; mockserver.drift.compare) is listed with the request but does not make it differ.
        return "differs" if any(not getattr(d, "form", False) for d in self.differences) else "same"


def parse_maps(values: tuple[str, ...]) -> dict[str, str]:
    """``--map OLD=NEW`` values as a dict; raises :class:`UsageProblem`."""
    mapping: dict[str, str] = {}
    for value in values:
        old, sep, new = value.partition("=")
        old, new = old.strip(), new.strip()
        if not sep or not _OBJECT_ID.fullmatch(old) or not _OBJECT_ID.fullmatch(new):
            raise UsageProblem(f"--map {value!r}: use OLD=NEW with two ObjectIds (24 lowercase hex characters)")
        if mapping.get(old, new) != new:
            raise UsageProblem(f"--map: {old} is mapped twice ({mapping[old]} and {new})")
        mapping[old] = new
    return mapping


def api_origin(entries: list[Recorded], routes: RouteTable, chosen: str | None, name: str) -> str:
    """The origin the app reached the Users API at; raises :class:`HarError` when there is none
    or more than one and ``--har-origin`` does not say which."""
    found = Counter(entry.origin for entry in entries if routes.match(_path(entry)) is not None)
    if chosen:
        chosen = chosen.rstrip("/").lower()
        if chosen not in found:
            elsewhere = f" (it has some at {', '.join(sorted(found))})" if found else ""
            raise HarError(f"{name} holds no request to the Users API at --har-origin {chosen}{elsewhere}")
        return chosen
    if not found:
        hosts = sorted({entry.origin for entry in entries})
        shown = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")
        raise HarError(f"{name} holds no request to the Users API ({len(entries)} entries"
                       + (f", to {shown}" if hosts else "") + ")")
    if len(found) > 1:
        raise HarError(f"{name} has Users API requests to several origins ({', '.join(sorted(found))}): "
                       "choose one with --har-origin")
    return next(iter(found))


def _path(entry: Recorded) -> str:
    return entry.path_and_query.split("?", 1)[0]


def route_table() -> RouteTable:
    from mockserver.spec.schemas import load_spec

    spec = load_spec()
    return RouteTable(spec, prefix=base_path(spec))


class Rewriter:
    """Turns recorded requests into steps for the run (ids mapped, the run's token)."""

    def __init__(self, routes: RouteTable, origin: str, mapping: dict[str, str], token: str | None):
        self.routes, self.origin, self.mapping, self.token = routes, origin, mapping, token
        self.mapped: Counter = Counter()  # OLD -> how many requests it was replaced in

    def item(self, entry: Recorded) -> Item:
        if entry.origin != self.origin:
            return Item(entry, skipped=f"another host ({entry.origin}), not the Users API at {self.origin}")
        route = self.routes.match(_path(entry))
        if route is None:
            return Item(entry, skipped="not a path of the Users API's spec")
        if entry.method == "OPTIONS" and entry.header("Access-Control-Request-Method") is not None:
            return Item(entry, skipped="a CORS preflight (the browser's, not the app's)")
        operation_id = route.operation_id(entry.method)
        if operation_id is None:
            return Item(entry, skipped=f"{entry.method} is not an operation of {route.template} in the spec")
        item = Item(entry, step=self.step(entry, f"{entry.method} {route.template}"), operation_id=operation_id)
        if entry.omitted:
            item.not_sent = (f"the file does not hold its body ({entry.omitted} bytes were sent): record with request "
                             'bodies (Playwright: recordHar content "embed")')
        return item

    def step(self, entry: Recorded, operation: str) -> Step:
        headers = {"User-Agent": USER_AGENT}
        for name, value in entry.headers:
            if name.lower() in KEPT_HEADERS:
                headers[name.title()] = value
        if entry.header("Authorization") is not None and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = entry.body
        if body:
            try:
                body = self._map(body.decode("utf-8")).encode("utf-8")
            except UnicodeDecodeError:
                pass  # a binary body is sent as recorded
            headers["Content-Length"] = str(len(body))
        elif entry.method in ("PATCH", "PUT", "POST"):
            headers["Content-Length"] = "0"
        # What a browser would have put on the wire: spaces and other letters percent-encoded, the
        # same bytes for both sides and a curl line that pastes.
        path = requote_uri(self._map(entry.path_and_query))
        return Step(operation, SOURCE, f"entry {entry.number}", entry.method, path, headers, body or None)

    def _map(self, text: str) -> str:
        def replace(match: re.Match) -> str:
            old = match.group(0)
            new = self.mapping.get(old)
            if new is None:
                return old
            self.mapped[old] += 1
            return new

        return _OBJECT_ID.sub(replace, text) if self.mapping else text


def customer_of(routes: RouteTable, step: Step) -> str | None:
    route = routes.match(step.path.split("?", 1)[0])
    return route.params(step.path.split("?", 1)[0]).get("customerId") if route is not None else None
