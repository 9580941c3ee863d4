"""In-memory state of the Users API: customers, their roles, groups and users, and the tokens.

Standard library only, no HTTP. One ``Store`` is one consistent state; every public method takes
the store's lock, so a write is applied whole or not at all and is visible to every later call.

The store keeps users in the fixture vocabulary (the API's User fields plus ``roleIds``,
``delegateIds`` and ``identities``) and renders the API's representation on the way out.

Copy on write: :meth:`Store.fork` makes a store that starts at the seed and shares every record
of a parsed, never-written image of it; only the users it changes (and the index entries that
name them) are its own. Writes therefore never change a stored value in place: a changed user
or delegator set is a new object put back into its mapping.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mockserver.schemas import all_updatable_fields

# Fields a client may change, as the PATCH schemas say; ``delegateIds`` only through v1 (the schema enforces that).
UPDATABLE_FIELDS = all_updatable_fields()
# Fields kept on a stored user that are not part of the API's User representation.
RELATION_FIELDS = ("roleIds", "delegateIds", "identities")
SEARCH_FIELDS = ("firstName", "lastName", "nickname", "email")


class StoreError(Exception):
    """Base class of the errors a caller can cause; ``str(err)`` is one readable line."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class Unprocessable(StoreError):
    pass


@dataclass(frozen=True)
class Principal:
    """Who a bearer token speaks for: the customers it may touch (None: all) and its user."""

    customer_ids: frozenset[str] | None
    user_id: str | None = None

    def may_access(self, customer_id: str) -> bool:
        return self.customer_ids is None or customer_id in self.customer_ids


def token_digest(token: str) -> bytes:
    """Tokens are looked up by digest, so lookups do not compare secrets byte by byte."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with a ``Z``; milliseconds only when they are not zero."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _CowDict(MutableMapping):
    """A mapping over a shared ``base`` dict that is never written: writes land in ``_own``,
    deletions in ``_gone``. Iterates in the base's order (users stay in ``_id`` order), then the
    keys only this mapping has."""

    __slots__ = ("_base", "_own", "_gone")

    def __init__(self, base: dict):
        self._base = base
        self._own: dict = {}
        self._gone: set = set()

    def __getitem__(self, key):
        try:
            return self._own[key]
        except KeyError:
            if key in self._gone:
                raise KeyError(key) from None
            return self._base[key]

    def __contains__(self, key) -> bool:
        return key in self._own or (key not in self._gone and key in self._base)

    def __setitem__(self, key, value) -> None:
        self._own[key] = value
        self._gone.discard(key)

    def __delitem__(self, key) -> None:
        if key not in self:
            raise KeyError(key)
        self._own.pop(key, None)
        if key in self._base:
            self._gone.add(key)

    def __iter__(self) -> Iterator:
        gone, own = self._gone, self._own
        for key in self._base:
            if key not in gone:
                yield key
        for key in own:
            if key not in self._base:
                yield key

    def __len__(self) -> int:
        return len(self._base) - len(self._gone) + sum(1 for key in self._own if key not in self._base)

    def changed(self) -> int:
        """How many entries this mapping holds itself (changed, added or deleted)."""
        return len(self._own) + len(self._gone - self._own.keys())


class _Customer:
    """One customer's state. Users are kept in ascending ``_id`` order (the list order)."""

    __slots__ = ("id", "full_name", "roles", "groups", "users", "emails", "delegators", "search_keys", "_search_text")

    def __init__(self, record: dict[str, Any]):
        self.id: str = record["_id"]
        self.full_name: str = record["fullName"]
        self.roles: dict[str, dict] = {role["_id"]: role for role in record.get("roles", [])}
        self.groups: dict[str, dict] = {group["_id"]: group for group in record.get("groups", [])}
        self.users: dict[str, dict] = {
            user["_id"]: user for user in sorted(record.get("users", []), key=lambda u: u["_id"])
        }
        _share_repeated_values(self.users.values())
        self.emails: dict[str, str] = {user["email"].casefold(): uid for uid, user in self.users.items()}
        # Only users somebody delegates to have an entry (an empty set per user is 200 bytes).
        self.delegators: dict[str, set[str]] = {}
        for uid, user in self.users.items():
            for delegate_id in user.get("delegateIds") or ():
                self.delegators.setdefault(delegate_id, set()).add(uid)
        self._search_text: _SearchText | None = None
        self.search_keys: dict[str, str] = {
            uid: _search_key(user) for uid, user in self.users.items()
        }

    @classmethod
    def overlay(cls, base: _Customer) -> _Customer:
        """A customer that reads ``base`` and writes only its own changes (roles and groups never
        change, so they are shared as they are)."""
        customer = cls.__new__(cls)
        customer.id, customer.full_name = base.id, base.full_name
        customer.roles, customer.groups = base.roles, base.groups
        customer.users = _CowDict(base.users)
        customer.emails = _CowDict(base.emails)
        customer.delegators = _CowDict(base.delegators)
        customer.search_keys = _CowDict(base.search_keys)
        customer._search_text = None
        return customer

    def set_search_key(self, user_id: str, key: str | None) -> None:
        """Change (None: remove) a user's search key; the customer's search text is rebuilt on the
        next search."""
        if key is None:
            del self.search_keys[user_id]
        else:
            self.search_keys[user_id] = key
        self._search_text = None

    def search(self, terms: list[str]) -> list[str]:
        """Ids of the users whose search key contains every term, in the users' order."""
        if self._search_text is None:
            self._search_text = _SearchText(self.search_keys)
        return self._search_text.find(terms)

    def record(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "fullName": self.full_name,
            "roles": list(self.roles.values()),
            "groups": list(self.groups.values()),
            "users": list(self.users.values()),
        }


# Fields whose values repeat across users (a few departments, offices, titles, role ids...).
_REPEATED_FIELDS = ("status", "seniority", "department", "office", "subdepartment", "pod", "jobTitle")
_REPEATED_ID_LISTS = ("groupIds", "roleIds")


def _share_repeated_values(users: Iterable[dict]) -> None:
    """Make equal values of the repeated fields one string object each. JSON parsing creates a
    new string for every occurrence; sharing them saves tens of MB on a 100,000-user fixture.
    Values stay equal, so this is not an edit a reader can see."""
    pool: dict[str, str] = {}
    share = pool.setdefault
    for user in users:
        for name in _REPEATED_FIELDS:
            value = user.get(name)
            if type(value) is str:
                user[name] = share(value, value)
        for name in _REPEATED_ID_LISTS:
            ids = user.get(name)
            if ids:
                user[name] = [share(item, item) for item in ids]
        for identity in user.get("identities") or ():
            identity["type"] = share(identity["type"], identity["type"])


def _with(index: MutableMapping[str, set[str]], key: str, member: str) -> None:
    """Add ``member`` to the set at ``key`` by replacing the set (sets may be shared with a seed)."""
    current = index.get(key)
    if current is None or member not in current:
        index[key] = (current or set()) | {member}


def _without(index: MutableMapping[str, set[str]], key: str, member: str) -> None:
    current = index.get(key)
    if current is not None and member in current:
        index[key] = current - {member}


def _principals(tokens: list[dict[str, Any]]) -> dict[bytes, Principal]:
    return {
        token_digest(entry["token"]): Principal(frozenset(entry["customerIds"]), entry.get("userId"))
        for entry in tokens
    }


class _SeedImage:
    """A validated seed parsed once and never written: the shared base of :meth:`Store.fork`."""

    __slots__ = ("seed", "customers", "tokens", "principals")

    def __init__(self, seed: dict[str, Any]):
        self.seed = seed  # the owning store's private copy; nobody writes it
        document = seed  # states never edit seed records in place (every write builds new dicts)
        self.customers: Mapping[str, _Customer] = {
            record["_id"]: _Customer(record) for record in document.get("customers", [])
        }
        self.tokens: list[dict[str, Any]] = list(document.get("tokens", []))
        self.principals = _principals(self.tokens)


def json_copy(document: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, strings, numbers, booleans, None), through
    the C JSON codec: several times faster than ``copy.deepcopy`` on a large fixture."""
    return json.loads(json.dumps(document))


class _SearchText:
    """All of a customer's search keys in one string, one line per user, in the users' order.

    ``str.find`` for the first term scans the whole customer in C (about 1 ms for 100,000 users,
    against about 10 ms for a loop over the keys); each hit is mapped to its user by bisecting the
    lines' start offsets, and only those users are checked for the other terms. A term never spans
    two fields or two users: terms contain no whitespace, fields and users are separated by
    newlines."""

    __slots__ = ("text", "starts", "ids", "keys")

    def __init__(self, search_keys: Mapping[str, str]):
        self.ids = list(search_keys)
        self.keys = [search_keys[uid] for uid in self.ids]
        self.starts = []
        offset = 0
        for key in self.keys:
            self.starts.append(offset)
            offset += len(key) + 1
        self.text = "\n".join(self.keys)

    def find(self, terms: list[str]) -> list[str]:
        first, rest = terms[0], terms[1:]
        text, starts, found = self.text, self.starts, []
        last = -1
        position = text.find(first)
        while position != -1:
            index = bisect.bisect_right(starts, position) - 1
            if index != last:
                last = index
                key = self.keys[index]
                if all(term in key for term in rest):
                    found.append(self.ids[index])
            # Go on from the next user's line: this one is settled.
            following = starts[index + 1] if index + 1 < len(starts) else len(text)
            position = text.find(first, following)
        return found


def _search_key(user: dict) -> str:
    """The searched fields, case-folded, one per line: a term (never containing whitespace, as
    terms are split on it) matches some field exactly when it is a substring of this text."""
    return "\n".join((user.get(field) or "").casefold() for field in SEARCH_FIELDS)


class Store:
    """The state of every customer, seeded from a validated fixture document.

    ``seed`` is the fixture document (``{"customers": [...], "tokens": [...]}``) after validation by
    :mod:`mockserver.fixtures`; the store trusts it. ``reset()`` goes back to it.
    """

    # Called as ``on_change(store)`` under the lock after every successful write, ``reset``,
    # ``replace`` and ``restore`` (mockserver.persistence saves the state from it). Forks never
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
        """``take_ownership=True``: the caller hands ``seed`` over and will not touch it again, so
        it is used as it is instead of copied (a 100,000-user seed takes seconds to copy)."""
        self._lock = threading.RLock()
        self._clock = clock
        self.on_change = on_change
        self._seed = seed if take_ownership else json_copy(seed)
        self._image: _SeedImage | None = None  # the seed parsed once, shared by forks; built on demand
        self._overlay = False  # True: this store's state is copy-on-write over ``_image``
        self._generation = 0
        self._load(self._seed)

    # -- whole-state operations --------------------------------------------------------------

    def _load(self, document: dict[str, Any]) -> None:
        """Index ``document``'s records as the current state. The records are shared, not copied:
        no write edits a record in place (each builds a new dict), so the seed stays intact."""
        self._customers = {record["_id"]: _Customer(record) for record in document.get("customers", [])}
        self._tokens = list(document.get("tokens", []))
        self._principals = _principals(self._tokens)

    def _load_overlay(self, image: _SeedImage) -> None:
        self._customers = {cid: _Customer.overlay(base) for cid, base in image.customers.items()}
        self._tokens = image.tokens  # never written: tokens() and snapshot() hand out copies
        self._principals = image.principals

    def reset(self) -> None:
        """Go back to the seed: every change since start-up (or the last ``replace``) is dropped."""
        with self._lock:
            if self._overlay:
                self._load_overlay(self._seed_image())
            else:
                self._load(self._seed)
            self._changed()

    def replace(self, seed: dict[str, Any]) -> None:
        """Make a new validated fixture document the seed and the current state."""
        with self._lock:
            self._seed = json_copy(seed)
            self._image = None
            self._overlay = False
            self._generation += 1
            self._load(self._seed)
            self._changed()

    def restore(self, document: dict[str, Any]) -> None:
        """Make a validated fixture document the current state; the seed stays (``reset()`` still
        goes back to it). Used to resume from a saved state file."""
        with self._lock:
            self._overlay = False
            self._load(json_copy(document))
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    @property
    def generation(self) -> int:
        """How many times ``replace`` has changed the seed; forks remember the one they came from."""
        return self._generation

    def fork(self) -> Store:
        """A new store at this store's *seed* (not its current state), sharing the seed's parsed
        records copy-on-write: it costs memory only for the users it changes. ``reset()`` takes it
        back to the seed; the two stores never see each other's writes."""
        with self._lock:
            image = self._seed_image()
            generation = self._generation
        store = Store.__new__(Store)
        store._lock = threading.RLock()
        store._clock = self._clock
        store._seed = image.seed
        store._image = image
        store._overlay = True
        store._generation = generation
        store._load_overlay(image)
        return store

    def _seed_image(self) -> _SeedImage:
        with self._lock:
            if self._image is None:
                self._image = _SeedImage(self._seed)
            return self._image

    def changed_records(self) -> int | None:
        """For a fork, how many users and index entries it holds itself (its memory beyond the
        shared seed); None for a store that owns all of its state."""
        if not self._overlay:
            return None
        with self._lock:
            return sum(
                mapping.changed()
                for customer in self._customers.values()
                for mapping in (customer.users, customer.emails, customer.delegators, customer.search_keys)
            )

    def seed_document(self) -> dict[str, Any]:
        """The seed this store resets to, as a fixture document (a copy)."""
        with self._lock:
            return json_copy(self._seed)

    def snapshot(self) -> dict[str, Any]:
        """The current state as a fixture document (loads back into an equal store)."""
        with self._lock:
            return json_copy(self.state_view())

    def state_view(self) -> dict[str, Any]:
        """The current state as a fixture document that shares the store's records instead of
        copying them, for a caller that only serialises it (:mod:`mockserver.persistence`, outside
        the lock). Safe because no write edits a record in place: each builds a new one."""
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

    def _customer(self, customer_id: str) -> _Customer:
        try:
            return self._customers[customer_id]
        except KeyError:
            raise NotFound(f"customer {customer_id} does not exist") from None

    def _user(self, customer: _Customer, user_id: str) -> dict:
        try:
            return customer.users[user_id]
        except KeyError:
            raise NotFound(f"user {user_id} does not exist in customer {customer.id}") from None

    # -- reads -------------------------------------------------------------------------------

    def list_users(self, customer_id: str, search: str | None = None) -> list[dict[str, Any]]:
        """Users in ascending ``_id`` order; each whitespace-separated term of ``search`` must
        match (case-insensitive substring) the first name, last name, nickname or email."""
        terms = (search or "").casefold().split()
        with self._lock:
            customer = self._customer(customer_id)
            if terms:
                ids: Iterable[str] = customer.search(terms)
            else:
                ids = customer.users
            return [self._render(customer, customer.users[uid]) for uid in ids]

    def get_user(self, customer_id: str, user_id: str) -> dict[str, Any]:
        with self._lock:
            customer = self._customer(customer_id)
            return self._render(customer, self._user(customer, user_id))

    def identity(self, customer_id: str, user_id: str | None) -> dict[str, Any]:
        """The first external identity of ``user_id`` within the customer."""
        with self._lock:
            customer = self._customer(customer_id)
            if user_id is None:
                raise NotFound("this token is not bound to a user, so there is no identity to look up")
            user = self._user(customer, user_id)
            identities = user.get("identities") or []
            if not identities:
                raise NotFound(f"user {user_id} has no external identity")
            return {**identities[0], "customerId": customer.id}

    # -- writes ------------------------------------------------------------------------------

    def update_user(self, customer_id: str, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply ``changes`` (already schema-valid) whole, or raise and change nothing."""
        unknown = set(changes) - UPDATABLE_FIELDS
        if unknown:
            raise Unprocessable(f"field {sorted(unknown)[0]!r} cannot be updated")
        with self._lock:
            customer = self._customer(customer_id)
            user = self._user(customer, user_id)
            self._check_update(customer, user, changes)

            if "email" in changes:
                del customer.emails[user["email"].casefold()]
                customer.emails[changes["email"].casefold()] = user_id
            if "delegateIds" in changes:
                for old in user.get("delegateIds") or ():
                    _without(customer.delegators, old, user_id)
                for new in changes["delegateIds"]:
                    _with(customer.delegators, new, user_id)
            # A new dict, never an edit in place: a fork shares the seed's user dicts.
            user = dict(user)
            for field, value in changes.items():
                user[field] = list(dict.fromkeys(value)) if field in ("roleIds", "delegateIds") else value
            user["updatedAt"] = self._next_timestamp(user["updatedAt"])
            customer.users[user_id] = user
            customer.set_search_key(user_id, _search_key(user))
            self._changed()
            return self._render(customer, user)

    def _check_update(self, customer: _Customer, user: dict, changes: dict[str, Any]) -> None:
        if "email" in changes:
            owner = customer.emails.get(changes["email"].casefold())
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
        """Now (to the millisecond), or 1 ms after ``previous`` if the clock has not moved past
        it: ``updatedAt`` always moves forward."""
        now = self._clock().astimezone(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        moment = max(now, parse_timestamp(previous) + timedelta(milliseconds=1))
        # Always with milliseconds, also when they are .000: one user's updatedAt strings then sort
        # as their times do ("...:04Z" sorts after "...:04.521Z").
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def delete_user(self, customer_id: str, user_id: str) -> dict[str, Any]:
        """Remove the user and every delegation to or from it; return the user as it was."""
        with self._lock:
            customer = self._customer(customer_id)
            user = self._user(customer, user_id)
            before = self._render(customer, user)
            for delegator_id in customer.delegators.pop(user_id, set()):
                delegator = customer.users.get(delegator_id)
                if delegator is not None:
                    customer.users[delegator_id] = {
                        **delegator,
                        "delegateIds": [d for d in delegator["delegateIds"] if d != user_id],
                    }
            for delegate_id in user.get("delegateIds") or ():
                _without(customer.delegators, delegate_id, user_id)
            del customer.users[user_id]
            del customer.emails[user["email"].casefold()]
            customer.set_search_key(user_id, None)
            self._changed()
            return before

    # -- rendering ---------------------------------------------------------------------------

    def _render(self, customer: _Customer, user: dict) -> dict[str, Any]:
        """The API's User representation: documented fields plus the richer relation fields.

        Everything returned is a fresh object the caller may change (built here rather than with
        ``copy.deepcopy``, which cost as much as the rest of a GET)."""
        view = {key: _copied(value) for key, value in user.items() if key not in RELATION_FIELDS}
        customer_id = customer.id
        view["identities"] = [{**identity, "customerId": customer_id} for identity in user.get("identities") or ()]
        roles = customer.roles
        view["roles"] = [_copied_role(roles[role_id]) for role_id in user.get("roleIds") or () if role_id in roles]
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


def _copied(value: Any) -> Any:
    """Strings, numbers and booleans as they are; lists of ids copied; anything nested deep-copied."""
    if isinstance(value, list):
        return [copy.deepcopy(item) if isinstance(item, (dict, list)) else item for item in value]
    if isinstance(value, dict):
        return copy.deepcopy(value)
    return value


def _copied_role(role: dict[str, Any]) -> dict[str, Any]:
    if "permissions" not in role:
        return dict(role)
    return {**role, "permissions": [dict(permission) for permission in role["permissions"]]}
