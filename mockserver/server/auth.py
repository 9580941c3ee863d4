"""Bearer tokens: who a token speaks for, and whether it may touch a customer.

Tokens come from the fixtures; each is bound to the customers it may touch and optionally to one
user. ``--any-token`` accepts any non-empty bearer token for every customer. A missing or unknown
token is a 401 (an unknown one names ``--any-token``); a known token used on
another customer is a 403 (:func:`authorize`, called by every handler after validation).
"""

from __future__ import annotations

from typing import Any

from mockserver.server.runtime import runtime_of
from mockserver.store.memory import Principal

ANY_TOKEN = Principal(customer_ids=None)


class Forbidden(Exception):
    """The token is valid but may not touch this customer."""


def token_info(token: str, request: Any = None) -> dict[str, Any] | None:
    """Connexion's ``x-bearerInfoFunc``: the token's principal, or None (401)."""
    if request is None or not token:
        return None
    runtime = runtime_of(request.scope)
    principal = runtime.store_for(request.scope).principal(token)
    if principal is None and runtime.any_token:
        principal = ANY_TOKEN
    if principal is None:
        from connexion.exceptions import OAuthProblem

        raise OAuthProblem(detail="the bearer token is not one this server knows: use a token the start-up banner "
                                  "lists, or start the server with --any-token to accept any token")
    return {"sub": principal.user_id, "principal": principal}


def authorize(info: dict[str, Any], customer_id: str) -> Principal:
    principal: Principal = info["principal"]
    if not principal.may_access(customer_id):
        raise Forbidden(f"this token may not access customer {customer_id}")
    return principal
