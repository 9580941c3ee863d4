"""The store interface: what the server, the features and the admin API call on a state backend.

Two backends implement it: :class:`mockserver.store.memory.Store` (the default, one process) and
:class:`mockserver.store.redis_backend.RedisStore` (state shared by every replica through one Redis).
``tests/test_store_conformance.py`` is the suite every backend passes; a third backend implements
:class:`StoreBackend` and joins that suite's parameter list.

At the edge the store speaks fixture documents (``{"customers": [...], "tokens": [...]}``, already
validated by :mod:`mockserver.fixtures.document`), PATCH bodies already valid against the spec, and
answers in the API's User representation (:class:`UserView`, or its compact JSON as ``bytes``).
Errors a caller can cause are :class:`StoreError` subclasses (one readable line each); a backend
that cannot reach its state raises :class:`StoreUnavailable` (a 503 problem with ``Retry-After``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NotRequired, Protocol, TypedDict, runtime_checkable

from mockserver.core.problems import ProblemError


class StoreError(Exception):
    """Base class of the errors a caller can cause; ``str(err)`` is one readable line."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class Unprocessable(StoreError):
    pass


class StoreUnavailable(ProblemError):
    """The backend cannot reach its state right now (Redis down or restarting): a 503 problem with
    ``Retry-After``; the request changed nothing it acknowledged. Not a :class:`StoreError`: the
    caller did nothing wrong."""

    def __init__(self, detail: str, retry_after: int = 1):
        super().__init__(503, detail, (("Retry-After", str(retry_after)),))


@dataclass(frozen=True)
class Principal:
    """Who a bearer token speaks for: the customers it may touch (None: all) and its user."""

    customer_ids: frozenset[str] | None
    user_id: str | None = None

    def may_access(self, customer_id: str) -> bool:
        return self.customer_ids is None or customer_id in self.customer_ids


class Identity(TypedDict):
    type: str
    value: str


class UserRecord(TypedDict, total=False):
    """A user as the store keeps it and fixture files spell it: the API's scalar fields plus the
    relations by id (``roleIds``, ``delegateIds``) and the external ``identities``."""

    _id: str
    email: str
    firstName: str
    lastName: str
    nickname: str | None
    createdAt: str
    updatedAt: str
    roleIds: list[str]
    delegateIds: list[str]
    groupIds: list[str]
    identities: list[Identity]


class UserView(TypedDict, total=False):
    """A user as the API answers it: the record's scalar fields plus the relations rendered
    (``roles``, ``delegates``, ``delegators``, ``identities`` with their customer, ``customer``)."""

    _id: str
    email: str
    roles: list[dict[str, Any]]
    delegates: list[dict[str, Any]]
    delegators: list[dict[str, Any]]
    identities: list[dict[str, Any]]
    customer: dict[str, str]


class CustomerSummary(TypedDict):
    _id: str
    fullName: str
    users: int


class TokenRecord(TypedDict):
    token: str
    customerIds: list[str]
    userId: NotRequired[str]


@runtime_checkable
class StoreBackend(Protocol):
    """Every call the request path, the features (sessions, watch), the admin API, the CLI and
    ``--state-file`` make on a store. Each call is atomic: a write applies whole or raises and
    changes nothing, and is visible to every later call (on every replica sharing the backend)."""

    # Called as ``on_change(store)`` after every successful write, reset, replace and restore
    # (``--state-file`` saves from it). A shared backend may refuse it (its state outlives processes).
    on_change: Callable[[Any], None] | None

    # -- tokens and customers
    def principal(self, token: str) -> Principal | None: ...
    def tokens(self) -> list[TokenRecord]: ...
    def customers(self) -> list[CustomerSummary]: ...
    def has_customer(self, customer_id: str) -> bool: ...

    # -- reads (``*_json``: the answer as the API sends it, compact JSON)
    def list_users(self, customer_id: str, search: str | None = None) -> list[UserView]: ...
    def list_users_json(self, customer_id: str, search: str | None = None) -> bytes: ...
    def get_user(self, customer_id: str, user_id: str) -> UserView: ...
    def get_user_json(self, customer_id: str, user_id: str) -> bytes: ...
    def identity(self, customer_id: str, user_id: str | None) -> dict[str, Any]: ...

    # -- writes (``changes`` is a PATCH body valid against the spec, v1 or v2)
    def update_user(self, customer_id: str, user_id: str, changes: dict[str, Any]) -> UserView: ...
    def update_user_json(self, customer_id: str, user_id: str, changes: dict[str, Any]) -> bytes: ...
    def delete_user(self, customer_id: str, user_id: str) -> UserView: ...
    def delete_user_json(self, customer_id: str, user_id: str) -> bytes: ...

    # -- whole state
    def reset(self) -> None: ...
    def replace(self, seed: dict[str, Any]) -> None: ...
    def restore(self, document: dict[str, Any]) -> None: ...
    def snapshot(self) -> dict[str, Any]: ...
    def state_view(self) -> dict[str, Any]: ...
    def seed_document(self) -> dict[str, Any]: ...

    # -- forks (sessions): a new state at this store's seed; ``name`` lets a shared backend hand
    # every replica the same fork for the same session name (the memory backend ignores it)
    @property
    def generation(self) -> int: ...
    def fork(self, name: str | None = None) -> StoreBackend: ...
    def drop_fork(self, name: str | None = None) -> bool: ...  # a session's shared state (None: all)
    def changed_records(self) -> int | None: ...
