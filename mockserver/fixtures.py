"""Fixture files: read, validate against the spec's own schemas, check references, merge.

A fixture document is ``{"customers": [...], "tokens": [...]}`` (see the README). Users are
validated with the contract's ``User`` schema, closed to unknown fields and extended with the
relation fields the PATCH body uses (``roleIds``, ``delegateIds``) and ``identities``.

Every problem in every file is collected and raised together as one :class:`FixtureError`, each
with its file and JSON path, so a user fixes a file in one pass.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema_rs

from mockserver import schemas
from mockserver import text as text_policy
from mockserver.store_index import paused_gc

MAX_FIXTURE_BYTES = 200 * 1024 * 1024
MAX_LISTED_PROBLEMS = 200
# Schema problems collected per document: a file of millions of wrong items would otherwise cost
# minutes and gigabytes just to list them.
MAX_SCHEMA_PROBLEMS = 1000
# Parsed JSON costs far more memory than its text (a 9-byte {"a": 1} is a ~200-byte dict): files
# with more objects and arrays, or strings, than any fixture under MAX_FIXTURE_BYTES has are
# refused before parsing. A user is about 6 objects and arrays and 40 strings.
MAX_JSON_CONTAINERS = 3_000_000
MAX_JSON_STRINGS = 20_000_000
# The longest token a client can send: the request's header fields are limited to 64 KiB in all
# (names and values); this leaves 1 KiB for "Authorization: Bearer " and the usual other fields.
MAX_TOKEN_LENGTH = 63 * 1024


class FixtureError(Exception):
    """The fixtures cannot be used; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        shown = self.problems[:MAX_LISTED_PROBLEMS]
        lines = [f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''} in the fixtures:"]
        # Each line can be printed, whatever text the fixtures held (see mockserver.text).
        lines += [f"  - {problem}".encode("utf-8", "backslashreplace").decode("utf-8") for problem in shown]
        if len(self.problems) > len(shown):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        return "\n".join(lines)


def fixture_schema(spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON Schema of a fixture document, built from the contract's component schemas."""
    object_id = schemas.component_schema("ObjectId", spec)
    id_list = {"type": "array", "items": object_id}

    user = schemas.component_schema("User", spec)
    for response_only in ("roles", "delegates", "delegators", "customer"):
        user["properties"].pop(response_only, None)
    identity = schemas.component_schema("Identity", spec)
    identity["properties"].pop("customerId", None)  # always the customer the user belongs to
    identity["additionalProperties"] = False
    user["properties"].update(
        {"identities": {"type": "array", "items": identity}, "roleIds": id_list, "delegateIds": id_list}
    )
    user["additionalProperties"] = False

    role = schemas.component_schema("Role", spec)
    group = {
        "type": "object",
        "required": ["_id", "name"],
        "properties": {"_id": object_id, "name": {"type": "string"}},
        "additionalProperties": False,
    }
    customer = {
        "type": "object",
        "required": ["_id", "fullName", "users"],
        "properties": {
            "_id": object_id,
            "fullName": {"type": "string", "minLength": 1},
            "roles": {"type": "array", "items": role},
            "groups": {"type": "array", "items": group},
            "users": {"type": "array", "items": user},
        },
        "additionalProperties": False,
    }
    token = {
        "type": "object",
        "required": ["token", "customerIds"],
        "properties": {
            # What can travel as ``Authorization: Bearer <token>``: visible ASCII, and short enough
            # for the server's limit on header fields (mockserver.middleware.MAX_HEADER_BYTES).
            "token": {"type": "string", "minLength": 1, "maxLength": MAX_TOKEN_LENGTH, "pattern": "^[\\x21-\\x7e]+$"},
            "customerIds": {"type": "array", "items": object_id, "minItems": 1},
            "userId": object_id,
        },
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "required": ["customers"],
        "properties": {
            "customers": {"type": "array", "items": customer},
            "tokens": {"type": "array", "items": token},
        },
        "additionalProperties": False,
    }


@dataclass
class _Origin:
    """Where a customer or token came from, to name it in a problem."""

    file: str
    path: str


@dataclass
class _Merged:
    customers: list[tuple[dict, _Origin]] = field(default_factory=list)
    tokens: list[tuple[dict, _Origin]] = field(default_factory=list)


class FixtureLoader:
    """Validates fixture documents. Build once (the validator is compiled once), use many times."""

    def __init__(self, spec: dict[str, Any] | None = None, *, max_bytes: int = MAX_FIXTURE_BYTES):
        schema = fixture_schema(spec)
        self._validator = schemas.validator(schema)
        # The fast path for valid documents: the same schema checked in Rust (formats aside), and
        # the user fields that carry a format checked by the project's own format checks. Only a
        # document that fails it is walked by the Python validator, for the problems' wording.
        self._structure = jsonschema_rs.Draft4Validator(schema, validate_formats=False)
        self._user_formats = formats_of(schema["properties"]["customers"]["items"]["properties"]["users"]["items"])
        self.max_bytes = max_bytes

    # -- entry points ------------------------------------------------------------------------

    def load_files(self, paths: Iterable[str | os.PathLike]) -> dict[str, Any]:
        """Read, validate and merge fixture files; raise FixtureError listing every problem."""
        with paused_gc():
            return self._load_files(paths)

    def _load_files(self, paths: Iterable[str | os.PathLike]) -> dict[str, Any]:
        problems: list[str] = []
        text: list[str] = []  # strings that are not Unicode: listed with the file's other problems
        documents = []
        for path in paths:
            name = str(path)
            found = len(problems)
            document = self._read(Path(path), name, problems, text)
            if len(problems) == found:  # read and parsed; a file holding just `null` is parsed too
                documents.append((name, document))
        if problems:
            raise FixtureError(problems)
        try:
            merged = self.merge(documents)
        except FixtureError as err:
            raise FixtureError(list(dict.fromkeys(text + err.problems))) from None
        if text:
            raise FixtureError(text)
        return merged

    def load_document(self, document: Any, name: str = "<body>") -> dict[str, Any]:
        """Validate one already-parsed document (a recorded deployment's, say): its text is
        checked too, as there is no JSON text to check it on cheaply."""
        text = [f"{name}: {line}" for line in text_policy.lone_surrogates(document)]
        if text:
            raise FixtureError(text)
        return self.merge([(name, document)])

    def merge(self, documents: list[tuple[str, Any]]) -> dict[str, Any]:
        problems: list[str] = []
        merged = _Merged()
        for name, document in documents:
            problems += self._schema_problems(name, document)
            if not isinstance(document, dict):
                continue
            for index, customer in _dicts(document.get("customers")):
                merged.customers.append((customer, _Origin(name, f"$.customers[{index}]")))
            for index, token in _dicts(document.get("tokens")):
                merged.tokens.append((token, _Origin(name, f"$.tokens[{index}]")))
        problems += _reference_problems(merged)
        if problems:
            raise FixtureError(problems)
        return {
            "customers": [customer for customer, _ in merged.customers],
            "tokens": [token for token, _ in merged.tokens],
        }

    def _schema_problems(self, name: str, document: Any) -> list[str]:
        try:
            if self._structure.is_valid(document) and self._formats_valid(document):
                return []
        except UnicodeEncodeError:  # a lone surrogate the Rust validator cannot take as a string
            return [f"{name}: {line}" for line in text_policy.lone_surrogates(document)] or [
                f"{name}: the document has text that is not valid Unicode"]
        found = [
            f"{name}: {schemas.json_path(error.absolute_path)}: {schemas.describe(error)}"
            for error in itertools.islice(self._validator.iter_errors(document), MAX_SCHEMA_PROBLEMS + 1)
        ]
        # One line per problem: a record missing three required fields is one error per field,
        # each described with all three.
        problems = sorted(dict.fromkeys(found[:MAX_SCHEMA_PROBLEMS]), key=_natural_key)
        if len(found) > MAX_SCHEMA_PROBLEMS:
            problems.append(f"{name}: more problems not listed: checking stopped after {MAX_SCHEMA_PROBLEMS} in this file")
        return problems

    def _formats_valid(self, document: dict[str, Any]) -> bool:
        """Every formatted user field passes (the document is known to have the schema's shape).
        The project's format checks are called directly (``FormatChecker.checkers``): the
        checker's own dispatch cost as much as the checks on 100,000 users."""
        checkers = schemas.FORMAT_CHECKER.checkers
        checks = [(name, checkers[format_name][0]) for name, format_name in self._user_formats]
        refusals = tuple({error for _, format_name in self._user_formats
                          for error in _as_tuple(checkers[format_name][1])})
        try:
            for customer in document["customers"]:
                for user in customer["users"]:
                    for name, check in checks:
                        value = user.get(name)
                        if value is not None and not check(value):
                            return False
        except refusals:
            return False
        return True

    # -- reading -----------------------------------------------------------------------------

    def _read(self, path: Path, name: str, problems: list[str], text: list[str]) -> Any:
        try:
            size = path.stat().st_size
            if not path.is_file():
                problems.append(f"{name}: not a file")
                return None
            if size > self.max_bytes:
                problems.append(
                    f"{name}: the file is {size / 2**20:.1f} MiB, over the limit of "
                    f"{self.max_bytes / 2**20:.0f} MiB for a fixture file"
                )
                return None
            raw = path.read_bytes()
        except OSError as err:
            problems.append(f"{name}: cannot read the file: {err.strerror or err}")
            return None
        document = parse_json(raw, name, problems)
        text += text_problems(raw, document, name)
        return document


def parse_json(raw: bytes, name: str, problems: list[str]) -> Any:
    """Strict JSON: UTF-8, no duplicate keys. Appends a problem and returns None when it fails."""
    if not raw.strip():
        problems.append(f"{name}: the file is empty (expected a JSON object with \"customers\")")
        return None
    containers, strings = raw.count(b"{") + raw.count(b"["), raw.count(b'"') // 2
    if containers > MAX_JSON_CONTAINERS or strings > MAX_JSON_STRINGS:
        problems.append(
            f"{name}: too many JSON values to load: about {containers:,} objects and arrays and {strings:,} strings "
            f"(at most {MAX_JSON_CONTAINERS:,} and {MAX_JSON_STRINGS:,}: far more than a fixture has)"
        )
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        problems.append(f"{name}: not UTF-8 text (invalid byte at offset {err.start})")
        return None
    duplicates: list[str] = []

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document = dict(pairs)
        if len(document) != len(pairs):
            counts = Counter(key for key, _ in pairs)
            duplicates.extend(key for key, count in counts.items() if count > 1)
        return document

    try:
        document = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as err:
        problems.append(f"{name}: line {err.lineno} column {err.colno}: invalid JSON: {err.msg}")
        return None
    except (RecursionError, ValueError) as err:
        problems.append(f"{name}: invalid JSON: {err}")
        return None
    for key in duplicates:
        problems.append(f"{name}: duplicate key {key!r} in an object (JSON keys must be unique)")
    return None if duplicates else document


def text_problems(raw: bytes, document: Any, name: str) -> list[str]:
    """Strings of a parsed document that are not Unicode text (see :mod:`mockserver.text`), one
    problem each with the file and JSON path; cheap when ``raw`` has no surrogate escape."""
    if document is None or not text_policy.may_hold_surrogate(raw):
        return []
    return [f"{name}: {line}" for line in text_policy.lone_surrogates(document)]


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> Iterable[tuple[int, dict]]:
    return ((index, item) for index, item in enumerate(_list(value)) if isinstance(item, dict))


def formats_of(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """``(property, format)`` for each property of an object schema that carries a format,
    directly or through ``allOf`` (formats deeper down are not listed: see :func:`keyword_count`)."""
    found = []
    for name, sub in schema.get("properties", {}).items():
        for part in (sub, *sub.get("allOf", ())):
            if "format" in part:
                found.append((name, part["format"]))
                break
    return found


def _as_tuple(errors: type | tuple[type, ...]) -> tuple[type, ...]:
    return errors if isinstance(errors, tuple) else (errors,)


def keyword_count(schema: Any, keyword: str) -> int:
    """How many times ``keyword`` is a key of ``schema``, at any depth (enum values aside)."""
    if isinstance(schema, list):
        return sum(keyword_count(item, keyword) for item in schema)
    if not isinstance(schema, dict):
        return 0
    return (keyword in schema) + sum(keyword_count(value, keyword) for key, value in schema.items() if key != "enum")


def _natural_key(problem: str) -> list:
    """Sort ``users[10]`` after ``users[9]``."""
    return [int(part) if part.isascii() and part.isdigit() else part for part in re.split(r"([0-9]+)", problem)]


def _timestamp(value: str) -> datetime | None:
    """An RFC 3339 date-time with its offset, or None (the schema's format check reports it)."""
    check, refusals = schemas.FORMAT_CHECKER.checkers["date-time"]
    try:
        check(value)
    except refusals:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _surely_in_order(created: str, updated: str) -> bool:
    """True when ``updated`` is certainly not before ``created`` (or either is no date-time, which
    the format check reports): both are second-precision UTC (``2024-01-02T03:04:05Z``, one width,
    so their text sorts as their times do) and ``updated`` sorts last. False: compare the times."""
    return len(created) == 20 == len(updated) and created[19] == "Z" == updated[19] and updated >= created


def _reference_problems(merged: _Merged) -> list[str]:
    """Duplicates and dangling references, across every file. Tolerates schema-invalid parts."""
    problems: list[str] = []
    seen_customers: dict[str, str] = {}
    users_by_customer: dict[str, set[str]] = {}
    seen_user_ids: dict[str, tuple[str, int]] = {}

    for customer, origin in merged.customers:
        if not isinstance(customer, dict):
            continue
        where = f"{origin.file}: {origin.path}"
        cid = customer.get("_id")
        if isinstance(cid, str):
            if cid in seen_customers:
                problems.append(f"{where}._id: duplicate customer id {cid} (also {seen_customers[cid]})")
            seen_customers.setdefault(cid, where)
        role_ids = _unique_ids(customer.get("roles"), f"{where}.roles", "role", problems)
        group_ids = _unique_ids(customer.get("groups"), f"{where}.groups", "group", problems)
        users = list(_dicts(customer.get("users")))
        user_ids = _unique_ids(customer.get("users"), f"{where}.users", "user", problems)
        if isinstance(cid, str):
            users_by_customer.setdefault(cid, set()).update(user_ids)

        references = (("roleIds", role_ids, "role"), ("groupIds", group_ids, "group"), ("delegateIds", user_ids, "user"))
        # Where each user is, as (customer's path, index): its text is built only for a problem.
        emails: dict[str, int] = {}
        for index, user in users:
            uid = user.get("_id")
            if isinstance(uid, str):
                other = seen_user_ids.get(uid)
                if other is not None and other[0] != where:
                    problems.append(f"{where}.users[{index}]._id: user id {uid} is also used by {other[0]}.users[{other[1]}]")
                seen_user_ids.setdefault(uid, (where, index))
            email = user.get("email")
            if isinstance(email, str):
                key = email.casefold()
                if key in emails:
                    problems.append(f"{where}.users[{index}].email: {email!r} is already used by "
                                    f"{where}.users[{emails[key]}] (emails are unique per customer)")
                emails.setdefault(key, index)
            for ref_field, known, what in references:
                refs = user.get(ref_field)
                if not refs or not isinstance(refs, list):
                    continue
                for ref_index, ref in enumerate(refs):
                    if not isinstance(ref, str):
                        continue
                    if ref_field == "delegateIds" and ref == uid:
                        problems.append(f"{where}.users[{index}].delegateIds[{ref_index}]: a user cannot delegate to "
                                        f"itself ({ref})")
                    elif ref not in known:
                        problems.append(f"{where}.users[{index}].{ref_field}[{ref_index}]: {ref} is not a {what} of "
                                        f"customer {cid}")
            created, updated = user.get("createdAt"), user.get("updatedAt")
            if isinstance(created, str) and isinstance(updated, str) and not _surely_in_order(created, updated):
                created_at, updated_at = _timestamp(created), _timestamp(updated)
                if created_at is not None and updated_at is not None and updated_at < created_at:
                    problems.append(f"{where}.users[{index}].updatedAt: {updated} is before createdAt {created}")

    seen_tokens: dict[str, str] = {}
    for token, origin in merged.tokens:
        if not isinstance(token, dict):
            continue
        where = f"{origin.file}: {origin.path}"
        value = token.get("token")
        if isinstance(value, str):
            if value in seen_tokens:
                problems.append(f"{where}.token: the same token is also defined at {seen_tokens[value]}")
            seen_tokens.setdefault(value, where)
        customer_ids = [c for c in _list(token.get("customerIds")) if isinstance(c, str)]
        for index, cid in enumerate(customer_ids):
            if cid not in users_by_customer:
                problems.append(f"{where}.customerIds[{index}]: {cid} is not a customer of the fixtures")
        uid = token.get("userId")
        if isinstance(uid, str) and not any(uid in users_by_customer.get(cid, ()) for cid in customer_ids):
            problems.append(f"{where}.userId: {uid} is not a user of the token's customers")
    return problems


def _unique_ids(items: Any, where: str, what: str, problems: list[str]) -> set[str]:
    ids: set[str] = set()
    for index, item in _dicts(items):
        item_id = item.get("_id")
        if not isinstance(item_id, str):
            continue
        if item_id in ids:
            problems.append(f"{where}[{index}]._id: duplicate {what} id {item_id}")
        ids.add(item_id)
    return ids
