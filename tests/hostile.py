"""Generators and checks of hostile input, shared by tests/test_hostile_input.py and the longer run
in bench/hostile_fuzz.py: the same properties, a different number of cases.

- :func:`mutated_fixture`: the bundled fixture with one to three random edits at random paths
  (any JSON value, escapes included; huge numbers; wrong types; a removed key; a duplicated key),
  as the bytes of a file.
- :func:`check_fixture_bytes`: the loader's only allowed outcomes: ``FixtureError``, or a clean
  load after which every user serves and ``snapshot()`` loads back.
- :func:`json_text`: arbitrary JSON text (any structure, any string: lone surrogate escapes,
  control characters, astral characters).
- :func:`query_strings`, :data:`any_bytes`, :data:`TARGETS`, :data:`HEADER_NAMES`: arbitrary query and
  header bytes, and where to send them.
- :class:`AsgiCaller`: sends a request with arbitrary bytes (query, header values, body) straight
  into the ASGI app, which no HTTP client would let through; :func:`healthy` and :func:`restore`
  check and repair the app between cases (the credentials are :data:`ADMIN_AUTH` and :data:`USER_AUTH`).
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from mockserver.fixtures.document import FixtureError, FixtureLoader
from mockserver.store.memory import Store
from tests.conftest import JANE, user_url, users_url

ROOT = Path(__file__).resolve().parent.parent
ACME_DOCUMENT = json.loads((ROOT / "fixtures" / "acme.json").read_text(encoding="utf-8"))
ADMIN_TOKEN = "hostile-admin"
ADMIN_AUTH = (b"authorization", b"Bearer " + ADMIN_TOKEN.encode())
USER_AUTH = (b"authorization", b"Bearer acme-admin-token")
JSON_TYPE = (b"content-type", b"application/json")

# -- values ----------------------------------------------------------------------------------

_ODD_STRINGS = st.sampled_from([
    "\ud800", "\udfff", "a\ud83d", "\ude00b", "\ud83d\ude00", "\x00", "\n", "\u2028", "\ufeff", "\uffff",
    "2022-08-12", "2022-08-12T20:44:48", "2022-08-12T20:44:48Z", "2022-08-12T20:44:48+25:00",
    "2022-08-12T20:44:48Z\n", "٢٠٢٢-08-12T20:44:48Z", "6500000000000000000000a1", "", " ", "x" * 70_000,
    "null", "Bearer x", "é", "\u00e9" * 3, "../../etc/passwd", "%00", "a@b.co", "user@exa\ud800mple.com",
])
strings = st.one_of(st.text(max_size=30), _ODD_STRINGS)
_HUGE = st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 1e308, -0.0, 5e-324])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), _HUGE, st.floats(allow_nan=False), strings)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(strings, children, max_size=4)),
    max_leaves=12,
)


def dumps(value: Any) -> str:
    """JSON text; lone surrogates go out as escapes (json.dumps with ensure_ascii does that)."""
    return json.dumps(value)


@st.composite
def json_text(draw) -> bytes:
    """Arbitrary JSON, mostly objects (a body), now and then with a duplicated key."""
    value = draw(st.one_of(st.dictionaries(strings, json_values, max_size=6), json_values))
    text = dumps(value)
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        text = text[:-1] + f", {dumps(key)}: {dumps(draw(json_values))}}}"
    return text.encode("utf-8")


# -- query strings and header values ----------------------------------------------------------

TARGETS = [
    ("GET", users_url()), ("GET", users_url(version="v2")), ("GET", user_url(JANE)),
    ("GET", users_url() + "/lookup"), ("DELETE", user_url("6500000000000000000009ff")), ("PATCH", user_url(JANE)),
    ("GET", "/__admin/journal"), ("GET", "/__admin/status"), ("GET", "/__admin/fixtures"), ("POST", "/__admin/reset"),
    ("DELETE", "/__admin/sessions/x"), ("GET", "/nowhere"), ("OPTIONS", user_url(JANE)),
]
HEADER_NAMES = [b"authorization", b"x-mock-session", b"prefer", b"content-type", b"accept", b"origin",
                b"access-control-request-method", b"x-forwarded-for", b"if-none-match", b"x-other"]
# Header bytes are read as latin-1: "\xb2" is "²", a digit to str.isdigit() that int() refuses.
_LATIN1_DIGITS = st.sampled_from([b"\xb2", b"\xb3", b"\xb9", b"1\xb2", b"limit=\xb2", b"delay=\xb2", b"code=\xb2\xb2\xb2",
                                  b"%C2%B2", b"%ED%A0%80", b"%FF", b"%", b"%%", b"\xe9", b"\x00", b"\r\n"])
any_bytes = st.one_of(st.binary(max_size=40), strings.map(lambda s: s.encode("utf-8", "surrogatepass")[:200]),
                      _LATIN1_DIGITS)


@st.composite
def query_strings(draw) -> bytes:
    parts = [b"integration=" + draw(st.sampled_from([b"cloud-assistant-cdr", b""])) if draw(st.booleans()) else b""]
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from([b"search", b"limit", b"integration", b"isForwarded", b"originalPrincipalId", b"x"]))
        parts.append(name + b"=" + draw(any_bytes))
    if draw(st.booleans()):
        parts.append(draw(any_bytes))
    return b"&".join(parts)


# -- fixture mutation ------------------------------------------------------------------------


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for key, child in node.items():
            out += _paths(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            out += _paths(child, (*path, index))
    return out


ACME_PATHS = _paths(ACME_DOCUMENT)


def _parent(document: Any, path: tuple) -> Any:
    for part in path[:-1]:
        document = document[part]
    return document


@st.composite
def mutated_fixture(draw) -> bytes:
    document = copy.deepcopy(ACME_DOCUMENT)
    duplicate: tuple | None = None
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ACME_PATHS))
        try:
            parent = _parent(document, path)
            if path:
                parent[path[-1]]  # still there after an earlier edit?
        except (KeyError, IndexError, TypeError):
            continue
        kind = draw(st.sampled_from(["replace", "replace", "replace", "remove", "duplicate", "add"]))
        if not path:
            if kind == "replace":
                document = draw(json_values)
            continue
        key = path[-1]
        if kind == "replace":
            parent[key] = draw(json_values)
        elif kind == "remove":
            del parent[key]
        elif kind == "add" and isinstance(parent, dict):
            parent[draw(strings)] = draw(json_values)
        elif kind == "add" and isinstance(parent, list):
            parent.append(draw(json_values))
        elif kind == "duplicate" and isinstance(parent, dict):
            duplicate = path
    text = dumps(document)
    if duplicate is not None and isinstance(document, dict):
        # A second copy of a top-level key, in the text (a dict cannot hold one).
        top = duplicate[0]
        if top in document:
            text = text[:-1] + f", {dumps(top)}: {dumps(document[top])}}}"
    return text.encode("utf-8")


def check_fixture_bytes(loader: FixtureLoader, raw: bytes, path: Path) -> str:
    """Load ``raw`` as a fixture file; return "rejected" or "loaded", or raise AssertionError."""
    path.write_bytes(raw)
    try:
        seed = loader.load_files([path])
    except FixtureError as err:
        assert err.problems and all(isinstance(p, str) and p for p in err.problems)
        str(err).encode("utf-8")  # the problem list itself can be printed
        return "rejected"
    store = Store(seed)
    for customer in seed["customers"]:
        for user in customer["users"]:
            served = store.get_user(customer["_id"], user["_id"])
            json.dumps(served, ensure_ascii=False).encode("utf-8")
        json.dumps(store.list_users(customer["_id"], None), ensure_ascii=False).encode("utf-8")
    snapshot = store.snapshot()
    loader.load_document(json.loads(json.dumps(snapshot)), name="snapshot")
    return "loaded"


# -- raw ASGI requests -----------------------------------------------------------------------


class AsgiCaller:
    """Calls an ASGI app in one event loop; answers ``(status, headers, body)``."""

    def __init__(self, app: Any):
        self.app = app
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        self.loop.close()

    def request(self, method: str, path: str, *, query: bytes = b"", headers: list[tuple[bytes, bytes]] = (),
                body: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
        return self.loop.run_until_complete(self._request(method, path, query, list(headers), body))

    async def _request(self, method, path, query, headers, body):
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode("latin-1", "replace"), "root_path": "",
            "query_string": query, "headers": [(b"host", b"127.0.0.1"), *headers],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
        }
        sent = False
        messages: list[dict] = []

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)  # never: the request is not over until the answer is

        async def send(message):
            messages.append(message)

        await asyncio.wait_for(self.app(scope, receive, send), timeout=30)
        start = next(m for m in messages if m["type"] == "http.response.start")
        payload = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        return start["status"], dict(start.get("headers", [])), payload


def assert_json_answer(status: int, headers: dict[bytes, bytes], body: bytes, what: str) -> Any:
    """Never a 5xx; a body, when there is one, is JSON (a problem for every error)."""
    assert status < 500, f"{what}: {status} {body[:300]!r}"
    if status >= 400:
        assert headers.get(b"content-type") == b"application/problem+json", f"{what}: {status} {headers}"
    if body:
        assert headers.get(b"content-type", b"").split(b";")[0] in (b"application/json", b"application/problem+json"), \
            f"{what}: {headers.get(b'content-type')!r}"
        return json.loads(body)
    return None


def healthy(caller: AsgiCaller) -> None:
    """The app still serves Jane (after whatever a case sent it)."""
    status, headers, body = caller.request("GET", user_url(JANE), headers=[USER_AUTH])
    assert status == 200, body[:300]
    assert json.loads(body)["_id"] == JANE


def restore(caller: AsgiCaller, store: Store) -> None:
    """The bundled fixture back in place, through the admin API."""
    status, _, body = caller.request("PUT", "/__admin/fixtures", headers=[ADMIN_AUTH, JSON_TYPE],
                                     body=json.dumps(ACME_DOCUMENT).encode())
    assert status == 200, body[:300]


def random_seed() -> int:
    return random.SystemRandom().randrange(2**32)
