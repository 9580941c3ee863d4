"""The API's User representation, built from the store's records, and the answers kept encoded.

A user's answer names other users (its delegates' names, its delegators' names and identities) and
the customer's roles, so rendering it reads several records. Most users never change, so the
encoded answer is kept (:class:`RenderedAnswers`) and dropped only when a write touches the user or
a user its answer names: the customer that keeps the records and indexes decides which
(:meth:`mockserver.store.index.Customer.forget_answers`), so this module knows nothing of it.
Roles, groups and the customer's name never change once loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import orjson

# Fields kept on a stored user that are not part of the API's User representation.
RELATION_FIELDS = ("roleIds", "delegateIds", "identities")
# Encoded answers kept per customer, in bytes: enough for every user of a customer of a few
# thousand; with more, the answers asked for most recently.
ANSWER_BUDGET = 8 * 1024 * 1024
# A fork's (a session's): there may be a thousand of them.
FORK_ANSWER_BUDGET = 256 * 1024


class Source(Protocol):
    """What rendering reads of a customer (:class:`mockserver.store.index.Customer` is one)."""

    id: str
    full_name: str
    roles: Mapping[str, dict]
    users: Mapping[str, dict]
    delegators: Mapping[str, frozenset[str]]


def render_user(customer: Source, user: dict[str, Any]) -> dict[str, Any]:
    """The API's User representation: documented fields plus the richer relation fields.

    ``user`` is a record just decoded (a new object), so the view takes its values as they are;
    roles are copied, as they are shared by every answer."""
    view = {key: value for key, value in user.items() if key not in RELATION_FIELDS}
    customer_id = customer.id
    view["identities"] = [{**identity, "customerId": customer_id} for identity in user.get("identities") or ()]
    roles = customer.roles
    view["roles"] = [copied_role(roles[role_id]) for role_id in user.get("roleIds") or () if role_id in roles]
    users = customer.users
    view["delegates"] = [
        {
            "_id": delegate["_id"],
            "firstName": delegate["firstName"],
            "lastName": delegate["lastName"],
            "permissions": {},
        }
        for delegate in (users.get(d) for d in user.get("delegateIds") or ())
        if delegate is not None
    ]
    view["delegators"] = [
        {
            "_id": delegator["_id"],
            "firstName": delegator["firstName"],
            "lastName": delegator["lastName"],
            "identities": [{**i, "customerId": customer_id} for i in delegator.get("identities") or ()],
        }
        for delegator in (users[d] for d in sorted(customer.delegators.get(user["_id"], ())))
    ]
    view["customer"] = {"_id": customer_id, "fullName": customer.full_name}
    return view


def copied_role(role: dict[str, Any]) -> dict[str, Any]:
    if "permissions" not in role:
        return dict(role)
    return {**role, "permissions": [dict(permission) for permission in role["permissions"]]}


def encode(value: Any) -> bytes:
    """Compact JSON, UTF-8, in the value's field order (what the API answers, and how the store
    keeps a user). A copy of orjson's result: that object keeps orjson's whole output buffer
    (about 8 KiB whatever the length), so 100,000 of them would hold 800 MB."""
    return memoryview(orjson.dumps(value)).tobytes()


class RenderedAnswers:
    """Encoded answers by user id, oldest first; at most :data:`ANSWER_BUDGET` bytes in all."""

    __slots__ = ("answers", "size", "budget")

    def __init__(self, budget: int = ANSWER_BUDGET):
        self.answers: dict[str, bytes] = {}
        self.size = 0
        self.budget = budget

    def get(self, user_id: str) -> bytes | None:
        return self.answers.get(user_id)

    def put(self, user_id: str, answer: bytes) -> None:
        self.drop((user_id,))
        if len(answer) > self.budget:
            return
        answers = self.answers
        while answers and self.size + len(answer) > self.budget:
            self.size -= len(answers.pop(next(iter(answers))))
        answers[user_id] = answer
        self.size += len(answer)

    def drop(self, user_ids: Iterable[str]) -> None:
        answers = self.answers
        for user_id in user_ids:
            answer = answers.pop(user_id, None)
            if answer is not None:
                self.size -= len(answer)

    def __len__(self) -> int:
        return len(self.answers)
