"""From recorded requests to the steps a replay sends: which are the Users API's, and how each
is rewritten for the run.

An entry is replayed when it was sent to the Users API's base URL in the file (``--har-origin``,
or the one base whose requests match the spec's paths) and its method is an operation of the spec
on its path (:class:`mockserver.spec.routes.RouteTable`). Every other entry is skipped, with why:
another host, a path the spec does not have, a method the path does not have, a CORS preflight.
The base is an origin and, when the app reached the API behind a gateway, the path before the
spec's paths (``https://gateway.example.com/identity``): that prefix is the recording's, not the
deployment's, and is taken off before the request is sent to the target's URL and to the fake.

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
from urllib.parse import urlsplit

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


@dataclass(frozen=True)
class ApiBase:
    """Where the app reached the Users API in the file: an origin and the path a gateway puts before
    the spec's paths ("" when they are at the origin's root)."""

    origin: str
    prefix: str = ""

    def __str__(self) -> str:
        return self.origin + self.prefix

    @classmethod
    def parse(cls, url: str) -> ApiBase:
        """``--har-origin``'s value: an origin, or an origin and a path prefix."""
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise UsageProblem(f"--har-origin {url!r}: give an origin, with the gateway's path prefix if there is "
                               "one (https://gateway.example.com or https://gateway.example.com/identity)")
        return cls(f"{parts.scheme}://{parts.netloc}".lower(), parts.path.rstrip("/"))


def spec_path(routes: RouteTable, path: str) -> tuple[str, str] | None:
    """``(prefix, rest)``: ``path`` split where the rest is one of the spec's paths, with the
    shortest prefix ("" when ``path`` itself is); None when no end of ``path`` is."""
    for position, letter in enumerate(path):
        if letter == "/" and routes.match(path[position:]) is not None:
            return path[:position], path[position:]
    return None


def api_base(entries: list[Recorded], routes: RouteTable, chosen: str | None, name: str) -> ApiBase:
    """The base URL the app reached the Users API at; raises :class:`HarError` when there is none
    or more than one and ``--har-origin`` does not say which (:class:`UsageProblem` when that option
    is not a URL)."""
    found: Counter = Counter()
    for entry in entries:
        split = spec_path(routes, _path(entry))
        if split is not None:
            found[ApiBase(entry.origin, split[0])] += 1
    listed = ", ".join(sorted(str(base) for base in found))
    if chosen:
        wanted = ApiBase.parse(chosen)
        if wanted in found:
            return wanted
        at_origin = [base for base in found if base.origin == wanted.origin]
        if not wanted.prefix and len(at_origin) == 1:
            return at_origin[0]  # an origin was named, and the file reached the API under one prefix there
        elsewhere = f" (it has some at {listed})" if found else ""
        raise HarError(f"{name} holds no request to the Users API at --har-origin {wanted}{elsewhere}")
    if not found:
        hosts = sorted({entry.origin for entry in entries})
        shown = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")
        raise HarError(f"{name} holds no request to the Users API ({len(entries)} entries"
                       + (f", to {shown}" if hosts else "") + ")")
    if len(found) > 1:
        raise HarError(f"{name} has Users API requests at several origins or path prefixes ({listed}): "
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

    def __init__(self, routes: RouteTable, base: ApiBase, mapping: dict[str, str], token: str | None):
        self.routes, self.base, self.mapping, self.token = routes, base, mapping, token
        self.mapped: Counter = Counter()  # OLD -> how many requests it was replaced in

    def item(self, entry: Recorded) -> Item:
        if entry.origin != self.base.origin:
            return Item(entry, skipped=f"another host ({entry.origin}), not the Users API at {self.base}")
        split = spec_path(self.routes, _path(entry))
        if split is None:
            return Item(entry, skipped="not a path of the Users API's spec")
        if split[0] != self.base.prefix:
            return Item(entry, skipped=f"under {entry.origin}{split[0]}, not the Users API at {self.base}")
        route = self.routes.match(split[1])
        if entry.method == "OPTIONS" and entry.header("Access-Control-Request-Method") is not None:
            return Item(entry, skipped="a CORS preflight (the browser's, not the app's)")
        operation_id = route.operation_id(entry.method)
        if operation_id is None:
            return Item(entry, skipped=f"{entry.method} is not an operation of {route.template} in the spec")
        item = Item(entry, step=self.step(entry, f"{entry.method} {route.template}", len(split[0])),
                    operation_id=operation_id)
        if entry.omitted:
            item.not_sent = (f"the file does not hold its body ({entry.omitted} bytes were sent): record with request "
                             'bodies (Playwright: recordHar content "embed")')
        return item

    def step(self, entry: Recorded, operation: str, prefix: int = 0) -> Step:
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
        path = requote_uri(self._map(entry.path_and_query[prefix:]))
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
