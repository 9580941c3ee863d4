"""Bearer tokens: who a token speaks for, and whether it may touch a customer.

Tokens come from the fixtures; each is bound to the customers it may touch and optionally to one
user. ``--any-token`` accepts any non-empty bearer token for every customer. A missing or unknown
token is a 401 (an unknown one names ``--any-token``); a known token used on
another customer is a 403 (:func:`authorize`, called by every handler after validation).

Whether a token may touch a customer is decided once per request, by :func:`may_access` (whoever
asks first: the forced answers of Prefer, scenarios and chaos, or the handler), and kept in the
request's token info, where the next asker finds it.
"""

from __future__ import annotations

from typing import Any

from mockserver.server.runtime import runtime_of
from mockserver.store.memory import Principal

ANY_TOKEN = Principal(customer_ids=None)
ACCESS_KEY = "mockserver.access"  # in a request's token info: (customer id, whether the token may touch it)


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


def may_access(info: dict[str, Any], customer_id: str) -> bool:
    """Whether the token of ``info`` (a request's token info) may touch ``customer_id``: decided on the
    first question, and kept in ``info`` for the request's next one."""
    decided = info.get(ACCESS_KEY)
    if decided is not None and decided[0] == customer_id:
        return decided[1]
    allowed = info["principal"].may_access(customer_id)
    info[ACCESS_KEY] = (customer_id, allowed)
    return allowed


def authorize(info: dict[str, Any], customer_id: str) -> Principal:
    decided = info.get(ACCESS_KEY)
    if decided is None or decided[0] != customer_id:  # not asked yet: decide here (the usual case)
        decided = info[ACCESS_KEY] = (customer_id, info["principal"].may_access(customer_id))
    if not decided[1]:
        raise Forbidden(f"this token may not access customer {customer_id}")
    return info["principal"]
