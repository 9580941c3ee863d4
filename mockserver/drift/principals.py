"""The run's principals besides its own token (``--other-token``, ``--lookup-token``): how the fake
knows them, and what drift's model (:mod:`mockserver.drift.model`) acts as."""

from __future__ import annotations

from typing import Any

from mockserver.drift.inputs import Principal


def principal_tokens(options, customer_id: str, document: dict, users: list[dict]) -> None:
    """Add the run's other credentials to the fake's seed ``document``, as the target knows them: a
    token of another customer (an empty one: only its 403s on this customer are compared) and a
    token bound to the user ``--lookup-user-id``."""
    tokens = document.setdefault("tokens", [])
    known = {entry.get("token") for entry in tokens}
    if options.other_token and options.other_customer_id and options.other_token not in known:
        if options.other_customer_id != customer_id and not any(
                c["_id"] == options.other_customer_id for c in document["customers"]):
            document["customers"].append({"_id": options.other_customer_id, "fullName": "Another customer",
                                          "users": []})
        tokens.append({"token": options.other_token, "customerIds": [options.other_customer_id]})
    if options.lookup_token and options.lookup_token not in known:
        entry: dict[str, Any] = {"token": options.lookup_token, "customerIds": [customer_id]}
        if any(user["_id"] == options.lookup_user_id for user in users):
            entry["userId"] = options.lookup_user_id
        tokens.append(entry)


def principals(options) -> list[Principal]:
    """The principals the model reads and tries to write as, besides the run's token."""
    found = []
    if options.other_token and options.other_customer_id:
        found.append(Principal("another customer's token", options.other_token, other_customer=True))
    if options.lookup_token:
        found.append(Principal("the lookup token", options.lookup_token, options.lookup_user_id))
    return found
