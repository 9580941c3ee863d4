"""The state on Redis: every replica of a fake (``--workers N``, or pods behind a load balancer) reads
and writes one shared state. Implements :class:`mockserver.store.backend.StoreBackend`; the key
layout and the scripts are in :mod:`mockserver.store.redis_scripts`.

Atomic writes: Lua scripts, used as compare-and-set. A PATCH or DELETE reads what it needs (one
script, one round trip), works out the new records in Python (the same rules and messages as the
in-memory store), and commits with one script that first checks its preconditions (the records it
read are unchanged, the new email is free or already the user's, the roles and delegates exist)
and then applies every change, or changes nothing and says why. A commit that lost a race (a record
changed since it was read) is retried from the read. Why Lua rather than ``MULTI``/``WATCH``: the
uniqueness check and the write happen in one server-side step (no window between them for another
replica), a commit is one round trip instead of four (WATCH, reads, MULTI, EXEC), and a connection
is never pinned to a transaction, so the pool stays small. Why the logic stays in Python: the
records are kept byte for byte as the in-memory store keeps them (Lua's cjson would reorder keys
and turn ``[]`` into ``{}``), and the rules have one spelling.

Whole-state writes (the first seed, ``reset``, ``replace``, ``restore``, a new session) write a
complete new *generation* under a fresh key prefix, then switch the namespace's ``gen`` pointer to
it in one script: readers see the old state or the new one, never a half-loaded one, and a write
that read the old generation is retried on the new one. ``--seed`` seeds a namespace only while it
has no state (the first replica to start wins; the others join), so N replicas seed once.

A Redis that cannot be reached (down, restarting, timing out) is :class:`StoreUnavailable`: a 503
problem with ``Retry-After``; the client's pool reconnects by itself on the next request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from mockserver.store import redis_scripts as scripts
from mockserver.store.backend import (
    Conflict,
    NotFound,
    Principal,
    StoreBackend,
    StoreError,
    StoreUnavailable,
    Unprocessable,
)
from mockserver.store.index import search_key
from mockserver.store.memory import UPDATABLE_FIELDS, Store, json_copy, next_timestamp, token_digest
from mockserver.store.render import encode, render_user

RETRIES = 100  # commits lost to concurrent writers before giving up (each loss means another write won)
DEFAULT_NAMESPACE = "default"


def connect(url: str, *, timeout: float = 2.0) -> redis.Redis:
    """A client for ``redis://`` or ``rediss://`` URLs (TLS options as query parameters, e.g.
    ``?ssl_ca_certs=/etc/ca.pem``). Short timeouts: a replica whose Redis is gone answers 503 soon
    rather than holding requests. Raises ValueError for a URL that is not one."""
    if not url.lower().startswith(("redis://", "rediss://", "unix://")):
        scheme = url.partition("://")[0][:20] if "://" in url else url[:0]  # never the rest: it may hold a password
        raise ValueError(f"--state {scheme + '://...' if scheme else 'URL'} is not a redis:// or rediss:// URL")
    # One retry after a short pause (a dropped pooled connection, a failover), not redis-py's ten:
    # a request waits at most about two timeouts before its 503.
    retry = Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=1)
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                health_check_interval=10, retry=retry)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _View:
    """The parts of :class:`mockserver.store.index.Customer` that :func:`render_user` reads, from a bundle."""

    __slots__ = ("id", "full_name", "roles", "users", "delegators")

    def __init__(self, meta: dict[str, Any], users: dict[str, dict], delegators: dict[str, list[str]]):
        self.id, self.full_name = meta["_id"], meta["fullName"]
        self.roles = {role["_id"]: role for role in meta.get("roles", [])}
        self.users, self.delegators = users, delegators


@contextmanager
def _reachable() -> Iterator[None]:
    """Redis errors that mean "not reachable now" as :class:`StoreUnavailable` (the one translation)."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.BusyLoadingError,
            redis.exceptions.TryAgainError) as err:
        raise StoreUnavailable(f"the shared state (Redis) is not reachable: {type(err).__name__}; "
                               "retry shortly") from None
    except redis.exceptions.ResponseError as err:
        if "LOADING" in str(err) or "MASTERDOWN" in str(err):
            raise StoreUnavailable("the shared state (Redis) is loading; retry shortly") from None
        raise


class RedisStore:
    """The store on Redis, under ``mockserver:<namespace>:``. ``seed``: the fixture document used
    only if the namespace holds no state yet. Thread-safe (a redis-py client is)."""

    on_change: Callable[[Any], None] | None = None  # --state-file does not apply: Redis keeps the state

    def __init__(self, client: redis.Redis, seed: dict[str, Any] | None = None, *,
                 namespace: str = DEFAULT_NAMESPACE, clock: Callable[[], datetime] = _utcnow,
                 _prefix: str | None = None, _fork_of: RedisStore | None = None):
        self.client = client
        self.namespace = namespace
        self.prefix = _prefix or f"mockserver:{namespace}:"
        self._clock = clock
        self._fork_of = _fork_of
        self._fork_version: int | None = None
        self._metas: dict[tuple[str, str], dict[str, Any]] = {}
        self._seed_bytes = orjson.dumps(seed) if seed is not None else None  # to seed again after a loss
        self._scripts = {name: client.register_script(getattr(scripts, name))
                         for name in ("GET_USER", "LIST_USERS", "PRINCIPAL", "STATE", "COMMIT", "SWITCH")}
        if seed is not None:
            self.seed_once(seed)

    @property
    def shared(self):
        """The scenario rules and the journal, shared by every replica (mockserver.store.redis_shared)."""
        from mockserver.store.redis_shared import Shared

        return Shared(self.client, self.prefix, _reachable)

    def _run(self, name: str, *args: Any) -> Any:
        with _reachable():
            reply = self._scripts[name](args=[self.prefix, *args])
            if name in ("GET_USER", "LIST_USERS", "PRINCIPAL", "STATE") and reply[0] is None and self._heal():
                reply = self._scripts[name](args=[self.prefix, *args])
            return reply

    def _heal(self) -> bool:
        """The namespace holds no state (a Redis restarted without persistence, a session dropped by
        another replica): seed it again, from this replica's seed or the fake's. True if done."""
        if self._fork_of is not None:
            self._switch(self._fork_of._seed(), version=str(self._fork_version or 0), mode="fork")
            return True
        if self._seed_bytes is not None:
            self.seed_once(orjson.loads(self._seed_bytes))
            return True
        return False

    # -- whole generations -----------------------------------------------------------------

    def seed_once(self, seed: dict[str, Any]) -> bool:
        """Make ``seed`` the namespace's seed and state if it has none; True if this call did it."""
        with _reachable():
            if self.client.exists(self.prefix + "gen"):
                return False
            generation = self._write_generation(seed)
            if self._run("SWITCH", generation, "init", orjson.dumps(seed), ""):
                return True
            self._drop_generation(generation)  # another replica seeded first: join it
            return False

    def _write_generation(self, document: dict[str, Any]) -> str:
        return scripts.write_generation(self.client, self.prefix, document)

    def _drop_generation(self, generation: str | bytes | None) -> None:
        scripts.drop_generation(self.client, self.prefix, generation)

    def _switch(self, document: dict[str, Any], *, seed: dict[str, Any] | None = None, version: str = "",
                mode: str = "set") -> None:
        with _reachable():
            generation = self._write_generation(document)
            old = self._run("SWITCH", generation, mode, orjson.dumps(seed) if seed is not None else b"", version)
            if old == 0:
                self._drop_generation(generation)
            else:
                self._drop_generation(old)

    def _seed(self) -> dict[str, Any]:
        if self._fork_of is not None:
            return self._fork_of._seed()  # a session resets to its fake's seed
        with _reachable():
            raw = self.client.get(self.prefix + "seed")
        if raw is None:
            raise StoreUnavailable("the shared state (Redis) holds no seed for this fake; restart a replica "
                                   "to seed it again")
        return orjson.loads(raw)

    def reset(self) -> None:
        self._switch(self._seed())

    def replace(self, seed: dict[str, Any]) -> None:
        self._switch(seed, seed=seed, version="+")

    def restore(self, document: dict[str, Any]) -> None:
        self._switch(document)

    def seed_document(self) -> dict[str, Any]:
        return self._seed()

    @property
    def generation(self) -> int:
        if self._fork_of is not None:
            return self._fork_version or 0
        with _reachable():
            return int(self.client.get(self.prefix + "seedver") or 0)

    def fork(self, name: str | None = None) -> StoreBackend:
        """The session ``name``'s state, shared by every replica: joined if it exists at this
        seed, made from the seed otherwise. Without a name, a private in-memory fork at the seed."""
        if name is None:
            return Store(self._seed(), clock=self._clock)
        store = RedisStore(self.client, namespace=self.namespace, clock=self._clock,
                           _prefix=f"{self.prefix}s:{name}:", _fork_of=self)
        version = str(self.generation)
        with _reachable():
            current = self.client.get(store.prefix + "seedver")
            if current is None or current.decode() != version or not self.client.exists(store.prefix + "gen"):
                store._switch(self._seed(), version=version, mode="fork")
        store._fork_version = int(version)
        return store

    def drop_fork(self, name: str | None = None) -> bool:
        """Remove a session's shared state (every session's with ``name`` None); True if there was one."""
        pattern = f"{self.prefix}s:{name}:*" if name is not None else f"{self.prefix}s:*"
        with _reachable():
            keys = list(self.client.scan_iter(match=pattern, count=1000))
            for i in range(0, len(keys), 1000):
                self.client.unlink(*keys[i:i + 1000])
        return bool(keys)

    def changed_records(self) -> int | None:
        if self._fork_of is None:
            return None
        with _reachable():
            generation = self.client.get(self.prefix + "gen")
            return self.client.scard(f"{self.prefix}{generation.decode()}:changed") if generation else 0

    # -- state as documents -----------------------------------------------------------------

    def _state(self, records: bool) -> list[Any]:
        reply = self._run("STATE", "1" if records else "0")
        if reply[0] is None:
            raise StoreUnavailable("the shared state (Redis) holds no state for this fake; restart a replica "
                                   "to seed it again")
        return reply

    def state_view(self) -> dict[str, Any]:
        reply = self._state(records=True)
        tokens = orjson.loads(reply[2])
        customers, users_of = [], {}
        for meta, _count, records in reply[3:]:
            customer = orjson.loads(meta)
            customer["users"] = [orjson.loads(record) for record in records]
            users_of[customer["_id"]] = {user["_id"] for user in customer["users"]}
            customers.append(customer)
        kept = []
        for token in tokens:
            uid = token.get("userId")
            if uid is not None and not any(uid in users_of.get(c, ()) for c in token["customerIds"]):
                token = {key: value for key, value in token.items() if key != "userId"}
            kept.append(token)
        return {"customers": customers, "tokens": kept}

    def snapshot(self) -> dict[str, Any]:
        return self.state_view()

    def tokens(self) -> list[dict[str, Any]]:
        return orjson.loads(self._state(records=False)[2])

    def customers(self) -> list[dict[str, Any]]:
        out = []
        for meta, count, *_ in self._state(records=False)[3:]:
            customer = orjson.loads(meta)
            out.append({"_id": customer["_id"], "fullName": customer["fullName"], "users": count})
        return out

    def has_customer(self, customer_id: str) -> bool:
        return any(c["_id"] == customer_id for c in self.customers())

    def principal(self, token: str) -> Principal | None:
        reply = self._run("PRINCIPAL", token_digest(token).hex())
        if reply[0] is None or reply[1] is None:
            return None
        found = orjson.loads(reply[1])
        return Principal(frozenset(found["c"]), found.get("u"))

    # -- reads -------------------------------------------------------------------------------

    def _meta(self, generation: bytes, customer_id: str) -> dict[str, Any]:
        key = (generation.decode(), customer_id)
        meta = self._metas.get(key)
        if meta is None:
            with _reachable():
                raw = self.client.get(f"{self.prefix}{key[0]}:c:{customer_id}:meta")
            if raw is None:  # the generation was replaced since: the caller's read was of it still
                raise StoreUnavailable("the shared state changed while it was read; retry")
            if len(self._metas) > 256:
                self._metas.clear()
            meta = self._metas[key] = orjson.loads(raw)
        return meta

    def _found(self, reply: list[Any], customer_id: str, user_id: str | None = None) -> None:
        if reply[0] is None:
            raise StoreUnavailable("the shared state (Redis) holds no state for this fake; restart a replica "
                                   "to seed it again")
        if reply[1] == 0:
            raise NotFound(f"customer {customer_id} does not exist")
        if reply[1] == 1:
            raise NotFound(f"user {user_id} does not exist in customer {customer_id}")

    def _rendered(self, generation: bytes, customer_id: str, ids: list[bytes], bundle: list[Any]) -> list[bytes]:
        records, dgs, related, related_records = bundle
        users = {uid.decode(): orjson.loads(rec) for uid, rec in zip(ids, records, strict=True) if rec is not None}
        users.update((uid.decode(), orjson.loads(rec)) for uid, rec in zip(related, related_records, strict=True)
                     if rec is not None)
        delegators = {uid.decode(): [d.decode() for d in dg] for uid, dg in zip(ids, dgs, strict=True)}
        view = _View(self._meta(generation, customer_id), users, delegators)
        return [encode(render_user(view, users[uid.decode()])) for uid in ids]

    def get_user_json(self, customer_id: str, user_id: str) -> bytes:
        reply = self._run("GET_USER", customer_id, user_id)
        self._found(reply, customer_id, user_id)
        return self._rendered(reply[0], customer_id, [user_id.encode()], reply[2])[0]

    def get_user(self, customer_id: str, user_id: str) -> dict[str, Any]:
        return orjson.loads(self.get_user_json(customer_id, user_id))

    def list_users_json(self, customer_id: str, search: str | None = None) -> bytes:
        terms = (search or "").casefold().split()
        reply = self._run("LIST_USERS", customer_id, *terms)
        self._found(reply, customer_id)
        return b"[" + b",".join(self._rendered(reply[0], customer_id, reply[2], reply[3])) + b"]"

    def list_users(self, customer_id: str, search: str | None = None) -> list[dict[str, Any]]:
        return orjson.loads(self.list_users_json(customer_id, search))

    def identity(self, customer_id: str, user_id: str | None) -> dict[str, Any]:
        if user_id is None:
            reply = self._run("LIST_USERS", customer_id, "\x00")  # matches nobody: only the customer check
            self._found(reply, customer_id)
            raise NotFound("this token is not bound to a user, so there is no identity to look up")
        reply = self._run("GET_USER", customer_id, user_id)
        self._found(reply, customer_id, user_id)
        user = orjson.loads(reply[2][0][0])
        identities = user.get("identities") or []
        if not identities:
            raise NotFound(f"user {user_id} has no external identity")
        return {**identities[0], "customerId": customer_id}

    # -- writes ------------------------------------------------------------------------------

    def _commit(self, generation: bytes, customer_id: str, checks: list[tuple], failures: list[Callable],
                ops: list[tuple], answer: str) -> list[Any] | None:
        """Run COMMIT; None: lost a race (read again). ``failures[i](holder)`` builds check i's error."""
        args: list[Any] = [generation, customer_id, len(checks)]
        for check in checks:
            args.extend(check)
        args.append(len(ops))
        for op in ops:
            args.extend(op)
        args.append(answer)
        reply = self._run("COMMIT", *args)
        status = reply[0]
        if status in (b"stale", b"retry"):
            return None
        if status == b"fail":
            raise failures[reply[1] - 1](reply[2].decode() if len(reply) > 2 and reply[2] is not None else None)
        return reply

    def update_user_json(self, customer_id: str, user_id: str, changes: dict[str, Any]) -> bytes:
        unknown = set(changes) - UPDATABLE_FIELDS
        if unknown:
            raise Unprocessable(f"field {sorted(unknown)[0]!r} cannot be updated")
        for _ in range(RETRIES):
            reply = self._run("GET_USER", customer_id, user_id)
            self._found(reply, customer_id, user_id)
            generation, raw = reply[0], reply[2][0][0]
            user = orjson.loads(raw)
            checks: list[tuple] = [("eq", "u", user_id, raw)]
            failures: list[Callable] = [None]  # type: ignore[list-item]  (eq never fails: it retries)
            if "email" in changes:
                checks.append(("owner", "emails", changes["email"].casefold(), user_id))
                failures.append(lambda holder, email=changes["email"]: Conflict(
                    f"email {email!r} is already used by user {holder}"))
            for role_id in changes.get("roleIds", ()):
                checks.append(("has", "roles", role_id, ""))
                failures.append(lambda _h, r=role_id: Unprocessable(f"roleIds: {r} is not a role of customer {customer_id}"))
            for delegate_id in changes.get("delegateIds", ()):
                if delegate_id == user_id:
                    checks.append(("fail", "u", delegate_id, ""))
                    failures.append(lambda _h, d=delegate_id: Unprocessable(
                        f"delegateIds: {d} is the user itself; a user cannot delegate to itself"))
                else:
                    checks.append(("has", "u", delegate_id, ""))
                    failures.append(lambda _h, d=delegate_id: Unprocessable(
                        f"delegateIds: {d} is not a user of customer {customer_id}"))
            ops: list[tuple] = []
            if "email" in changes:
                ops.append(("hdel", "emails", user["email"].casefold(), ""))
                ops.append(("hset", "emails", changes["email"].casefold(), user_id))
            if "delegateIds" in changes:
                ops += [("srem", f"dg:{old}", user_id, "") for old in user.get("delegateIds") or ()]
                ops += [("sadd", f"dg:{new}", user_id, "") for new in changes["delegateIds"]]
            for field, value in changes.items():
                user[field] = list(dict.fromkeys(value)) if field in ("roleIds", "delegateIds") else value
            user["updatedAt"] = next_timestamp(self._clock(), user["updatedAt"])
            ops.append(("hset", "u", user_id, orjson.dumps(user)))
            ops.append(("hset", "search", user_id, search_key(user)))
            ops.append(("sadd", "/changed", user_id, ""))
            done = self._commit(generation, customer_id, checks, failures, ops, user_id)
            if done is not None:
                return self._rendered(generation, customer_id, [user_id.encode()], done[1])[0]
        raise StoreUnavailable("too many concurrent writes to this user; retry")

    def update_user(self, customer_id: str, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return orjson.loads(self.update_user_json(customer_id, user_id, changes))

    def delete_user_json(self, customer_id: str, user_id: str) -> bytes:
        for _ in range(RETRIES):
            reply = self._run("GET_USER", customer_id, user_id)
            self._found(reply, customer_id, user_id)
            generation, bundle = reply[0], reply[2]
            before = self._rendered(generation, customer_id, [user_id.encode()], bundle)[0]
            raw = bundle[0][0]
            user = orjson.loads(raw)
            related = {uid.decode(): rec for uid, rec in zip(bundle[2], bundle[3], strict=True)}
            checks: list[tuple] = [("eq", "u", user_id, raw)]
            ops: list[tuple] = []
            for delegator_id in sorted(d.decode() for d in bundle[1][0]):
                old = related.get(delegator_id)
                if old is None:
                    continue
                checks.append(("eq", "u", delegator_id, old))
                delegator = orjson.loads(old)
                delegator["delegateIds"] = [d for d in delegator["delegateIds"] if d != user_id]
                ops.append(("hset", "u", delegator_id, orjson.dumps(delegator)))
                ops.append(("sadd", "/changed", delegator_id, ""))
            ops += [("srem", f"dg:{d}", user_id, "") for d in user.get("delegateIds") or ()]
            ops += [("del", f"dg:{user_id}", "", ""), ("hdel", "u", user_id, ""), ("zrem", "ids", user_id, ""),
                    ("hdel", "emails", user["email"].casefold(), ""), ("hdel", "search", user_id, ""),
                    ("sadd", "/changed", user_id, "")]
            if self._commit(generation, customer_id, checks, [None] * len(checks), ops, "") is not None:
                return before
        raise StoreUnavailable("too many concurrent writes to this user; retry")

    def delete_user(self, customer_id: str, user_id: str) -> dict[str, Any]:
        return orjson.loads(self.delete_user_json(customer_id, user_id))


def open_store(url: str, seed: dict[str, Any], *, namespace: str = DEFAULT_NAMESPACE) -> RedisStore:
    """The CLI's entry: connect, check Redis answers (StoreUnavailable if not), seed if empty."""
    client = connect(url)
    with _reachable():
        client.ping()
    return RedisStore(client, json_copy(seed), namespace=namespace)


__all__ = ["DEFAULT_NAMESPACE", "RedisStore", "StoreError", "connect", "open_store"]
