"""Checks the runner adds to Schemathesis' own, registered through its check API for one run only.

Schemathesis has nothing that notices an update that is answered 200 and then forgotten, and its
``use_after_free`` notices a DELETE that does not delete only when the stateful phase happens to read
the deleted user again. :func:`update_persistence` reads the user back after every successful PATCH
and compares every field it sent; :func:`delete_persistence` reads it back after every successful
DELETE and expects it gone. Both only ever send GET requests.

The check is registered at the start of a run and unregistered at its end (:func:`registered`),
so other Schemathesis users in the same process (the test suite's in-process tests) never see it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from schemathesis.core.failures import Failure, Severity

from mockserver.remote.client import json_or_none
from mockserver.spec import rules

# What a PATCH may set, as the PATCH schemas say (delegateIds only through v1).
STRING_FIELDS = frozenset(rules.TEXT_FIELDS)
# PATCH field -> the User field holding the related objects (each with its ``_id``).
RELATION_FIELDS = rules.RELATIONS
READ_BACK_OPERATION = "get_user"
# A deployment behind read replicas may answer a read just after a write from a stale copy:
# one more read after this delay before calling the update lost.
SETTLE_SECONDS = 0.5

CUSTOM_CHECKS = ("update_persistence", "delete_persistence")
GONE = (404, 410)


class NotPersisted(Failure):
    """A change answered 2xx that the server did not keep; the same title is the same failure."""

    @property
    def _unique_key(self) -> str:
        return self.title


class UpdateNotPersisted(NotPersisted):
    """A successful PATCH whose changes the answer or a later read does not show."""

    code, checks, kind_title = "ST901", ("update_persistence",), "Update not persisted"


class DeleteNotPersisted(NotPersisted):
    """A successful DELETE after which the user is still served."""

    code, checks, kind_title = "ST902", ("delete_persistence",), "Delete not persisted"


def update_persistence(ctx, response, case) -> bool | None:
    """After a 2xx PATCH of a user, the PATCH answer and a GET of the user show every sent field.

    Returns True (Schemathesis: "not applicable", not counted) for any other response.
    """
    if not _succeeded(case, response, "PATCH"):
        return True
    sent = _comparable_body(case.body)
    if not sent:
        return True
    problems = [f"the PATCH answer: {line}" for line in _differences(sent, json_or_none(response))]
    read_back = _read_back(ctx, case, response)
    if read_back is not None:
        differences = _differences(sent, json_or_none(read_back))
        if differences:
            time.sleep(SETTLE_SECONDS)
            read_back = _read_back(ctx, case, response) or read_back
            differences = _differences(sent, json_or_none(read_back))
        problems.extend(f"GET {_path(read_back)} afterwards: {line}" for line in differences)
    if problems:
        raise UpdateNotPersisted(
            operation=case.operation.label,
            title="Update not persisted",
            message=(
                f"`{case.method} {case.formatted_path}` answered {response.status_code}, but the change is not there:\n"
                + "\n".join(f"  - {line}" for line in problems)
            ),
            severity=Severity.HIGH,
        )
    return None


def delete_persistence(ctx, response, case) -> bool | None:
    """After a 2xx DELETE of a user, a GET of the same user answers 404 (or 410); True (not
    applicable, not counted) for any other response."""
    if not _succeeded(case, response, "DELETE"):
        return True
    read_back = _get_user(ctx, case, response)
    if read_back is None or read_back.status_code in GONE:
        return None
    if read_back.status_code == 200:
        time.sleep(SETTLE_SECONDS)
        read_back = _get_user(ctx, case, response) or read_back
    if read_back.status_code == 200:
        raise DeleteNotPersisted(
            operation=case.operation.label,
            title="Delete not persisted",
            message=(
                f"`{case.method} {case.formatted_path}` answered {response.status_code}, "
                f"but GET {_path(read_back)} afterwards still answers 200 with the user"
            ),
            severity=Severity.HIGH,
        )
    return None


def _succeeded(case, response, method: str) -> bool:
    """A 2xx answer to a ``method`` request: the only ones the checks apply to."""
    return case.method.upper() == method and 200 <= response.status_code < 300


def _comparable_body(body: Any) -> dict[str, Any] | None:
    """The sent fields this check can compare, or None when the body is not a valid update."""
    if not isinstance(body, dict):
        return None
    fields: dict[str, Any] = {}
    for name, value in body.items():
        if name in STRING_FIELDS and isinstance(value, str):
            fields[name] = value
        elif name in RELATION_FIELDS and isinstance(value, list) and all(isinstance(v, str) for v in value):
            fields[name] = value
        else:
            # Not a schema-valid update: negative_data_rejection is the check for that.
            return None
    return fields


def _differences(sent: dict[str, Any], user: Any) -> list[str]:
    if not isinstance(user, dict):
        return []
    lines = []
    for name, value in sent.items():
        if name in RELATION_FIELDS:
            container = RELATION_FIELDS[name]
            related = user.get(container)
            if not isinstance(related, list):
                continue  # optional in the User schema: nothing to compare with
            if not all(isinstance(item, dict) and isinstance(item.get("_id"), str) for item in related):
                continue  # not the schema's shape: response_schema_conformance reports that
            shown = {item["_id"] for item in related}
            if shown != set(value):
                lines.append(f"{name} sent {sorted(set(value))}, {container}[]._id is {sorted(i for i in shown if i)}")
            continue
        got = user.get(name)
        if not isinstance(got, str):
            continue  # missing or mistyped: response_schema_conformance reports that, not this check
        same = got == value or (name == "email" and rules.email_key(got) == rules.email_key(value))
        if not same:
            lines.append(f"{name} sent {value!r}, got {got!r}")
    return lines


def _read_back(ctx, case, response):
    """GET the patched user with the same credentials, or None if it cannot be read (deleted
    meanwhile, say): then there is nothing to compare."""
    result = _get_user(ctx, case, response)
    if result is None or result.status_code != 200:
        return None
    return result


def _get_user(ctx, case, response):
    """GET the user the case names, with the same credentials; None if the spec has no such read."""
    try:
        operation = case.operation.schema.find_operation_by_id(READ_BACK_OPERATION)
    except Exception:
        return None
    path_parameters = {
        name: case.path_parameters[name] for name in ("customerId", "userId") if name in (case.path_parameters or {})
    }
    follow = operation.Case(path_parameters=path_parameters)
    headers = {}
    authorization = response.request.headers.get("Authorization")
    if authorization is not None:
        headers["Authorization"] = authorization
    internals = getattr(ctx, "internals", None)
    if internals is not None:
        internals.record_case(parent_id=case.id, case=follow)
    result = follow.call(headers=headers)
    if internals is not None:
        internals.record_response(case_id=follow.id, response=result)
    return result




def _path(response) -> str:
    from urllib.parse import urlsplit

    return urlsplit(response.request.url).path


@contextmanager
def registered(enabled: bool = True) -> Iterator[tuple[str, ...]]:
    """Register the runner's checks with Schemathesis for the duration of a run."""
    from schemathesis.checks import CHECKS

    if not enabled:
        yield ()
        return
    added = []
    for check in (update_persistence, delete_persistence):
        if check.__name__ not in CHECKS.get_all_names():
            CHECKS.register(check)
            added.append(check.__name__)
    try:
        yield CUSTOM_CHECKS
    finally:
        for name in added:
            CHECKS.unregister(name)
