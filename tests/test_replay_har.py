"""mockserver replay reads HAR files the way a user hands them over: journal exports, Playwright's
recordHar, a browser's export; and every file it cannot replay (bad JSON, missing fields, binary
content, huge entries, requests to other hosts only) gets one clear line and exit 2, never a
traceback. Nothing here reaches a server: the file is refused before the target is asked anything."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.remote.safety import UsageProblem
from mockserver.replay.har import MAX_BODY_BYTES, HarError, parse_har
from mockserver.replay.plan import ApiBase, Rewriter, api_base, parse_maps, route_table, spec_path
from tests.drift_support import run_cli
from tests.replay_support import ACME, AISHA, DATA, ROBERT, USERS, page_entry

PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=40,
                    suppress_health_check=list(HealthCheck))
API = "http://127.0.0.1:8080"
# Nothing listens here, and nothing is ever sent: every file below is refused first.
TARGET = "http://127.0.0.1:9"


def entry(method: str, url: str, *, headers=(), body: str | None = None, **post) -> dict:
    document = page_entry(url, method)
    document["request"]["headers"] = [{"name": name, "value": value} for name, value in headers]
    if body is not None:
        document["request"]["postData"] = {"mimeType": "application/json", "text": body, **post}
    return document


def valid_har() -> dict:
    return {"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": [
        entry("GET", "http://localhost:5173/", headers=[("Accept", "text/html")]),
        entry("GET", f"{API}{USERS}?integration=cloud-assistant-cdr", headers=[("Authorization", "Bearer jane…")]),
        entry("PATCH", f"{API}{USERS}/{AISHA}", headers=[("Authorization", "Bearer jane-token"),
                                                        ("Content-Type", "application/json")],
              body=json.dumps({"jobTitle": "Partner", "delegateIds": [ROBERT]})),
    ]}}


def refuse(tmp_path: Path, content: bytes | str) -> str:
    """Replay a file holding ``content``: it must exit 2 with one line; returns that line."""
    path = tmp_path / "broken.har"
    path.write_bytes(content.encode("utf-8", errors="surrogatepass") if isinstance(content, str) else content)
    code, out, err = run_cli("replay", str(path), TARGET, "--rate-limit", "off")
    assert code == 2, (code, out, err)
    assert out == "", out
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mockserver replay: could not run: "), err
    assert "Traceback" not in err
    return lines[0]


# -- what is read ---------------------------------------------------------------------------------


def test_a_valid_file_gives_every_entry_in_order():
    entries = parse_har(json.dumps(valid_har()).encode())
    assert [(e.number, e.method, e.origin) for e in entries] == [
        (1, "GET", "http://localhost:5173"), (2, "GET", API), (3, "PATCH", API)]
    assert json.loads(entries[2].body) == {"jobTitle": "Partner", "delegateIds": [ROBERT]}
    assert entries[1].path_and_query == f"{USERS}?integration=cloud-assistant-cdr"


def test_base64_bodies_form_params_and_a_byte_order_mark_are_read():
    har = valid_har()
    har["log"]["entries"][2]["request"]["postData"] = {
        "mimeType": "application/json", "encoding": "base64", "text": base64.b64encode(b'{"a": 1}').decode()}
    har["log"]["entries"].append(entry("PATCH", f"{API}{USERS}/{AISHA}"))
    har["log"]["entries"][3]["request"]["postData"] = {"mimeType": "application/x-www-form-urlencoded",
                                                      "params": [{"name": "a", "value": "1 2"}]}
    entries = parse_har(b"\xef\xbb\xbf" + json.dumps(har).encode())
    assert entries[2].body == b'{"a": 1}'
    assert entries[3].body == b"a=1+2"


def test_the_users_api_origin_is_found_and_other_entries_are_skipped_with_why():
    har = valid_har()
    har["log"]["entries"] += [entry("GET", f"{API}/docs/"), entry("POST", f"{API}{USERS}"),
                              entry("OPTIONS", f"{API}{USERS}", headers=[("Access-Control-Request-Method", "GET")])]
    entries = parse_har(json.dumps(har).encode())
    routes = route_table()
    base = api_base(entries, routes, None, "f.har")
    assert base == ApiBase(API) and str(base) == API
    items = [Rewriter(routes, base, {}, "run-token").item(e) for e in entries]
    assert [item.operation_id for item in items] == ["", "list_users", "update_user_v1", "", "", ""]
    reasons = [item.skipped for item in items]
    assert reasons[0].startswith("another host (http://localhost:5173)")
    assert reasons[3] == "not a path of the Users API's spec"
    assert reasons[4] == "POST is not an operation of /api/v1/customers/{customerId}/users in the spec"
    assert reasons[5].startswith("a CORS preflight")


def test_ids_are_mapped_everywhere_and_the_run_token_replaces_every_recorded_one():
    entries = parse_har(json.dumps(valid_har()).encode())
    other_customer, other_user, other_robert = "7" * 24, "8" * 24, "9" * 24
    mapping = parse_maps((f"{ACME}={other_customer}", f"{AISHA}={other_user}", f"{ROBERT}={other_robert}"))
    rewriter = Rewriter(route_table(), ApiBase(API), mapping, "run-token")
    listing, patch = rewriter.item(entries[1]).step, rewriter.item(entries[2]).step
    assert listing.path == f"/api/v1/customers/{other_customer}/users?integration=cloud-assistant-cdr"
    assert patch.path == f"/api/v1/customers/{other_customer}/users/{other_user}"
    assert json.loads(patch.body) == {"jobTitle": "Partner", "delegateIds": [other_robert]}
    assert listing.headers["Authorization"] == patch.headers["Authorization"] == "Bearer run-token"
    assert patch.headers["Content-Type"] == "application/json"
    assert patch.headers["Content-Length"] == str(len(patch.body))
    unauthenticated = rewriter.item(parse_har(json.dumps({"log": {"entries": [
        entry("GET", f"{API}{USERS}", headers=[("Cookie", "a=b"), ("Prefer", "code=500")])]}}).encode())[0]).step
    assert "Authorization" not in unauthenticated.headers
    assert "Cookie" not in unauthenticated.headers and "Prefer" not in unauthenticated.headers
    assert rewriter.mapped[ACME] == 3
    spaced = parse_har(json.dumps({"log": {"entries": [entry("GET", f"{API}{USERS}?search=Zoë O'Neil&x=%7B")]}}).encode())
    assert rewriter.item(spaced[0]).step.path == f"/api/v1/customers/{other_customer}/users?search=Zo%C3%AB%20O'Neil&x=%7B"


def test_a_browser_export_with_http2_pseudo_headers_is_read_and_only_the_api_headers_are_sent():
    # As Chromium's DevTools export it: HTTP/2, pseudo-headers, its own underscore fields.
    document = valid_har()
    patch = document["log"]["entries"][2]
    patch["_resourceType"] = "fetch"
    patch["_initiator"] = {"type": "script"}
    patch["request"].update(httpVersion="http/2.0", headers=[
        {"name": ":method", "value": "PATCH"}, {"name": ":authority", "value": "127.0.0.1:8080"},
        {"name": ":path", "value": f"{USERS}/{AISHA}"}, {"name": "authorization", "value": "Bearer jane-token"},
        {"name": "content-type", "value": "application/json"}, {"name": "cookie", "value": "session=abc"},
        {"name": "sec-ch-ua", "value": '"Chromium";v="156"'}])
    entries = parse_har(json.dumps(document).encode())
    step = Rewriter(route_table(), ApiBase(API), {}, "run-token").item(entries[2]).step
    assert step.method == "PATCH" and step.path == f"{USERS}/{AISHA}"
    assert {name.lower() for name in step.headers} == {"user-agent", "authorization", "content-type", "content-length"}
    assert step.headers["Authorization"] == "Bearer run-token"


def test_a_write_whose_body_the_recorder_left_out_is_listed_not_sent_with_why():
    # Playwright's recordHar with content "omit" keeps the size of a request body, not the body.
    document = valid_har()
    document["log"]["entries"][2]["request"].update(bodySize=22, postData={"mimeType": "application/json",
                                                                           "text": "", "params": []})
    document["log"]["entries"][1]["request"]["bodySize"] = 0
    entries = parse_har(json.dumps(document).encode())
    rewriter = Rewriter(route_table(), ApiBase(API), {}, "run-token")
    assert rewriter.item(entries[1]).not_sent == ""
    item = rewriter.item(entries[2])
    assert item.step is not None and item.outcome == "not sent"
    assert item.not_sent.startswith("the file does not hold its body (22 bytes were sent)")


GATEWAY = "https://staging.example.com"


def gateway_har(*prefixes: str) -> list:
    """The app's session as recorded against a deployment behind a gateway: the API under each of
    ``prefixes``, and the gateway's other services and the page beside it."""
    entries = [entry("GET", f"{GATEWAY}/"), entry("GET", f"{GATEWAY}/billing/invoices?page=2")]
    for prefix in prefixes:
        entries += [entry("GET", f"{GATEWAY}{prefix}{USERS}?search=ann", headers=[("Authorization", "Bearer x")]),
                    entry("PATCH", f"{GATEWAY}{prefix}{USERS}/{AISHA}", headers=[("Content-Type", "application/json")],
                          body=json.dumps({"delegateIds": [ROBERT]}))]
    return parse_har(json.dumps({"log": {"entries": entries}}).encode())


def test_an_api_behind_a_gateway_prefix_is_found_and_replayed_at_the_spec_paths():
    entries = gateway_har("/identity/v3")
    routes = route_table()
    base = api_base(entries, routes, None, "g.har")
    assert base == ApiBase(GATEWAY, "/identity/v3") and str(base) == f"{GATEWAY}/identity/v3"
    rewriter = Rewriter(routes, base, {ACME: "7" * 24}, "run-token")
    items = [rewriter.item(e) for e in entries]
    assert [item.operation_id for item in items] == ["", "", "list_users", "update_user_v1"]
    assert items[2].step.path == f"/api/v1/customers/{'7' * 24}/users?search=ann"
    assert items[3].step.path == f"/api/v1/customers/{'7' * 24}/users/{AISHA}"
    assert items[1].skipped == "not a path of the Users API's spec"
    # The origin alone chooses too (one prefix there); the base with its prefix, with or without "/".
    for chosen in (GATEWAY, f"{GATEWAY}/", f"{GATEWAY}/identity/v3/", "HTTPS://Staging.Example.com/identity/v3"):
        assert api_base(entries, routes, chosen, "g.har") == base, chosen


def test_two_gateway_prefixes_need_har_origin_and_the_other_is_skipped_with_why():
    entries = gateway_har("/identity", "/identity-next")
    routes = route_table()
    with pytest.raises(HarError, match=r"several origins or path prefixes \(https://staging.example.com/identity, "
                                       r"https://staging.example.com/identity-next\): choose one with --har-origin"):
        api_base(entries, routes, None, "g.har")
    with pytest.raises(HarError, match=r"no request to the Users API at --har-origin https://staging.example.com "
                                       r"\(it has some at https://staging.example.com/identity, "):
        api_base(entries, routes, GATEWAY, "g.har")
    base = api_base(entries, routes, f"{GATEWAY}/identity-next", "g.har")
    rewriter = Rewriter(routes, base, {}, "run-token")
    items = [rewriter.item(e) for e in entries]
    assert [bool(item.step) for item in items] == [False, False, False, False, True, True]
    assert items[2].skipped == f"under {GATEWAY}/identity, not the Users API at {GATEWAY}/identity-next"
    with pytest.raises(UsageProblem, match="--har-origin 'staging.example.com': give an origin"):
        api_base(entries, routes, "staging.example.com", "g.har")


SEGMENT = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=1, max_size=12).filter(
    lambda s: s not in (".", ".."))
SPEC_PATHS = st.sampled_from([USERS, f"{USERS}/lookup", f"{USERS}/{AISHA}", f"/api/v2/customers/{ACME}/users/{AISHA}"])


@PROPERTY
@given(segments=st.lists(SEGMENT, max_size=4), path=SPEC_PATHS)
def test_property_any_gateway_prefix_is_split_from_the_spec_path(segments, path):
    prefix = "".join(f"/{segment}" for segment in segments)
    assert spec_path(route_table(), prefix + path) == (prefix, path)
    assert spec_path(route_table(), prefix + path.replace("/api/", "/apx/")) is None


@pytest.mark.parametrize("value, message", [
    ("abc", "--map 'abc': use OLD=NEW with two ObjectIds"),
    (f"{ACME}=nope", "two ObjectIds"),
])
def test_a_bad_map_is_refused(value, message):
    with pytest.raises(UsageProblem, match=message):
        parse_maps((value,))
    with pytest.raises(UsageProblem, match="mapped twice"):
        parse_maps((f"{ACME}={'1' * 24}", f"{ACME}={'2' * 24}"))


def test_the_committed_playwright_file_is_a_har_of_a_browser_session():
    entries = parse_har((DATA / "playwright-session.har").read_bytes())
    base = api_base(entries, route_table(), None, "playwright-session.har")
    assert base.origin.startswith("http://127.0.0.1:") and base.prefix == ""
    assert len({e.origin for e in entries}) == 2  # the page's server and the fake
    patch = next(e for e in entries if e.method == "PATCH")
    assert json.loads(patch.body) == {"jobTitle": "Partner"}
    assert patch.header("Sec-Fetch-Mode") == "cors" and patch.header("Authorization") == "Bearer jane-token"


# -- what is refused: one line, exit 2 ----------------------------------------------------------


def _without(document: dict, index: int, *keys: str) -> dict:
    target = document["log"]["entries"][index]
    for key in keys[:-1]:
        target = target[key]
    del target[keys[-1]]
    return document


@pytest.mark.parametrize("change, message", [
    (lambda d: "{not json", "is not a HAR file: invalid JSON at line 1 column 2"),
    (lambda d: "", "is not a HAR file: it is empty"),
    (lambda d: "[]", 'no "log" object at the top'),
    (lambda d: {"log": {}}, "log.entries is missing"),
    (lambda d: _without(d, 1, "request"), "entry 2: request is missing"),
    (lambda d: _without(d, 1, "request", "url"), "entry 2: request.url is missing"),
    (lambda d: _without(d, 2, "request", "method"), "entry 3: request.method is missing"),
    (lambda d: _without(d, 2, "request", "headers"), "entry 3: request.headers is missing"),
    (lambda d: {"log": {"entries": [page_entry("http://localhost:5173/app.js")]}},
     "holds no request to the Users API (1 entries, to http://localhost:5173)"),
])
def test_each_kind_of_broken_file_names_what_is_wrong(tmp_path, change, message):
    document = change(valid_har())
    line = refuse(tmp_path, document if isinstance(document, str) else json.dumps(document))
    assert message in line, line


def test_a_huge_body_a_binary_file_and_a_bad_base64_body_are_refused(tmp_path):
    document = valid_har()
    document["log"]["entries"][2]["request"]["postData"]["text"] = "x" * (MAX_BODY_BYTES + 1)
    assert f"entry 3: the request body is {MAX_BODY_BYTES + 1} bytes" in refuse(tmp_path, json.dumps(document))
    assert "not UTF-8 text" in refuse(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    document = valid_har()
    document["log"]["entries"][2]["request"]["postData"].update(encoding="base64", text="not base64!")
    assert "entry 3: request.postData.text is not valid base64" in refuse(tmp_path, json.dumps(document))
    document["log"]["entries"][2]["request"]["postData"] = {"text": "\ud800", "mimeType": "application/json"}
    assert "not text (a binary body" in refuse(tmp_path, json.dumps(document))


def test_a_missing_file_and_several_api_origins_are_refused(tmp_path):
    code, out, err = run_cli("replay", str(tmp_path / "none.har"), TARGET)
    assert code == 2 and err.strip().startswith("mockserver replay: could not run: cannot read"), err
    document = valid_har()
    document["log"]["entries"].append(entry("GET", f"http://127.0.0.1:9090{USERS}"))
    line = refuse(tmp_path, json.dumps(document))
    assert "several origins or path prefixes" in line and line.endswith("choose one with --har-origin"), line
    path = tmp_path / "session.har"
    path.write_text(json.dumps(valid_har()))
    code, out, err = run_cli("replay", str(path), TARGET, "--har-origin", "http://127.0.0.1:9090/")
    assert code == 2 and err.splitlines() == [
        f"mockserver replay: could not run: {path} holds no request to the Users API at --har-origin "
        f"http://127.0.0.1:9090 (it has some at {API})"], err


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@PROPERTY
@given(content=st.binary(max_size=200).filter(lambda b: b[:1] not in (b"{", b"[")))
def test_property_any_bytes_that_are_not_a_har_file_get_one_line(tmp_path_factory, content):
    refuse(tmp_path_factory.mktemp("har"), content)


@PROPERTY
@given(value=JSON_VALUES)
def test_property_any_json_that_is_not_a_har_of_api_requests_gets_one_line(tmp_path_factory, value):
    refuse(tmp_path_factory.mktemp("har"), json.dumps(value))


WRONG = st.one_of(st.none(), st.integers(), st.lists(st.integers(), min_size=1, max_size=2), st.just(""), st.just({}))


def _mutations():
    """A change that makes the valid file unreplayable, and a fragment of the line that must say so."""
    index = st.integers(1, 2)  # the Users API entries (0-based 1 and 2)
    field = st.sampled_from(["method", "url", "headers"])
    return st.one_of(
        st.tuples(index, field).map(lambda a: (("drop", *a), f"entry {a[0] + 1}: request.{a[1]} is missing")),
        st.tuples(index, field, WRONG).map(lambda a: (("set", *a), f"entry {a[0] + 1}: request.{a[1]}")),
        st.tuples(index, st.sampled_from([{"name": "A"}, {"value": "b"}, "A: b", {"name": 1, "value": "b"}])).map(
            lambda a: (("header", *a), f"entry {a[0] + 1}: request.headers[0]")),
        st.integers(1, 400).map(lambda cut: (("cut", cut), "invalid JSON")),
        st.sampled_from(["ftp://h/x", "/relative/path", "http://", "mailto:x@y"]).map(
            lambda url: (("set", 1, "url", url), "entry 2: request.url")),
        st.text("!*? ", min_size=1, max_size=8).map(lambda text: (("base64", text), "not valid base64")),
        st.sampled_from(["http://elsewhere.example", "https://cdn.example:8443"]).map(
            lambda host: (("hosts", host), "holds no request to the Users API")),
    )


def _apply(change: tuple) -> str:
    document = valid_har()
    entries = document["log"]["entries"]
    kind = change[0]
    if kind == "drop":
        del entries[change[1]]["request"][change[2]]
    elif kind == "set":
        entries[change[1]]["request"][change[2]] = change[3]
    elif kind == "header":
        entries[change[1]]["request"]["headers"] = [change[2]]
    elif kind == "base64":
        entries[2]["request"]["postData"].update(encoding="base64", text=change[1])
    elif kind == "hosts":
        for number, item in enumerate(entries):
            item["request"]["url"] = f"{change[1]}/static/chunk-{number}.js"
    text = json.dumps(document)
    return text[: min(change[1], len(text) - 1)] if kind == "cut" else text


@PROPERTY
@given(mutation=_mutations())
def test_property_a_broken_har_file_names_its_fault_in_one_line(tmp_path_factory, mutation):
    change, fragment = mutation
    line = refuse(tmp_path_factory.mktemp("har"), _apply(change))
    assert fragment in line, (change, line)


def test_parse_errors_are_har_errors_not_crashes():
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(HarError, match="invalid JSON"):
        parse_har(deep.encode())
    with pytest.raises(HarError, match="entry 1 is not an object"):
        parse_har(b'{"log": {"entries": [1]}}')
