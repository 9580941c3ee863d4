"""What the proxy checks: a request and its answer against ``openapi/users.yaml``.

Operations are found by method and path template, as the spec writes them (a literal segment wins
over a parameter, so ``.../users/lookup`` is the lookup, not a user). Requests are checked with the
fake's own validators (:mod:`mockserver.server.validation`: the same parameter coercion, messages and strict
JSON); answers with the checks the contract runner reports, under the same names
(``status_code_conformance``, ``content_type_conformance``, ``response_headers_conformance``,
``response_schema_conformance``, ``unsupported_method``). A check returns findings; it never changes
a byte of what is forwarded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import jsonschema_rs
from connexion.exceptions import BadRequestProblem
from connexion.uri_parsing import OpenAPIURIParser

from mockserver.server.validation import SpecParameterValidator, parse_strict_json
from mockserver.spec import schemas
from mockserver.spec.routes import RouteTable, base_path

# Request-side checks (the contract runner generates its requests, so it has no such names).
REQUEST_PARAMETERS = "request_parameters_conformance"
REQUEST_BODY = "request_body_conformance"
REQUEST_CONTENT_TYPE = "request_content_type_conformance"
REQUEST_AUTHORIZATION = "request_authorization"
REQUEST_METHOD = "request_method"
# Answer-side checks: the Schemathesis names, meaning the same.
STATUS = "status_code_conformance"
CONTENT_TYPE = "content_type_conformance"
HEADERS = "response_headers_conformance"
SCHEMA = "response_schema_conformance"
UNSUPPORTED_METHOD = "unsupported_method"


@dataclass(frozen=True)
class Finding:
    check: str
    detail: str


@dataclass
class Operation:
    operation_id: str
    method: str
    template: str
    parameters: list[dict[str, Any]]
    body: dict[str, Any] | None  # {"required": bool, "media": {media type: validator}}
    responses: dict[str, dict[str, Any]]  # status -> {"media": {type: validator|None}, "headers": {...}}
    bearer: bool
    validator: SpecParameterValidator = field(repr=False, default=None)  # type: ignore[assignment]


def _format_check(name: str):
    return lambda value: schemas.format_error(name, value) is None


_FORMATS = {name: _format_check(name) for name in ("email", "date-time")}


class SchemaCheck:
    """A body schema: jsonschema-rs decides whether a document is valid (a list of 30 users in about
    1 ms instead of 35), with the project's format checks; only an invalid document is walked by the
    project's Python validator, which words what is wrong (:func:`mockserver.spec.schemas.describe`)."""

    def __init__(self, schema: dict[str, Any]):
        self.python = schemas.validator(schema)
        self.fast = jsonschema_rs.Draft4Validator(schema, formats=_FORMATS, validate_formats=True)

    def iter_errors(self, document: Any):
        if self.fast.is_valid(document):
            return iter(())
        return self.python.iter_errors(document)


def _resolve(node: Any, spec: Mapping[str, Any]) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _parameter(node: Any, spec: Mapping[str, Any]) -> dict[str, Any]:
    param = dict(_resolve(node, spec))
    param["schema"] = schemas.to_json_schema(param.get("schema", {}), spec)
    return param


def _media(content: Mapping[str, Any] | None, spec: Mapping[str, Any]) -> dict[str, Any]:
    media = {}
    for media_type, entry in (content or {}).items():
        schema = (entry or {}).get("schema")
        media[media_type] = SchemaCheck(schemas.to_json_schema(schema, spec)) if schema else None
    return media


def _response(node: Any, spec: Mapping[str, Any]) -> dict[str, Any]:
    node = _resolve(node, spec)
    headers = {}
    for name, header in (node.get("headers") or {}).items():
        header = _resolve(header, spec)
        schema = schemas.to_json_schema(header.get("schema", {}), spec)
        headers[name.lower()] = {"name": name, "required": bool(header.get("required")), "schema": schema,
                                 "validator": schemas.validator(schema)}
    return {"media": _media(node.get("content"), spec), "headers": headers}


class Contract:
    """The spec's operations, compiled once, and the checks of one exchange."""

    def __init__(self, spec: Mapping[str, Any]):
        self.operations: list[Operation] = []
        base = base_path(spec)
        global_bearer = _needs_bearer(spec.get("security"), spec)
        self.table = RouteTable(spec, prefix=base)
        self._by_key: dict[tuple[str, str], Operation] = {}
        paths = spec.get("paths") or {}
        for method, route, spec_op in self.table.operations():
            shared = paths[route.template[len(base):]].get("parameters") or []
            by_key = {(p["name"], p["in"]): p for p in (_parameter(p, spec) for p in shared)}
            by_key.update({(p["name"], p["in"]): p for p in (_parameter(p, spec) for p in spec_op.get("parameters") or [])})
            parameters = list(by_key.values())
            request_body = _resolve(spec_op.get("requestBody"), spec) if spec_op.get("requestBody") else None
            body = None
            if request_body is not None:
                body = {"required": bool(request_body.get("required")), "media": _media(request_body.get("content"), spec)}
            bearer = _needs_bearer(spec_op["security"], spec) if "security" in spec_op else global_bearer
            operation = Operation(
                operation_id=spec_op.get("operationId") or f"{method} {route.template}", method=method,
                template=route.template, parameters=parameters, body=body,
                responses={str(code): _response(node, spec) for code, node in (spec_op.get("responses") or {}).items()},
                bearer=bearer,
            )
            operation.validator = SpecParameterValidator(parameters, uri_parser=OpenAPIURIParser(parameters, {}))
            self.operations.append(operation)
            self._by_key[(method, route.template)] = operation

    # -- routing ---------------------------------------------------------------------------------

    def match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], list[str]]:
        """(the operation, its path parameters, the methods the path documents).

        HEAD finds the path's GET operation; a path the spec does not have gives ``(None, {}, [])``."""
        wanted = "GET" if method == "HEAD" else method
        route = self.table.match(path)  # the most literal template that matches wins
        if route is None:
            return None, {}, []
        documented = list(route.operations)
        operation = self._by_key.get((wanted, route.template))
        if operation is None:
            return None, {}, documented
        return operation, {name: unquote(value) for name, value in route.params(path).items()}, documented

    # -- the request -----------------------------------------------------------------------------

    def check_request(self, operation: Operation, scope: Mapping[str, Any], path_params: dict[str, str],
                      headers: Mapping[str, str], body: bytes | None) -> list[Finding]:
        """``body`` None: not buffered (too large), so not checked."""
        findings = []
        if operation.bearer:
            scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
            if "authorization" not in headers:
                findings.append(Finding(REQUEST_AUTHORIZATION, "no Authorization header: the operation needs "
                                                               "'Authorization: Bearer <token>'"))
            elif scheme.lower() != "bearer" or not credentials.strip():
                findings.append(Finding(REQUEST_AUTHORIZATION, "the Authorization header is not "
                                                               "'Bearer <token>' (the operation's bearerAuth)"))
        try:
            operation.validator.validate({**scope, "path_params": path_params})
        except BadRequestProblem as problem:
            findings.append(Finding(REQUEST_PARAMETERS, str(problem.detail)))
        if operation.body is not None and body is not None:
            findings += self._check_body(operation.body, headers.get("content-type"), body)
        return findings

    @staticmethod
    def _check_body(spec_body: dict[str, Any], content_type: str | None, body: bytes) -> list[Finding]:
        if not body:
            if spec_body["required"]:
                return [Finding(REQUEST_BODY, "the request body is required: a JSON object")]
            return []
        media = _find_media(spec_body["media"], content_type)
        if media is None:
            documented = ", ".join(spec_body["media"])
            return [Finding(REQUEST_CONTENT_TYPE, f"Content-Type {content_type or '(none)'} is not documented; "
                                                  f"documented: {documented}")]
        validator = spec_body["media"][media]
        if validator is None or not _is_json(content_type or ""):
            return []
        try:
            document = parse_strict_json(body.decode("utf-8"))
        except UnicodeDecodeError as err:
            return [Finding(REQUEST_BODY, f"the request body is not valid UTF-8 (invalid byte at offset {err.start})")]
        except BadRequestProblem as problem:
            return [Finding(REQUEST_BODY, str(problem.detail))]
        error = schemas.best_error(validator.iter_errors(document))
        if error is None:
            return []
        return [Finding(REQUEST_BODY, f"{schemas.json_path(error.absolute_path, root='body')}: {schemas.describe(error)}")]

    # -- the answer ------------------------------------------------------------------------------

    def check_response(self, operation: Operation, method: str, status: int, headers: Mapping[str, str],
                       body: bytes | None) -> list[Finding]:
        """``body`` None: not checked (too large, or an encoding the proxy cannot read)."""
        documented = operation.responses.get(str(status)) or operation.responses.get(f"{str(status)[0]}XX") \
            or operation.responses.get("default")
        if documented is None:
            codes = ", ".join(sorted(operation.responses))
            return [Finding(STATUS, f"status {status} is not documented for {operation.operation_id}; documented: {codes}")]
        findings = self._check_headers(documented["headers"], headers)
        media_types = documented["media"]
        if not media_types:
            return findings
        content_type = headers.get("content-type")
        media = _find_media(media_types, content_type)
        if media is None:
            what = f"Content-Type {content_type}" if content_type else "no Content-Type"
            findings.append(Finding(CONTENT_TYPE, f"{what} in a {status} answer; documented: {', '.join(media_types)}"))
            return findings
        validator = media_types[media]
        if method == "HEAD" or body is None or validator is None or not _is_json(content_type):
            return findings
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            findings.append(Finding(SCHEMA, f"the {status} answer is not JSON ({type(err).__name__}: "
                                            f"{schemas.short(str(err), 80)})"))
            return findings
        error = schemas.best_error(validator.iter_errors(document))
        if error is not None:
            findings.append(Finding(SCHEMA, f"{schemas.json_path(error.absolute_path)}: {schemas.describe(error)}"))
        return findings

    @staticmethod
    def _check_headers(documented: dict[str, dict[str, Any]], headers: Mapping[str, str]) -> list[Finding]:
        findings = []
        for lowered, header in documented.items():
            value = headers.get(lowered)
            if value is None:
                if header["required"]:
                    findings.append(Finding(HEADERS, f"the required header {header['name']} is missing"))
                continue
            coerced: Any = value
            types = header["schema"].get("type")
            if types in ("integer", "number"):
                try:
                    coerced = int(value) if types == "integer" else float(value)
                except ValueError:
                    coerced = value
            error = schemas.best_error(header["validator"].iter_errors(coerced))
            if error is not None:
                findings.append(Finding(HEADERS, f"header {header['name']}: {schemas.describe(error)}"))
        return findings

    @staticmethod
    def check_unsupported(method: str, path: str, documented: list[str], status: int) -> list[Finding]:
        """A method the path does not document: the client's mistake, and the deployment must answer 405."""
        allowed = ", ".join(sorted(documented))
        findings = [Finding(REQUEST_METHOD, f"{method} is not documented for {path} (documented: {allowed})")]
        if status != 405:
            findings.append(Finding(UNSUPPORTED_METHOD, f"{method} is not documented for {path}, "
                                                        f"but the answer is {status}, not 405"))
        return findings


def _needs_bearer(requirements: Any, spec: Mapping[str, Any]) -> bool:
    """True when every alternative of the security requirement needs an HTTP bearer scheme."""
    if not requirements:
        return False
    schemes = (spec.get("components") or {}).get("securitySchemes") or {}

    def bearer(name: str) -> bool:
        scheme = _resolve(schemes.get(name, {}), spec)
        return scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "bearer"

    return all(alternative and any(bearer(name) for name in alternative) for alternative in requirements)


def _media_parts(value: str) -> tuple[str, str]:
    main, _, sub = value.split(";", 1)[0].strip().lower().partition("/")
    return main, sub


def _find_media(documented: Mapping[str, Any], content_type: str | None) -> str | None:
    """The documented media type ``content_type`` falls under (``*`` wildcards allowed), or None."""
    if not content_type:
        return None
    main, sub = _media_parts(content_type)
    for media in documented:
        want_main, want_sub = _media_parts(media)
        if want_main in ("*", main) and (want_sub in ("*", sub) or (want_sub.startswith("*+") and sub.endswith(want_sub[1:]))):
            return media
    return None


def _is_json(media: str) -> bool:
    _, sub = _media_parts(media)
    return sub == "json" or sub.endswith("+json")
