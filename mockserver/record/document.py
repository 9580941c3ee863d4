"""A recording as a fixture document: users in the fixture vocabulary, roles, groups, the customer,
new local tokens (never the one used for recording), and notes on what was dropped or made up."""

from __future__ import annotations

from collections import Counter
from typing import Any

from mockserver.record.anonymize import Anonymizer
from mockserver.record.capture import USER_TOKEN, Recording

ADMIN_TOKEN = "recorded-admin-token"
RESPONSE_ONLY = ("roles", "delegates", "delegators", "customer")


def fixture_user_fields() -> frozenset[str]:
    """The fields a fixture user may have (the contract's User, as the fixture format extends it)."""
    from mockserver.fixtures.document import fixture_schema

    customer = fixture_schema()["properties"]["customers"]["items"]
    return frozenset(customer["properties"]["users"]["items"]["properties"])


def _ids(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    found = []
    for item in items:
        value = item.get("_id") if isinstance(item, dict) else item
        if isinstance(value, str):
            found.append(value)
    return list(dict.fromkeys(found))


def fixture_user(answer: dict[str, Any], allowed: frozenset[str]) -> tuple[dict[str, Any], list[str]]:
    """A GET answer in the fixture vocabulary, and the names of the fields dropped from it."""
    relations = ("roleIds", "delegateIds", "identities")
    user = {key: value for key, value in answer.items() if key in allowed and key not in relations}
    dropped = [key for key in answer if key not in allowed and key not in RESPONSE_ONLY]
    user["roleIds"] = _ids(answer["roles"]) if isinstance(answer.get("roles"), list) else _ids(answer.get("roleIds"))
    user["delegateIds"] = (
        _ids(answer["delegates"]) if isinstance(answer.get("delegates"), list) else _ids(answer.get("delegateIds"))
    )
    user["identities"] = [
        {"type": identity["type"], "value": identity["value"]}
        for identity in answer.get("identities") or ()
        if isinstance(identity, dict) and "type" in identity and "value" in identity
    ]
    return user, dropped


def bound_user(users: list[dict[str, Any]], identity: dict[str, Any] | None) -> str | None:
    """The user whose identities hold ``identity`` (type and value), else None."""
    if not identity:
        return None
    for user in users:
        for own in user.get("identities") or ():
            if own.get("type") == identity.get("type") and own.get("value") == identity.get("value"):
                return user["_id"]
    return None


def local_token(name: str, real: str | None) -> str:
    """``name``, unless the real token is part of it (then another name that does not hold it)."""
    candidates = [name, name.replace("recorded", "local"), *(f"{name}-{n}" for n in range(2, 100))]
    return next((c for c in candidates if not real or real not in c), f"{name}-{len(real or '')}x")


def build_document(
    recording: Recording, *, anonymizer: Anonymizer | None = None, real_token: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The fixture document of a recording, and notes for the user (what was dropped or made up)."""
    allowed = fixture_user_fields()
    customer_id = recording.customer_id
    notes = list(recording.notes)
    dropped: Counter[str] = Counter()
    users: list[dict[str, Any]] = []
    roles: dict[str, dict[str, Any]] = {}
    group_ids: list[str] = []
    full_name = None
    for answer in recording.users:
        user, extra = fixture_user(answer, allowed)
        dropped.update(extra)
        for role in answer.get("roles") or ():
            if isinstance(role, dict) and isinstance(role.get("_id"), str):
                roles.setdefault(role["_id"], role)
        for group_id in user.get("groupIds") or ():
            if group_id not in group_ids:
                group_ids.append(group_id)
        customer = answer.get("customer")
        if full_name is None and isinstance(customer, dict) and isinstance(customer.get("fullName"), str):
            full_name = customer["fullName"] or None
        users.append(user)
    recorded = {user["_id"] for user in users}
    dangling = 0
    for user in users:
        kept = [d for d in user["delegateIds"] if d in recorded and d != user["_id"]]
        dangling += len(user["delegateIds"]) - len(kept)
        user["delegateIds"] = kept
    unnamed = 0
    for user in users:
        # A role named by roleIds but never shown expanded cannot be recorded with a name.
        kept = [role_id for role_id in user["roleIds"] if role_id in roles]
        unnamed += len(user["roleIds"]) - len(kept)
        user["roleIds"] = kept
    if unnamed:
        notes.append(f"{unnamed} role assignment(s) to roles never shown with a name were dropped")
    if dangling:
        notes.append(f"{dangling} delegation(s) to users that were not recorded were dropped")
    if dropped:
        listed = ", ".join(f"{name} ({count} users)" for name, count in sorted(dropped.items()))
        notes.append(f"fields the contract does not define were dropped: {listed}")
    if full_name is None:
        full_name = f"Recorded customer {customer_id}"
        notes.append(f"no user carried customer.fullName: the customer is called {full_name!r}")
    if group_ids:
        notes.append("the API shows no group names: groups are called 'Group <last 6 characters of the id>'")
    if anonymizer is not None:
        users = [anonymizer.user(user, customer_id) for user in users]
        full_name = anonymizer.customer_name(full_name)
    users.sort(key=lambda user: user["_id"])
    tokens: list[dict[str, Any]] = [{"token": local_token(ADMIN_TOKEN, real_token), "customerIds": [customer_id]}]
    user_id = bound_user(users, recording.identity) or next(
        (user["_id"] for user in users if user.get("identities")), None
    )
    if user_id is not None:
        tokens.append({"token": local_token(USER_TOKEN, real_token), "customerIds": [customer_id], "userId": user_id})
    document = {
        "customers": [
            {
                "_id": customer_id,
                "fullName": full_name,
                "roles": list(roles.values()),
                "groups": [{"_id": group_id, "name": f"Group {group_id[-6:]}"} for group_id in group_ids],
                "users": users,
            }
        ],
        "tokens": tokens,
    }
    return document, notes


def holds_token(document: dict[str, Any], token: str | None) -> bool:
    """Whether the recorded data (not the local tokens, chosen not to hold it) contains the token.
    Very short tokens are not looked for: they would be found in ordinary words."""
    if not token or len(token) < 8:
        return False
    import json

    return token in json.dumps(document["customers"], ensure_ascii=False)
