"""The proxy's pure parts, without HTTP: operation matching, the checks on a small spec of their own
(a required response header, a wildcard media type), the hop-by-hop rule, decompression limits and the
bounded violation log."""

from __future__ import annotations

import gzip
import zlib

import pytest

from mockserver.proxy.contract import Contract
from mockserver.proxy.forward import decoded_for_check, end_to_end
from mockserver.proxy.violations import Exchange, ViolationLog
from mockserver.spec.schemas import load_spec

SMALL_SPEC = {
    "openapi": "3.0.3",
    "paths": {
        "/things/{id}": {
            "get": {
                "operationId": "get_thing",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {
                    "200": {"description": "ok", "headers": {"X-Rate": {"required": True, "schema": {"type": "integer"}}},
                            "content": {"application/*": {"schema": {"type": "object", "required": ["n"]}}}},
                    "4XX": {"description": "client error"},
                },
            },
        },
        "/things/special": {"get": {"operationId": "special", "responses": {"204": {"description": "none"}}}},
    },
}


def test_a_literal_segment_wins_over_a_parameter_and_head_finds_the_get():
    contract = Contract(load_spec())
    base = "/api/v1/customers/6500000000000000000000a1/users"
    assert contract.match("GET", base + "/lookup")[0].operation_id == "lookup_user_identity"
    assert contract.match("GET", base + "/6500000000000000000001a1/")[0].operation_id == "get_user"
    assert contract.match("HEAD", base + "/6500000000000000000001a1")[0].operation_id == "get_user"
    operation, params, documented = contract.match("PUT", base + "/x")
    assert operation is None and params == {} and sorted(documented) == ["DELETE", "GET", "PATCH"]
    assert contract.match("GET", "/favicon.ico") == (None, {}, [])


def test_the_checks_of_a_spec_with_a_required_header_a_status_range_and_a_wildcard_media_type():
    contract = Contract(SMALL_SPEC)
    assert contract.match("GET", "/things/special")[0].operation_id == "special"
    operation, params, _ = contract.match("GET", "/things/7")
    assert params == {"id": "7"} and not operation.bearer  # no security requirement in this spec
    scope = {"type": "http", "method": "GET", "path": "/things/x", "query_string": b"", "headers": []}
    assert [f.check for f in contract.check_request(operation, scope, {"id": "x"}, {}, b"")] == [
        "request_parameters_conformance"]
    assert contract.check_request(operation, scope, {"id": "7"}, {}, b"") == []
    ok = {"content-type": "application/vnd.thing+json", "x-rate": "10"}
    assert contract.check_response(operation, "GET", 200, ok, b'{"n": 1}') == []
    missing = contract.check_response(operation, "GET", 200, {"content-type": "application/json"}, b'{"n": 1}')
    assert [(f.check, f.detail) for f in missing] == [("response_headers_conformance",
                                                       "the required header X-Rate is missing")]
    wrong = contract.check_response(operation, "GET", 200, {**ok, "x-rate": "many"}, b"{}")
    assert [f.check for f in wrong] == ["response_headers_conformance", "response_schema_conformance"]
    assert contract.check_response(operation, "GET", 200, {**ok, "content-type": "text/plain"}, b"x")[0].check == \
        "content_type_conformance"
    assert contract.check_response(operation, "GET", 404, {}, b"") == []  # 4XX
    assert contract.check_response(operation, "GET", 500, {}, b"")[0].check == "status_code_conformance"
    assert contract.check_response(operation, "GET", 200, ok, None) == []  # not buffered: not checked
    assert contract.check_response(operation, "HEAD", 200, ok, b"") == []


def test_hop_by_hop_fields_and_the_fields_connection_names_are_dropped_in_order():
    headers = [(b"X-A", b"1"), (b"Connection", b"keep-alive, X-Private"), (b"X-Private", b"p"), (b"TE", b"trailers"),
               (b"Transfer-Encoding", b"chunked"), (b"Keep-Alive", b"timeout=5"), (b"Upgrade", b"h2c"),
               (b"Proxy-Connection", b"x"), (b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2"), (b"Proxy-Authorization", b"x")]
    assert end_to_end(headers) == [(b"X-A", b"1"), (b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2"),
                                   (b"Proxy-Authorization", b"x")]


def test_decompression_for_the_check_is_bounded():
    body = b'{"n": 1}'
    assert decoded_for_check(gzip.compress(body), "gzip", 100) == (body, None)
    assert decoded_for_check(zlib.compress(body), "deflate", 100) == (body, None)
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decoded_for_check(raw_deflate.compress(body) + raw_deflate.flush(), "deflate", 100) == (body, None)
    assert decoded_for_check(body, None, 100) == (body, None)
    bomb = gzip.compress(b"0" * 10_000_000)
    assert decoded_for_check(bomb, "gzip", 1000) == (None, "body over 1000 bytes once decompressed")
    assert decoded_for_check(b"nope", "gzip", 100)[0] is None
    assert decoded_for_check(body, "br", 100) == (None, "Content-Encoding br")


@pytest.mark.parametrize("kept", [1, 3])
def test_the_violation_log_keeps_the_last_ones_counts_all_and_masks_the_token(kept):
    lines: list[str] = []
    log = ViolationLog(kept=kept, write=lines.append)
    exchange = Exchange("GET", "https://d.example", "/p", "token=s3cret-value", {"authorization": "Bearer s3cret-value"},
                        b"")
    for n in range(5):
        log.violation("op", "check_a" if n % 2 else "check_b", f"detail {n} s3cret-value", 200, exchange)
    assert len(log.violations()) == kept and log.total == 5
    assert log.violations()[-1]["detail"] == "detail 4 ***"
    assert all("s3cret-value" not in line for line in lines) and len(lines) == 5
    summary = "\n".join(log.summary())
    assert "5 violation(s)" in summary and "check_a" in summary and "check_b" in summary
    log.clear()
    assert log.violations() == [] and log.total == 5


def test_the_operations_the_checkers_name_are_the_ones_the_proxy_routes_to():
    from mockserver.spec import operations
    contract = Contract(load_spec())
    labels = {f"{op.method} {op.template}" for op in contract.operations}
    named = {operations.LIST, operations.LOOKUP, operations.GET, operations.PATCH_V1, operations.PATCH_V2,
             operations.DELETE}
    assert labels == named
