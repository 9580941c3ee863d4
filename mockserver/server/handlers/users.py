"""The Users operations: read the parameters, call the store, shape the answer.

Connexion routes each ``operationId`` of ``openapi/users.yaml`` here (``x-openapi-router-controller``
is not used: the resolver maps ``list_users`` to :func:`list_users`, and so on). Parameters have been
validated against the spec before a handler runs; errors the store raises become problem responses
in :mod:`mockserver.app.build`. Answers are the store's encoded JSON (``bytes``), which the app's
jsonifier passes through as they are (:data:`mockserver.server.hotpath.JSONIFIER`).
"""

from __future__ import annotations

from typing import Any

import orjson

from mockserver.server.auth import authorize
from mockserver.server.runtime import current_store as _store

JSON = {"Content-Type": "application/json"}
# Every operation here, as Connexion's routing names it (the resolved function): answered without
# Flask once Connexion has validated the request (mockserver.server.hotpath.DirectOperations); the
# handlers are the same either way.
OPERATION_IDS = frozenset(f"{__name__}.{name}" for name in (
    "list_users", "lookup_user_identity", "get_user", "update_user_v1", "update_user_v2", "delete_user"))


def list_users(customerId: str, integration: str, token_info: dict, search: str | None = None):
    authorize(token_info, customerId)
    return _store().list_users_json(customerId, search), 200, JSON


def lookup_user_identity(customerId: str, token_info: dict):
    principal = authorize(token_info, customerId)
    return orjson.dumps(_store().identity(customerId, principal.user_id)), 200, JSON


def get_user(customerId: str, userId: str, token_info: dict):
    authorize(token_info, customerId)
    return _store().get_user_json(customerId, userId), 200, JSON


def update_user_v1(customerId: str, userId: str, body: dict[str, Any], token_info: dict):
    authorize(token_info, customerId)
    return _store().update_user_json(customerId, userId, body), 200, JSON


def update_user_v2(customerId: str, userId: str, body: dict[str, Any], token_info: dict):
    authorize(token_info, customerId)
    return _store().update_user_json(customerId, userId, body), 200, JSON


def delete_user(customerId: str, userId: str, token_info: dict, **_audit: Any):
    """The audit query parameters (``isForwarded``, ``originalPrincipal*``) are validated and ignored."""
    authorize(token_info, customerId)
    return _store().delete_user_json(customerId, userId), 200, JSON
