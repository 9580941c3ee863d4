"""The contract as data: the OpenAPI document, its schemas as plain JSON Schema, and validators.

Everything that validates against the spec (request bodies and parameters, fixture files) takes its
schemas and its error messages from here, so the spec stays the single source of truth and a
problem is described the same way wherever it is found.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from email_validator import EmailNotValidError, validate_email

from mockserver.spec import resources

OBJECT_ID_PATTERN = "^[0-9a-f]{24}$"
# RFC 3339 ``date-time`` with its offset, ASCII digits only, nothing after it (not even a newline).
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})\Z")
_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


@functools.cache
def load_spec(path: str | None = None) -> dict[str, Any]:
    """The OpenAPI document (cached; treat it as read-only)."""
    text = Path(path or resources.spec_path()).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def to_json_schema(node: Any, spec: dict[str, Any]) -> Any:
    """An OpenAPI 3.0 schema as draft-4 JSON Schema: ``$ref`` inlined, ``nullable`` as a type."""
    if isinstance(node, list):
        return [to_json_schema(item, spec) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return to_json_schema(_resolve(node["$ref"], spec), spec)
    out = {
        key: to_json_schema(value, spec) if key in _SUBSCHEMA_KEYS else value
        for key, value in node.items()
        if key not in ("nullable", "example", "examples", "description", "discriminator", "readOnly", "writeOnly")
    }
    if key_properties := out.get("properties"):
        out["properties"] = {name: to_json_schema(sub, spec) for name, sub in key_properties.items()}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


_SUBSCHEMA_KEYS = frozenset({"items", "additionalProperties", "allOf", "anyOf", "oneOf", "not"})


def _resolve(ref: str, spec: dict[str, Any]) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported: {ref}")
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def component_schema(name: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """A schema of ``components/schemas`` as JSON Schema (a fresh copy)."""
    spec = spec or load_spec()
    return copy.deepcopy(to_json_schema(spec["components"]["schemas"][name], spec))


# -- formats -----------------------------------------------------------------------------------

FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


# Plain addresses that email-validator (as configured below) always accepts: dot-atoms of ASCII
# atext of at most 64 characters, and an LDH domain with an alphabetic top-level label that is not
# special-use, no IDNA ("--"), 254 characters at most. Anything else goes to email-validator itself.
# tests/test_schemas.py checks the "always accepts" claim with generated addresses.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
FAST_EMAIL = re.compile(
    rf"(?=[^@]{{1,64}}@)(?!.*--)(?=.{{6,254}}\Z){_ATEXT}(?:\.{_ATEXT})*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?!(?:arpa|invalid|local|localhost|onion)\Z)[A-Za-z]{2,24}\Z"
)


@FORMAT_CHECKER.checks("email", raises=EmailNotValidError)
def is_email(value: object) -> bool:
    """A real address, not just "has an @": RFC 5322 syntax and a domain name with a dot.

    Special-use domains (``.test``, ``.example``) are accepted, as Schemathesis generates them and
    fixtures use them; nothing is looked up on the network. Common addresses are settled by
    :data:`FAST_EMAIL`; the rest by email-validator.
    """
    if not isinstance(value, str) or FAST_EMAIL.match(value):
        return True
    validate_email(value, check_deliverability=False, test_environment=True)
    return True


def format_error(format_name: str, value: object) -> str | None:
    """Why ``value`` fails the project's check of ``format_name`` (None: it passes)."""
    try:
        FORMAT_CHECKER.check(value, format_name)
    except jsonschema.FormatError as err:
        return str(err.cause or err)
    return None


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        raise ValueError("expected an RFC 3339 date-time with an offset, such as 2022-08-12T20:44:48Z")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def validator(schema: dict[str, Any]) -> jsonschema.Draft4Validator:
    """A validator for ``schema`` (JSON Schema) with the project's format checks. Build once, reuse."""
    return jsonschema.Draft4Validator(schema, format_checker=FORMAT_CHECKER)


# -- one-line messages -------------------------------------------------------------------------


def short(value: Any, limit: int = 60) -> str:
    """A value as it would be written in JSON, cut to ``limit`` characters."""
    text = repr(value) if not isinstance(value, (dict, list)) else _json_like(value)
    # A lone surrogate (refused input, being described) is shown as its escape: the line must print.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_like(value: Any) -> str:
    import json

    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def describe(error: jsonschema.ValidationError) -> str:
    """What is wrong, in one line, without the schema dump jsonschema puts in ``str(error)``."""
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "required":
        # jsonschema reports each missing field as its own error; each names them all, and the
        # callers keep one line per record.
        missing = [name for name in expected if isinstance(instance, dict) and name not in instance]
        return f"missing required field {', '.join(repr(name) for name in missing) or short(expected)}"
    if kind == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(name for name in instance if name not in allowed) if isinstance(instance, dict) else []
        return f"unexpected field {', '.join(repr(name) for name in extra)} (not part of the contract{_did_you_mean(extra, allowed)})"
    if kind == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        got = "null" if instance is None else f"{json_type(instance)} {short(instance)}"
        return f"expected {wanted}, got {got}"
    if kind == "pattern":
        if expected == OBJECT_ID_PATTERN:
            return f"{short(instance)} is not an ObjectId (24 lowercase hexadecimal characters)"
        return f"{short(instance)} does not match the pattern {expected}"
    if kind == "enum":
        return f"{short(instance)} is not one of {', '.join(short(v) for v in expected)}"
    if kind == "format":
        cause = f": {error.cause}" if error.cause else ""
        return f"{short(instance)} is not a valid {expected}{cause}"
    if kind in ("minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "uniqueItems"):
        return f"{short(instance)} violates {kind} {expected}"
    return error.message if len(error.message) <= 120 else error.message[:117] + "..."


def _did_you_mean(unknown: list[str], known: set[str]) -> str:
    """``; did you mean jobTitle?`` for the first unknown name close to a known one (case aside), or nothing."""
    import difflib

    by_lower = {name.lower(): name for name in known}
    for name in unknown:
        if not isinstance(name, str):
            continue
        close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.75)
        if close:
            return f"; did you mean {by_lower[close[0]]}?"
    return ""


def json_path(parts: Iterable[Any], root: str = "$") -> str:
    """``$.customers[0].users[2].email`` from a jsonschema path."""
    out = root
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def best_error(errors: Iterable[jsonschema.ValidationError]) -> jsonschema.ValidationError | None:
    """The error a person should see first: the shallowest, then in document order."""
    return jsonschema.exceptions.best_match(errors)


@functools.cache
def _patch_properties(version: str) -> dict[str, Any]:
    spec = load_spec()
    for path, operations in spec["paths"].items():
        if path.startswith(f"/api/{version}/") and "patch" in operations:
            ref = operations["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            return dict(_resolve(ref, spec).get("properties", {}))
    raise LookupError(f"the spec documents no PATCH for API version {version}")


@functools.cache
def updatable_fields(version: str = "v1") -> frozenset[str]:
    """The fields a PATCH of that API version may change, read from its request body schema."""
    return frozenset(_patch_properties(version))


@functools.cache
def updatable_text_fields(version: str = "v1") -> tuple[str, ...]:
    """The updatable fields that hold a string, in the schema's order."""
    return tuple(name for name, node in _patch_properties(version).items() if node.get("type") == "string")


@functools.cache
def updatable_relations(version: str = "v1") -> dict[str, str]:
    """Each updatable list of ids (``roleIds``) and the User field that answers it expanded (``roles``)."""
    user = component_schema("User").get("properties", {})
    relations = {}
    for name, node in _patch_properties(version).items():
        if node.get("type") == "array" and name.endswith("Ids"):
            expanded = name[: -len("Ids")] + "s"
            if expanded not in user:
                raise LookupError(f"the User schema has no {expanded!r} for the PATCH field {name!r}")
            relations[name] = expanded
    return relations

