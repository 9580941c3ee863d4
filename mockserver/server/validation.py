"""Request validation from the spec, plugged into Connexion through its ``validator_map``.

Connexion's own validators build a new JSON Schema validator on every request and answer with
jsonschema's multi-line dump. These compile each schema once and answer with one line naming the
bad parameter or field and why; the body parser is strict (UTF-8, no duplicate keys, bounded
nesting and number size) so no input reaches a handler half-understood.
"""

from __future__ import annotations

import json
import typing as t

import jsonschema_rs
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, ParameterValidator
from starlette.datastructures import Headers
from starlette.types import Scope

from mockserver.core import text as text_policy
from mockserver.fixtures.document import formats_of, keyword_count
from mockserver.server.runtime import BODY_KEY, JSON_BODY_KEY
from mockserver.spec import schemas

_compiled: dict[int, tuple[object, t.Any]] = {}


def _validator_for(openapi_schema: dict) -> t.Any:
    """The compiled validator of a schema Connexion hands us (the same object every request).

    The cache holds the schema itself, so its ``id`` cannot be reused while the entry lives."""
    entry = _compiled.get(id(openapi_schema))
    if entry is None or entry[0] is not openapi_schema:
        entry = (openapi_schema, schemas.validator(schemas.to_json_schema(openapi_schema, {})))
        _compiled[id(openapi_schema)] = entry
    return entry[1]


# Parameter values that passed, per schema: a client asks for the same customer and user again and
# again, and a string's validity against one schema never changes. Bounded; cleared when full.
_valid_values: dict[tuple[int, str], object] = {}
MAX_REMEMBERED_VALUES = 4096


_fast_checks: dict[int, tuple[object, t.Any]] = {}


def fast_check_for(openapi_schema: dict) -> t.Any:
    """For a body schema, a check that is True only for bodies the compiled validator accepts, and
    several times faster: the structure checked in Rust (formats aside), then the project's own
    format checks of the top-level properties. None (the compiled validator alone decides) when
    the schema has formats deeper down or references left. A body it does not pass goes to the
    compiled validator, which words the problem. (Connexion hands the schema over with the spec's
    ``components`` attached, its references already resolved.)"""
    entry = _fast_checks.get(id(openapi_schema))
    if entry is None or entry[0] is not openapi_schema:
        json_schema = schemas.to_json_schema(openapi_schema, {})
        own = {key: value for key, value in json_schema.items() if key != "components"} \
            if isinstance(json_schema, dict) else {}
        formats = formats_of(own) if own else []
        check = None
        if own and keyword_count(own, "$ref") == 0 and keyword_count(own, "format") == len(formats):
            structure = jsonschema_rs.Draft4Validator(own, validate_formats=False)
            checkers = schemas.FORMAT_CHECKER.checkers
            fields = [(name, *checkers[format_name]) for name, format_name in formats if format_name in checkers]

            def check(body: t.Any) -> bool:
                if not structure.is_valid(body) or (fields and not isinstance(body, dict)):
                    return False
                for name, format_check, refusals in fields:
                    value = body.get(name)
                    if value is not None:
                        try:
                            if not format_check(value):
                                return False
                        except refusals:
                            return False
                return True

        entry = (openapi_schema, check)
        _fast_checks[id(openapi_schema)] = entry
    return entry[1]


class SpecParameterValidator(ParameterValidator):
    @staticmethod
    def validate_parameter(parameter_type, value, param, param_name=None):
        name = param.get("name", param_name)
        if value is None:
            if param.get("required"):
                return f"missing required {parameter_type} parameter {name!r}"
            return None
        if param.get("schema", {}).get("nullable") and value in (None, "null"):
            return None
        schema = param.get("schema", param)
        key = (id(schema), value) if type(value) is str else None
        if key is not None and _valid_values.get(key) is schema:
            return None
        error = schemas.best_error(_validator_for(schema).iter_errors(value))
        if error is None:
            if key is not None:
                if len(_valid_values) >= MAX_REMEMBERED_VALUES:
                    _valid_values.clear()
                _valid_values[key] = schema  # the schema itself: its id cannot be reused while it is kept
            return None
        return f"{parameter_type} parameter {name!r}: {schemas.describe(error)}"


class StrictJSONBodyValidator(JSONRequestBodyValidator):
    async def wrap_receive(self, receive, *, scope: Scope):
        if self._required and not int(Headers(scope=scope).get("content-length") or 0):
            raise BadRequestProblem(detail="the request body is required: a JSON object")
        raw = scope.get(BODY_KEY)
        if raw:
            # Read whole by the request guard, which replays it to whoever reads the body next: parsed
            # and validated here once, and the parsed body carried in the scope to the handler.
            body = self._parse_bytes(raw)
            if not (body is None and self._nullable):
                self._validate(body)
            scope[JSON_BODY_KEY] = body
            return receive, scope
        return await super().wrap_receive(receive, scope=scope)

    async def _parse(self, stream: t.AsyncGenerator[bytes, None], scope: Scope) -> t.Any:
        return self._parse_bytes(b"".join([message async for message in stream]))

    @staticmethod
    def _parse_bytes(raw: bytes) -> t.Any:
        if not raw.strip():
            raise BadRequestProblem(detail="the request body is required: a JSON object")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise BadRequestProblem(detail=f"the request body is not valid UTF-8 (invalid byte at offset {err.start})") from None
        return parse_strict_json(text)

    def _validate(self, body: t.Any) -> dict | None:
        fast = fast_check_for(self._schema)
        try:
            if fast is not None and fast(body):
                return None
        except (ValueError, OverflowError, UnicodeEncodeError):  # a value the Rust side cannot take
            pass
        error = schemas.best_error(_validator_for(self._schema).iter_errors(body))
        if error is not None:
            where = schemas.json_path(error.absolute_path, root="body")
            raise BadRequestProblem(detail=f"{where}: {schemas.describe(error)}")
        return None


def parse_strict_json(text: str) -> t.Any:
    """JSON as RFC 8259 means it, with limits: a clear 400 instead of a crash or a silent pick."""

    def no_duplicates(pairs: list[tuple[str, t.Any]]) -> dict[str, t.Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BadRequestProblem(detail=f"the request body has the key {schemas.short(key)} twice")
            seen.add(key)
        return dict(pairs)

    try:
        value = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        raise BadRequestProblem(
            detail=f"the request body is not valid JSON: line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
    except RecursionError:
        raise BadRequestProblem(detail="the request body is nested too deeply") from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        raise BadRequestProblem(detail=f"the request body is not valid JSON: {schemas.short(str(err), 100)}") from None
    if text_policy.may_hold_surrogate(text):
        found = text_policy.lone_surrogates(value, root="body", limit=1)
        if found:
            raise BadRequestProblem(detail=found[0])
    return value


def _no_constant(name: str) -> t.NoReturn:
    raise BadRequestProblem(detail=f"the request body is not valid JSON: {name} is not a JSON value")


VALIDATOR_MAP_OVERRIDES = {
    "parameter": SpecParameterValidator,
    "body": MediaTypeDict({**VALIDATOR_MAP["body"], "*/*json": StrictJSONBodyValidator}),
}
