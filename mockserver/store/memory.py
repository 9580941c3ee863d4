"""In-memory state of the Users API: customers, their roles, groups and users, and the tokens.

No HTTP. One ``Store`` is one consistent state; every public method takes the store's lock, so a
write is applied whole or not at all and is visible to every later call.

The store keeps users in the fixture vocabulary (the API's User fields plus ``roleIds``,
``delegateIds`` and ``identities``), each as a compact record (:mod:`mockserver.store.index`), and
renders the API's representation on the way out (:mod:`mockserver.store.render`), keeping the
encoded answers until a write touches them (the ``*_json`` methods answer from those).

Copy on write: the seed is indexed once into an image that is never written. The state after
start-up or ``reset()``, and every :meth:`Store.fork`, is an overlay on it: only the users it
changes (and the index entries that name them) are its own.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from mockserver.core.clock import format_timestamp, parse_timestamp  # noqa: F401  (re-exported for the store's callers)
from mockserver.core.memory import paused_gc
from mockserver.spec import rules
from mockserver.store.backend import Conflict, NotFound, Principal, StoreError, Unprocessable
from mockserver.store.index import SEARCH_FIELDS, Customer, search_key, with_member, without_member
from mockserver.store.render import ANSWER_BUDGET, FORK_ANSWER_BUDGET, RELATION_FIELDS, render_user

__all__ = [
    "RELATION_FIELDS", "SEARCH_FIELDS", "UPDATABLE_FIELDS", "Conflict", "NotFound", "Principal", "Store", "StoreError",
    "Unprocessable", "format_timestamp", "json_copy", "next_timestamp", "parse_timestamp", "token_digest",
]

# Fields a client may change, as the PATCH schemas say; ``delegateIds`` only through v1 (the schema enforces that).
UPDATABLE_FIELDS = rules.UPDATABLE_FIELDS


def token_digest(token: str) -> bytes:
    """Tokens are looked up by digest, so lookups do not compare secrets byte by byte."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def next_timestamp(now: datetime, previous: str) -> str:
    """``updatedAt`` after a successful PATCH (the rule: :func:`mockserver.spec.rules.next_updated_at`)."""
    return rules.next_updated_at(previous, now)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _principals(tokens: list[dict[str, Any]]) -> dict[bytes, Principal]:
    return {
        token_digest(entry["token"]): Principal(frozenset(entry["customerIds"]), entry.get("userId"))
        for entry in tokens
    }


class _SeedImage:
    """A validated seed indexed once and never written: the shared base of the store's state
    (after start-up and every ``reset()``) and of every :meth:`Store.fork`. It keeps nothing of
    the parsed document: users are compact records (see :mod:`mockserver.store.index`)."""

    __slots__ = ("customers", "tokens", "principals")

    def __init__(self, seed: dict[str, Any]):
        with paused_gc():
            self.customers: Mapping[str, Customer] = {
                customer.id: customer for customer in (Customer(record) for record in seed.get("customers", []))
            }
        self.tokens: list[dict[str, Any]] = json_copy(list(seed.get("tokens", [])))
        self.principals = _principals(self.tokens)

    def document(self) -> dict[str, Any]:
        return {"customers": [c.record() for c in self.customers.values()], "tokens": self.tokens}


def json_copy(document: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, strings, numbers, booleans, None), through
    a C JSON codec: several times faster than ``copy.deepcopy`` on a large fixture."""
    return orjson.loads(orjson.dumps(document))


class Store:
    """The state of every customer, seeded from a validated fixture document.

    ``seed`` is the fixture document (``{"customers": [...], "tokens": [...]}``) after validation by
    :mod:`mockserver.fixtures.document`; the store trusts it. ``reset()`` goes back to it. The seed is indexed
    once into an image that is never written; the state is a copy-on-write overlay on it.
    """

    # Called as ``on_change(store)`` under the lock after every successful write, ``reset``,
    # ``replace`` and ``restore`` (mockserver.store.persistence saves the state from it). Forks never
    # inherit it: only the store it was given to calls it.
    on_change: Callable[[Store], None] | None = None

    def __init__(
        self,
        seed: dict[str, Any],
        *,
        clock: Callable[[], datetime] = _utcnow,
        on_change: Callable[[Store], None] | None = None,
        take_ownership: bool = False,
    ):
        """The store keeps nothing of ``seed`` (its records are packed, small parts copied), so the
        caller may change or drop it afterwards; ``take_ownership`` is accepted for callers that
        hand it over (there is no copy left to spare)."""
        del take_ownership
        self._lock = threading.RLock()
        self._clock = clock
        self.on_change = on_change
        self._image = _SeedImage(seed)
        self._forked = False  # True: made by fork() (changed_records() counts its own records)
        self._generation = 0
        self._load_overlay(self._image)

    # -- whole-state operations --------------------------------------------------------------

    def _load(self, document: dict[str, Any]) -> None:
        """Index ``document``'s records as the current state (its own, not over the seed)."""
        with paused_gc():
            self._customers = {c.id: c for c in (Customer(record) for record in document.get("customers", []))}
        self._tokens = json_copy(list(document.get("tokens", [])))
        self._principals = _principals(self._tokens)

    def _load_overlay(self, image: _SeedImage) -> None:
        budget = FORK_ANSWER_BUDGET if self._forked else ANSWER_BUDGET
        self._customers = {cid: Customer.overlay(base, budget) for cid, base in image.customers.items()}
        self._tokens = image.tokens  # never written: tokens() and snapshot() hand out copies
        self._principals = image.principals

    def reset(self) -> None:
        """Go back to the seed: every change since start-up (or the last ``replace``) is dropped."""
        with self._lock:
            self._load_overlay(self._image)
            self._changed()

    def replace(self, seed: dict[str, Any]) -> None:
        """Make a new validated fixture document the seed and the current state."""
        with self._lock:
            self._image = _SeedImage(seed)
            self._generation += 1
            self._load_overlay(self._image)
            self._changed()

    def restore(self, document: dict[str, Any]) -> None:
        """Make a validated fixture document the current state; the seed stays (``reset()`` still
        goes back to it). Used to resume from a saved state file."""
        with self._lock:
            self._load(document)
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    @property
    def generation(self) -> int:
        """How many times ``replace`` has changed the seed; forks remember the one they came from."""
        return self._generation

    def fork(self, name: str | None = None) -> Store:
        """A new store at this store's *seed* (not its current state), sharing the seed's records
        copy-on-write: it costs memory only for the users it changes. ``reset()`` takes it back to
        the seed; the two stores never see each other's writes. ``name`` (a session's) is not needed
        here: the caller keeps the fork."""
        del name
        with self._lock:
            image, generation = self._image, self._generation
        store = Store.__new__(Store)
        store._lock = threading.RLock()
        store._clock = self._clock
        store._image = image
        store._forked = True
        store._generation = generation
        store._load_overlay(image)
        return store

    def drop_fork(self, name: str | None = None) -> bool:
        """Nothing to do (False): a fork is dropped with the last reference to it (its caller's)."""
        return False

    def changed_records(self) -> int | None:
        """For a fork, how many users and index entries it holds itself (its memory beyond the
        shared seed); None for the store forks are made from."""
        if not self._forked:
            return None
        with self._lock:
            return sum(customer.changed() for customer in self._customers.values())

    def seed_document(self) -> dict[str, Any]:
        """The seed this store resets to, as a fixture document (a copy)."""
        with self._lock:
            image = self._image
        return json_copy(image.document())

    def snapshot(self) -> dict[str, Any]:
        """The current state as a fixture document (loads back into an equal store)."""
        with self._lock:
            return json_copy(self.state_view())

    def state_view(self) -> dict[str, Any]:
        """The current state as a fixture document for a caller that only serialises it
        (:mod:`mockserver.store.persistence`, outside the lock): users are decoded afresh, roles,
        groups and tokens are shared (nothing ever writes them)."""
        with self._lock:
            tokens = []
            for token in self._tokens:
                uid = token.get("userId")
                if uid is not None and not any(uid in self._customers[c].users for c in token["customerIds"]):
                    # The user was deleted: the token still works for its customers, bound to no one.
                    token = {key: value for key, value in token.items() if key != "userId"}
                tokens.append(token)
            customers = [customer.record() for customer in self._customers.values()]
            return {"customers": customers, "tokens": tokens}

    # -- tokens and customers ----------------------------------------------------------------

    def principal(self, token: str) -> Principal | None:
        return self._principals.get(token_digest(token))

    def tokens(self) -> list[dict[str, Any]]:
        with self._lock:
            return json_copy(self._tokens)

    def customers(self) -> list[dict[str, Any]]:
        """``_id``, ``fullName`` and user count of every customer, in fixture order."""
        with self._lock:
            return [
                {"_id": c.id, "fullName": c.full_name, "users": len(c.users)}
                for c in self._customers.values()
            ]

    def has_customer(self, customer_id: str) -> bool:
        return customer_id in self._customers

    def _customer(self, customer_id: str) -> Customer:
        try:
            return self._customers[customer_id]
        except KeyError:
            raise NotFound(f"customer {customer_id} does not exist") from None

    def _user(self, customer: Customer, user_id: str) -> dict:
        try:
            return customer.users[user_id]
        except KeyError:
            raise NotFound(f"user {user_id} does not exist in customer {customer.id}") from None

    def _user_ids(self, customer: Customer, search: str | None) -> Iterable[str]:
        terms = rules.search_terms(search)
        return customer.search(terms) if terms else customer.users

    # -- reads -------------------------------------------------------------------------------

    def list_users(self, customer_id: str, search: str | None = None) -> list[dict[str, Any]]:
        """Users in ascending ``_id`` order; each whitespace-separated term of ``search`` must
        match (case-insensitive substring) the first name, last name, nickname or email."""
        with self._lock:
            customer = self._customer(customer_id)
            return [render_user(customer, customer.users[uid]) for uid in self._user_ids(customer, search)]

    def list_users_json(self, customer_id: str, search: str | None = None) -> bytes:
        """:meth:`list_users` as the API answers it (compact JSON), from the kept answers."""
        with self._lock:
            customer = self._customer(customer_id)
            return b"[" + b",".join([customer.answer(uid) for uid in self._user_ids(customer, search)]) + b"]"

    def get_user(self, customer_id: str, user_id: str) -> dict[str, Any]:
        """The user's representation, rendered now (a new object the caller may change)."""
        with self._lock:
            customer = self._customer(customer_id)
            return render_user(customer, self._user(customer, user_id))

    def get_user_json(self, customer_id: str, user_id: str) -> bytes:
        """:meth:`get_user` as the API answers it (compact JSON), kept until a write touches it."""
        with self._lock:
            customer = self._customer(customer_id)
            if user_id not in customer.users:
                self._user(customer, user_id)  # raises NotFound
            return customer.answer(user_id)

    def identity(self, customer_id: str, user_id: str | None) -> dict[str, Any]:
        """The first external identity of ``user_id`` within the customer."""
        with self._lock:
            customer = self._customer(customer_id)
            if user_id is None:
                raise NotFound("this token is not bound to a user, so there is no identity to look up")
            user = self._user(customer, user_id)
            answer = rules.identity_answer(user, customer.id)
            if answer is None:
                raise NotFound(f"user {user_id} has no external identity")
            return answer

    # -- writes ------------------------------------------------------------------------------

    def update_user(self, customer_id: str, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply ``changes`` (already schema-valid) whole, or raise and change nothing."""
        return orjson.loads(self.update_user_json(customer_id, user_id, changes))

    def update_user_json(self, customer_id: str, user_id: str, changes: dict[str, Any]) -> bytes:
        """:meth:`update_user`, answering the updated user as the API does (compact JSON)."""
        unknown = set(changes) - UPDATABLE_FIELDS
        if unknown:
            raise Unprocessable(f"field {sorted(unknown)[0]!r} cannot be updated")
        with self._lock:
            customer = self._customer(customer_id)
            user = self._user(customer, user_id)
            self._check_update(customer, user, changes)
            customer.forget_answers(user, changes)

            if "email" in changes:
                del customer.emails[rules.email_key(user["email"])]
                customer.emails[rules.email_key(changes["email"])] = user_id
            if "delegateIds" in changes:
                for old in user.get("delegateIds") or ():
                    without_member(customer.delegators, old, user_id)
                for new in changes["delegateIds"]:
                    with_member(customer.delegators, new, user_id)
            for field, value in changes.items():
                user[field] = rules.collapse(value) if field in rules.RELATIONS else value
            user["updatedAt"] = self._next_timestamp(user["updatedAt"])
            customer.users[user_id] = user
            customer.set_search_key(user_id, search_key(user))
            self._changed()
            return customer.answer(user_id)

    def _check_update(self, customer: Customer, user: dict, changes: dict[str, Any]) -> None:
        if "email" in changes:
            owner = customer.emails.get(rules.email_key(changes["email"]))
            if owner is not None and owner != user["_id"]:
                raise Conflict(f"email {changes['email']!r} is already used by user {owner}")
        for role_id in changes.get("roleIds", ()):
            if role_id not in customer.roles:
                raise Unprocessable(f"roleIds: {role_id} is not a role of customer {customer.id}")
        for delegate_id in changes.get("delegateIds", ()):
            if delegate_id == user["_id"]:
                raise Unprocessable(f"delegateIds: {delegate_id} is the user itself; a user cannot delegate to itself")
            if delegate_id not in customer.users:
                raise Unprocessable(f"delegateIds: {delegate_id} is not a user of customer {customer.id}")

    def _next_timestamp(self, previous: str) -> str:
        return next_timestamp(self._clock(), previous)

    def delete_user(self, customer_id: str, user_id: str) -> dict[str, Any]:
        """Remove the user and every delegation to or from it; return the user as it was."""
        return orjson.loads(self.delete_user_json(customer_id, user_id))

    def delete_user_json(self, customer_id: str, user_id: str) -> bytes:
        """:meth:`delete_user`, answering the user as it was as the API does (compact JSON)."""
        with self._lock:
            customer = self._customer(customer_id)
            user = self._user(customer, user_id)
            before = customer.answer(user_id)
            customer.forget_answers(user)
            for delegator_id in customer.delegators.pop(user_id, frozenset()):
                delegator = customer.users.get(delegator_id)
                if delegator is not None:
                    delegator["delegateIds"] = [d for d in delegator["delegateIds"] if d != user_id]
                    customer.users[delegator_id] = delegator
            for delegate_id in user.get("delegateIds") or ():
                without_member(customer.delegators, delegate_id, user_id)
            del customer.users[user_id]
            del customer.emails[rules.email_key(user["email"])]
            customer.set_search_key(user_id, None)
            self._changed()
            return before
