"""The documented behaviour of the Users API: one named rule per row of ``docs/choices.md`` that says
what the API does, and the few functions that *are* a rule (the search, the updatable fields, the
API paths, the ``updatedAt`` step, the email key, the collapsing of repeated ids).

Everything that needs one of these asks here: the store (``mockserver.store``) answers by them,
the contract checks and drift's model check and draw by them, the restore builds its PATCH from
them. Each :class:`Rule` names the ``docs/choices.md`` row it encodes and the checks that exercise
it (``contract``: contract check names; ``drift``: drift's model rules and probe groups);
``tests/test_rules.py`` fails when a rule names none, or names one that does not exist.

Layer 1 (spec): imports only the standard library, ``mockserver.core`` and ``mockserver.spec``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mockserver.core.clock import parse_timestamp
from mockserver.spec.schemas import updatable_fields, updatable_relations, updatable_text_fields

# -- the rules, by name -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One documented behaviour: its name, the ``docs/choices.md`` row (topic) it encodes, what it
    says, and who exercises it (contract checks; drift model rules and probe groups)."""

    name: str
    row: str
    says: str
    contract: tuple[str, ...] = ()
    drift: tuple[str, ...] = ()


RULES: dict[str, Rule] = {rule.name: rule for rule in (
    Rule("search", "`search`",
         "case-insensitive; split on whitespace; every term a substring of first name, last name, nickname "
         "or email; other fields not searched; a blank search lists everyone",
         contract=("search_semantics",), drift=("search", "search_edge", "search_deleted")),
    Rule("list_order", "List order", "ascending `_id`, stable across updates",
         contract=(), drift=("list_all", "read_related")),
    Rule("list_answer", "List answer", "a JSON array of User objects, no pagination",
         contract=("search_semantics",), drift=("list_all",)),
    Rule("timestamps", "PATCH semantics",
         "`updatedAt` moves forward on every successful PATCH (at least 1 ms); `createdAt` never changes",
         contract=("update_timestamps",), drift=("patch", "rejected_write")),
    Rule("date_format", "Dates", "ISO 8601 UTC with `Z`; the precision is the deployment's (compared by shape)",
         contract=("update_timestamps",), drift=("patch",)),
    Rule("partial_update", "PATCH semantics", "only the fields sent change; `{}` is accepted",
         contract=("partial_update", "read_your_writes"), drift=("patch", "read_related")),
    Rule("rejected_write", "PATCH semantics",
         "`null` is not a value (400); an unknown field is a 400; a rejected PATCH changes nothing",
         contract=("email_uniqueness",), drift=("rejected_write",)),
    Rule("updatable_fields", "Unknown fields", "request bodies are closed: only the PATCH schema's fields",
         contract=("partial_update",), drift=("patch", "rejected_write")),
    Rule("email_unique", "Email",
         "unique within the customer, compared case-insensitively (409); stored and returned exactly as sent",
         contract=("email_uniqueness",), drift=("patch", "rejected_write")),
    Rule("delegates", "`delegateIds` (v1 only)",
         "`delegateIds` returned expanded as `delegates`; the reverse relation as `delegators`; 422 for an id "
         "that is not another user of the customer; repeats collapsed",
         contract=("relations", "delete_semantics"), drift=("patch", "read_related", "rejected_write")),
    Rule("roles", "`roleIds`", "must name roles of the customer (422); repeats collapsed; returned as `roles`",
         contract=("relations",), drift=("patch", "rejected_write")),
    Rule("v2_patch", "v2 PATCH", "as v1 without `delegateIds`, which is an unknown field (400)",
         contract=(), drift=("patch", "rejected_write")),
    Rule("delete", "DELETE",
         "returns the user as it was; afterwards get/patch/delete are 404, it is gone from the list and the "
         "search, delegations to and from it are removed, its lookup is 404",
         contract=("delete_semantics",), drift=("delete", "after_delete", "search_deleted", "read_related")),
    Rule("lookup", "`lookup`",
         "the first identity of the token's user with the path's `customerId`; 404 when the token is bound to "
         "no user, the user has none, or was deleted",
         contract=("lookup_identity",), drift=("lookup", "other_principal")),
    Rule("tenancy", "Customers a token may not touch",
         "a token of another customer reads and writes nothing here: 403 (or 404 for an unknown customer)",
         contract=("tenant_scoping", "tenant_isolation"), drift=("other_principal",)),
    Rule("error_statuses", "Error statuses",
         "400 malformed, 401 no or unknown token, 403 other customer, 404 no such user, 409 email used, "
         "422 unknown role or delegate",
         contract=("tenant_scoping", "email_uniqueness"), drift=("rejected_write", "after_delete", "probes")),
    Rule("extra_fields", "Extra response fields",
         "users carry `identities`, `roles`, `delegates`, `delegators` and `customer` (the fake always sets "
         "them); a deployment may add more (a form difference)",
         contract=(), drift=("get", "list_all")),
)}


# -- the API paths ------------------------------------------------------------------------------

CUSTOMER_PARAMETER = "{customerId}"
USER_PARAMETER = "{userId}"


def users_path(customer_id: str, version: str = "v1") -> str:
    """The users of a customer: the list (``GET``)."""
    return f"/api/{version}/customers/{customer_id}/users"


def user_path(customer_id: str, user_id: str, version: str = "v1") -> str:
    """One user: get, PATCH (v1 and v2), DELETE."""
    return f"{users_path(customer_id, version)}/{user_id}"


def lookup_path(customer_id: str) -> str:
    """The identity of the token's user."""
    return f"{users_path(customer_id)}/lookup"


# -- search -------------------------------------------------------------------------------------

SEARCH_FIELDS = ("firstName", "lastName", "nickname", "email")
# Values docs/choices.md names (blank lists everyone; terms split on any whitespace; case ignored),
# besides terms taken from the data: drawn by drift's model, sent by the contract checks.
SEARCH_EDGE_VALUES = ("", " ", "   ", "\t", " \t ")


def search_terms(search: str | None) -> list[str]:
    """The terms of a ``search`` value: case-folded, split on whitespace (none: everyone matches)."""
    return (search or "").casefold().split()


def search_key(user: Mapping[str, Any]) -> str:
    """The searched fields, case-folded, one per line: a term (it never holds whitespace) matches
    some field exactly when it is a substring of this text."""
    get = user.get
    return "\n".join([text if isinstance(text := get(name), str) else "" for name in SEARCH_FIELDS]).casefold()


def matches(user: Mapping[str, Any], search: str | None) -> bool:
    """Whether ``user`` is in the answer to ``search``."""
    key = search_key(user)
    return all(term in key for term in search_terms(search))


def search_result(users: Iterable[Mapping[str, Any]], search: str | None) -> list[Mapping[str, Any]]:
    """The documented answer: the users that match, in list order."""
    return list_order([user for user in users if matches(user, search)])


# -- order --------------------------------------------------------------------------------------

def list_order(users: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Ascending ``_id``."""
    return sorted(users, key=lambda user: user["_id"])


def in_list_order(ids: list[str]) -> bool:
    return all(a < b for a, b in zip(ids, ids[1:], strict=False))


# -- PATCH: fields, relations, timestamps -------------------------------------------------------

UPDATABLE_FIELDS = frozenset(updatable_fields("v1") | updatable_fields("v2"))
V1_ONLY_FIELDS = frozenset(updatable_fields("v1") - updatable_fields("v2"))
TEXT_FIELDS = updatable_text_fields("v1")
RELATIONS = updatable_relations("v1")  # PATCH field -> the expanded User field (roleIds -> roles)
REVERSE_RELATIONS = {"delegates": "delegators"}  # a user's delegates list it among their delegators
ALWAYS_SET_FIELDS = ("_id", "firstName", "lastName", "email", "createdAt", "updatedAt", "identities", "roles",
                     "delegates", "delegators", "customer")


def updatable(version: str) -> frozenset[str]:
    """The fields a PATCH of ``version`` may send."""
    return updatable_fields(version)


def collapse(ids: Iterable[str]) -> list[str]:
    """Repeated ids collapsed, first occurrence kept."""
    return list(dict.fromkeys(ids))


def email_key(email: str) -> str:
    """Emails are unique within a customer compared case-insensitively."""
    return email.casefold()


def next_updated_at(previous: str, now: datetime) -> str:
    """``updatedAt`` after a successful PATCH: now to the millisecond, and at least 1 ms past
    ``previous``; always with milliseconds, so one user's values sort as their times do."""
    now = now.astimezone(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    moment = max(now, parse_timestamp(previous) + timedelta(milliseconds=1))
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def moved_forward(before: Any, after: Any) -> bool:
    """Whether ``after`` is a timestamp strictly later than ``before``."""
    try:
        return parse_timestamp(after) > parse_timestamp(before)
    except (TypeError, ValueError):
        return False


# -- lookup -------------------------------------------------------------------------------------

def identity_answer(user: Mapping[str, Any] | None, customer_id: str) -> dict[str, Any] | None:
    """The lookup answer for the token's ``user`` (None: 404)."""
    if user is None:
        return None
    identities = user.get("identities") or []
    return {**identities[0], "customerId": customer_id} if identities else None
