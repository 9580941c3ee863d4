"""Deployments that have drifted from the fake, built by wrapping it (its code is untouched).

Each variant is the fake on the bundled fixtures behind a :class:`~tests.contract_variants.Breaker`
that changes one behaviour; ``DRIFT_VARIANTS`` maps a name to its builder and to the difference
``mockserver drift`` must report (kind and, where it has one, JSON path).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from tests.contract_variants import LIST_PATH, USER_PATH, Breaker
from tests.support import fresh_fake

PROBLEM_JSON = b"application/problem+json"


def _user_answer(exchange, answer) -> bool:
    """A successful JSON answer holding users (list, get, update, delete)."""
    return (
        answer.status == 200
        and bool(answer.body)  # not the empty answer to a HEAD
        and answer.content_type().startswith(b"application/json")
        and bool(USER_PATH.match(exchange.path) or LIST_PATH.match(exchange.path))
    )


def _each_user(change: Callable[[dict], None]):
    def after(exchange, answer):
        if not _user_answer(exchange, answer):
            return
        document = answer.json()
        for user in document if isinstance(document, list) else [document]:
            if isinstance(user, dict):
                change(user)
        answer.set_json(document)

    return after


def extra_response_fields():
    """Every user carries two fields the contract does not define."""
    app, _store = fresh_fake()

    def change(user):
        user["employeeNumber"] = f"E-{user['_id'][-4:]}"
        user["costCentre"] = 4711

    return Breaker(app, after=_each_user(change))


def missing_optional_field():
    """No user carries ``pod`` (optional in the contract)."""
    app, _store = fresh_fake()
    return Breaker(app, after=_each_user(lambda user: user.pop("pod", None)))


def not_found_for_other_customers():
    """A customer the token may not touch is 404 (as if it did not exist), not 403."""
    app, _store = fresh_fake()

    def after(exchange, answer):
        if answer.status == 403:
            answer.status = 404
            answer.set_json({"type": "about:blank", "title": "Not Found", "status": 404,
                             "detail": f"no such resource: {exchange.path}"})

    return Breaker(app, after=after)


def lowercased_email():
    """Emails are returned lower-cased (stored as sent, shown normalised)."""
    app, _store = fresh_fake()

    def change(user):
        if isinstance(user.get("email"), str):
            user["email"] = user["email"].lower()

    return Breaker(app, after=_each_user(change))


def other_error_shape():
    """Errors are ``application/json`` ``{"error": {"code", "message"}}`` instead of problem details."""
    app, _store = fresh_fake()

    def after(exchange, answer):
        if answer.status >= 400 and answer.content_type().startswith(PROBLEM_JSON):
            problem = json.loads(answer.body)
            answer.set_json({"error": {"code": problem.get("status"), "message": problem.get("detail")}})
            answer.headers = [(k, v) for k, v in answer.headers if k.lower() != b"content-type"]
            answer.headers.append((b"content-type", b"application/json"))

    return Breaker(app, after=after)


@dataclass(frozen=True)
class DriftVariant:
    build: Callable[[], object]
    kind: str  # the difference drift must report
    where: str | None  # its JSON path (a regular expression), or None
    operation: str  # an operationId it must be reported for
    # Extra arguments: a variant whose difference a fresh recording of it would copy into the fake
    # is compared with the fixtures it was built from.
    args: tuple[str, ...] = ()


DRIFT_VARIANTS: dict[str, DriftVariant] = {
    # A field only the deployment has is a difference in form: it fails the run with --fail-on form.
    "extra_response_fields": DriftVariant(extra_response_fields, "field", r"^\$\.employeeNumber$", "get_user",
                                          ("--fail-on", "form")),
    "missing_optional_field": DriftVariant(missing_optional_field, "field", r"^\$(\[\*\])?\.pod$", "get_user",
                                           ("--fixture", "fixtures/acme.json")),
    "not_found_for_other_customers": DriftVariant(not_found_for_other_customers, "status", None, "get_user"),
    "lowercased_email": DriftVariant(lowercased_email, "value", r"^\$\.email$", "update_user_v1"),
    "other_error_shape": DriftVariant(other_error_shape, "error-format", r"^\$$", "get_user"),
}


def matches(difference: dict, variant: DriftVariant) -> bool:
    """Whether a difference of the ``--json`` report is the one ``variant`` must produce."""
    return (
        difference["kind"] == variant.kind
        and difference["operationId"] == variant.operation
        and (variant.where is None or re.match(variant.where, difference["where"] or "") is not None)
    )
