"""How :mod:`mockserver.store.memory` keeps one customer: compact user records and the indexes over them.

Standard library and orjson only, no HTTP, no lock (the store holds its lock around every use).

- A user is kept as its compact JSON (``bytes``, about a tenth of the memory of the parsed 19-key
  dict with its strings and lists) and decoded on demand: :class:`PackedUsers` is the mapping of
  user id to user dict the store works with, encoding on write and decoding on read.
- :class:`CowDict` is the copy-on-write mapping that lets a fork, or a store after ``reset()``,
  share a parsed seed and hold only what it changed.
- :class:`SearchText` answers a search with one ``str.find`` over a customer's search keys.

Every string kept here for a user (ids, emails, search keys) is a new object, not one of the
parsed document's: a kept string would keep the memory of everything parsed around it (the
allocator frees memory by whole arenas), and the parsed seed is dropped once it is indexed.
"""

from __future__ import annotations

import bisect
import threading
from array import array
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import orjson

from mockserver.spec.rules import SEARCH_FIELDS, email_key, search_key  # noqa: F401  (the rules, re-exported)
from mockserver.store.render import RenderedAnswers, encode, render_user


def fresh(text: str) -> str:
    """An equal string that is a new object (see the module's note on memory)."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")


class CowDict(MutableMapping):
    """A mapping over a shared ``base`` dict that is never written: writes land in ``own``,
    deletions in ``gone``. Iterates in the base's order (users stay in ``_id`` order), then the
    keys only this mapping has."""

    __slots__ = ("base", "own", "gone")

    def __init__(self, base: dict):
        self.base = base
        self.own: dict = {}
        self.gone: set = set()

    def __getitem__(self, key):
        try:
            return self.own[key]
        except KeyError:
            if key in self.gone:
                raise KeyError(key) from None
            return self.base[key]

    def get(self, key, default=None):
        value = self.own.get(key)
        if value is not None:
            return value
        if key in self.gone:
            return default
        return self.base.get(key, default)

    def __contains__(self, key) -> bool:
        return key in self.own or (key not in self.gone and key in self.base)

    def __setitem__(self, key, value) -> None:
        self.own[key] = value
        self.gone.discard(key)

    def __delitem__(self, key) -> None:
        if key not in self:
            raise KeyError(key)
        self.own.pop(key, None)
        if key in self.base:
            self.gone.add(key)

    def __iter__(self) -> Iterator:
        gone, own, base = self.gone, self.own, self.base
        if not gone and not own:
            yield from base
            return
        for key in base:
            if key not in gone:
                yield key
        for key in own:
            if key not in base:
                yield key

    def __len__(self) -> int:
        return len(self.base) - len(self.gone) + sum(1 for key in self.own if key not in self.base)

    def changed(self) -> int:
        """How many entries this mapping holds itself (changed, added or deleted)."""
        return len(self.own) + len(self.gone - self.own.keys())


class Shapes:
    """The field names of packed users, each distinct tuple once: a record keeps the number of its
    tuple instead of the names (a third of a user's JSON). Append-only, so a customer shares its
    table with its overlays; the lock keeps two stores from numbering a new tuple twice."""

    __slots__ = ("names", "numbers", "lock")

    def __init__(self) -> None:
        self.names: list[tuple[str, ...]] = []
        self.numbers: dict[tuple[str, ...], int] = {}
        self.lock = threading.Lock()

    def number(self, names: tuple[str, ...]) -> int:
        number = self.numbers.get(names)
        if number is None:
            with self.lock:
                number = self.numbers.get(names)
                if number is None:
                    names = tuple(fresh(name) for name in names)
                    number = len(self.names)
                    self.names.append(names)
                    self.numbers[names] = number
        return number


class PackedUsers(MutableMapping):
    """User id -> user dict, kept as compact JSON: every read decodes a new dict (the caller may
    change it freely), every write encodes one. ``packed`` is the underlying id -> bytes mapping
    (a dict, or a :class:`CowDict` over a seed's); a record is the JSON array of the user's values
    followed by the number of its field names in ``shapes``."""

    __slots__ = ("packed", "shapes")

    def __init__(self, packed: MutableMapping[str, bytes], shapes: Shapes):
        self.packed = packed
        self.shapes = shapes

    def pack(self, user: dict[str, Any]) -> bytes:
        return encode([*user.values(), self.shapes.number(tuple(user))])

    def unpack(self, record: bytes) -> dict[str, Any]:
        values = orjson.loads(record)
        return dict(zip(self.shapes.names[values[-1]], values, strict=False))  # stops before the number

    def __getitem__(self, user_id: str) -> dict[str, Any]:
        return self.unpack(self.packed[user_id])

    def get(self, user_id: str, default: Any = None) -> Any:
        record = self.packed.get(user_id)
        return default if record is None else self.unpack(record)

    def __setitem__(self, user_id: str, user: dict[str, Any]) -> None:
        self.packed[user_id] = self.pack(user)

    def __delitem__(self, user_id: str) -> None:
        del self.packed[user_id]

    def __contains__(self, user_id: object) -> bool:
        return user_id in self.packed

    def __iter__(self) -> Iterator[str]:
        return iter(self.packed)

    def __len__(self) -> int:
        return len(self.packed)


def with_member(index: MutableMapping[str, frozenset[str]], key: str, member: str) -> None:
    """Add ``member`` to the set at ``key`` by replacing the set (sets may be shared with a seed)."""
    current = index.get(key)
    if current is None or member not in current:
        index[key] = (current or frozenset()) | {member}


def without_member(index: MutableMapping[str, frozenset[str]], key: str, member: str) -> None:
    current = index.get(key)
    if current is not None and member in current:
        index[key] = current - {member}


class SearchText:
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
        self.starts = array("q")  # 8 bytes an offset, against 36 for a list of ints
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


class Customer:
    """One customer's state. Users are kept in ascending ``_id`` order (the list order).

    ``rendered`` holds the encoded API answer of users already asked for (see
    :mod:`mockserver.store.render`); it is this customer's own, never shared with a fork."""

    __slots__ = ("id", "full_name", "roles", "groups", "users", "emails", "delegators", "search_keys",
                 "search_text", "rendered", "base")

    def __init__(self, record: dict[str, Any]):
        self.id: str = fresh(record["_id"])
        self.full_name: str = fresh(record["fullName"])
        # Roles and groups are few and never change: copies, so nothing of the document is kept.
        self.roles: dict[str, dict] = {fresh(role["_id"]): orjson.loads(orjson.dumps(role))
                                       for role in record.get("roles", [])}
        self.groups: dict[str, dict] = {fresh(group["_id"]): orjson.loads(orjson.dumps(group))
                                        for group in record.get("groups", [])}
        users = sorted(record.get("users", []), key=lambda u: u["_id"])
        ids = {user["_id"]: fresh(user["_id"]) for user in users}  # the document's id -> the kept one
        self.users = PackedUsers({}, Shapes())
        # One pass over the users for the records and every index (100,000 users at start-up).
        packed, pack = self.users.packed, self.users.pack
        emails: dict[str, str] = {}
        search_keys: dict[str, str] = {}
        delegators: dict[str, set[str]] = {}  # only users somebody delegates to have an entry
        for user in users:
            uid = ids[user["_id"]]
            packed[uid] = pack(user)
            emails[email_key(user["email"])] = uid
            search_keys[uid] = search_key(user)
            for delegate_id in user.get("delegateIds") or ():
                delegators.setdefault(ids[delegate_id], set()).add(uid)
        self.emails: MutableMapping[str, str] = emails
        self.search_keys: MutableMapping[str, str] = search_keys
        self.delegators: MutableMapping[str, frozenset[str]] = {
            uid: frozenset(members) for uid, members in delegators.items()}
        self.search_text: SearchText | None = None
        self.rendered = RenderedAnswers()
        self.base: Customer | None = None  # an overlay's base, while nothing was written

    @classmethod
    def overlay(cls, base: Customer, answer_budget: int) -> Customer:
        """A customer that reads ``base`` and writes only its own changes (roles and groups never
        change, so they are shared as they are); it keeps up to ``answer_budget`` bytes of answers."""
        customer = cls.__new__(cls)
        customer.id, customer.full_name = base.id, base.full_name
        customer.roles, customer.groups = base.roles, base.groups
        customer.users = PackedUsers(CowDict(base.users.packed), base.users.shapes)
        customer.emails = CowDict(base.emails)
        customer.delegators = CowDict(base.delegators)
        customer.search_keys = CowDict(base.search_keys)
        customer.search_text = None
        customer.rendered = RenderedAnswers(answer_budget)
        customer.base = base  # until the first write, searches use (and build) the base's search text
        return customer

    # -- the kept answers: which a write changes is decided here, beside the indexes it reads ---------

    def answer(self, user_id: str) -> bytes:
        """The user's encoded answer, kept or rendered now (and kept). The user must exist."""
        answer = self.rendered.get(user_id)
        if answer is None:
            answer = encode(render_user(self, self.users[user_id]))
            self.rendered.put(user_id, answer)
        return answer

    def forget_answers(self, user: dict[str, Any], changes: dict[str, Any] | None = None) -> None:
        """Drop the kept answers that a write of ``changes`` to ``user`` (None: deleting it) changes: the
        user's, those of the users it delegates to before and after (they list it as a delegator, with
        its names and identities) and those of the users who delegate to it (they list its names).
        Call before the write is applied."""
        user_id = user["_id"]
        touched = {user_id, *(user.get("delegateIds") or ()), *(changes or {}).get("delegateIds", ())}
        touched.update(self.delegators.get(user_id, ()))
        self.rendered.drop(touched)

    def changed(self) -> int:
        """For an overlay, how many users and index entries it holds itself."""
        mappings = (self.users.packed, self.emails, self.delegators, self.search_keys)
        return sum(m.changed() for m in mappings if isinstance(m, CowDict))

    def set_search_key(self, user_id: str, key: str | None) -> None:
        """Change (None: remove) a user's search key; the customer's search text is rebuilt on the
        next search."""
        if key is None:
            del self.search_keys[user_id]
        else:
            self.search_keys[user_id] = key
        self.search_text = None
        self.base = None

    def search(self, terms: list[str]) -> list[str]:
        """Ids of the users whose search key contains every term, in the users' order."""
        if self.base is not None:
            return self.base.search(terms)
        if self.search_text is None:
            self.search_text = SearchText(self.search_keys)
        return self.search_text.find(terms)

    def record(self) -> dict[str, Any]:
        """The customer as a fixture record (users decoded: new objects; roles and groups shared)."""
        return {
            "_id": self.id,
            "fullName": self.full_name,
            "roles": list(self.roles.values()),
            "groups": list(self.groups.values()),
            "users": list(self.users.values()),
        }
