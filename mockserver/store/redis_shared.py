"""Server state beyond the users, shared through the same Redis as :mod:`mockserver.store.redis_backend`:
the scenario rules with their remaining uses (:class:`RedisRules`, for
:class:`mockserver.features.scenarios.Scenarios`) and the request journal as a capped stream
(:class:`RedisJournal`, for :class:`mockserver.features.journal.Journal`), and the chaos settings
(:class:`RedisChaos`, for :class:`mockserver.features.chaos_control.ChaosControl`) and the coverage
counters (:class:`RedisCoverage`, for :class:`mockserver.features.coverage_live.CoverageCounters`). The features keep their
rules and wording; these only hold the data, so every replica adds, uses up and lists the same rules
and sees every replica's requests.

Keys, under the fake's prefix ``P``: ``rules`` (hash: id -> rule as JSON, in the admin API's shape),
``rules:order`` (sorted set: ids by id), ``rules:seq`` (the last id); ``journal`` (stream, capped near
its size), ``journal:seq`` (the last entry id). Using a rule up is one script (match, count, remove at
zero), so a rule for "the next 2 answers" is used exactly twice whichever replicas the requests reach.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import redis

from mockserver.spec.coverage import MAX_TALLY_KEYS, OTHER_PATH

log = logging.getLogger("mockserver")

# ARGV: prefix, operation id, user id ('' for none), session ('' for none) -> the rule used (JSON) or false
TAKE = """
local P, op, user, session = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ids = redis.call('ZRANGE', P .. 'rules:order', 0, -1)
for i = 1, #ids do
  local raw = redis.call('HGET', P .. 'rules', ids[i])
  if raw then
    local rule = cjson.decode(raw)
    local rs = rule['session']
    if rs == cjson.null then rs = '' end
    local ru = rule['userId']
    if rule['operationId'] == op and rs == session and (ru == cjson.null or ru == user) then
      rule['used'] = rule['used'] + 1
      if rule['remaining'] ~= cjson.null then
        rule['remaining'] = rule['remaining'] - 1
        if rule['remaining'] <= 0 then
          redis.call('HDEL', P .. 'rules', ids[i])
          redis.call('ZREM', P .. 'rules:order', ids[i])
          return cjson.encode(rule)
        end
      end
      local encoded = cjson.encode(rule)
      redis.call('HSET', P .. 'rules', ids[i], encoded)
      return encoded
    end
  end
end
return false
"""

# ARGV: prefix, rule JSON without its id, max rules -> the rule with its id (JSON), or false when full
ADD = """
local P = ARGV[1]
if redis.call('HLEN', P .. 'rules') >= tonumber(ARGV[3]) then return false end
local id = redis.call('INCR', P .. 'rules:seq')
local rule = cjson.decode(ARGV[2])
rule['id'] = id
local encoded = cjson.encode(rule)
redis.call('HSET', P .. 'rules', id, encoded)
redis.call('ZADD', P .. 'rules:order', id, id)
return encoded
"""

# ARGV: prefix, entry JSON, size
RECORD = """
local id = redis.call('INCR', ARGV[1] .. 'journal:seq')
redis.call('XADD', ARGV[1] .. 'journal', 'MAXLEN', '~', ARGV[3], '*', 'id', id, 'e', ARGV[2])
return id
"""

# KEYS: all traffic's hash, the session's (optional). ARGV: field, the folded field, max keys (all), max keys
# (session), session expiry. A hash at its cap counts a new field under the folded one (as a Tally does).
COUNT = """
for i = 1, #KEYS do
  local field = ARGV[1]
  local cap = tonumber(ARGV[2 + i])
  if redis.call('HEXISTS', KEYS[i], field) == 0 and redis.call('HLEN', KEYS[i]) >= cap then field = ARGV[2] end
  redis.call('HINCRBY', KEYS[i], field, 1)
  if i == 2 then redis.call('EXPIRE', KEYS[i], ARGV[5]) end
end
"""
SESSION_MAX_KEYS = 256  # as mockserver.features.coverage_live counts per session

FIELD_ORDER = ("id", "operationId", "status", "remaining", "used", "userId", "delayMs", "session")


def _rule(raw: bytes) -> dict[str, Any]:
    rule = orjson.loads(raw)
    return {key: rule.get(key) for key in FIELD_ORDER}  # cjson does not keep the order


class RedisRules:
    """The scenario rules of one fake, as the admin API renders them. Errors reach the caller
    (as :class:`mockserver.store.backend.StoreUnavailable` through the store's translation)."""

    def __init__(self, client: redis.Redis, prefix: str, reachable):
        self.client, self.prefix, self.reachable = client, prefix, reachable
        self._take = client.register_script(TAKE)
        self._add = client.register_script(ADD)

    def __bool__(self) -> bool:
        with self.reachable():
            return bool(self.client.exists(self.prefix + "rules"))

    def add(self, rule: dict[str, Any], max_rules: int) -> dict[str, Any] | None:
        with self.reachable():
            raw = self._add(args=[self.prefix, orjson.dumps(rule), max_rules])
        return None if raw is None else _rule(raw)

    def all(self) -> list[dict[str, Any]]:
        with self.reachable():
            raws = self.client.hvals(self.prefix + "rules")
        return sorted((_rule(raw) for raw in raws), key=lambda rule: rule["id"])

    def remove(self, rule_id: int) -> bool:
        with self.reachable():
            pipe = self.client.pipeline(transaction=True)
            pipe.hdel(self.prefix + "rules", rule_id)
            pipe.zrem(self.prefix + "rules:order", rule_id)
            return bool(pipe.execute()[0])

    def take(self, operation_id: str, user_id: str | None, session: str | None) -> dict[str, Any] | None:
        with self.reachable():
            raw = self._take(args=[self.prefix, operation_id, user_id or "", session or ""])
        return None if raw is None else _rule(raw)


class RedisJournal:
    """The journal as a stream capped near ``size`` entries; entries are the rendered dicts. Recording
    is best effort: a request is answered whether or not Redis took its journal entry."""

    def __init__(self, client: redis.Redis, prefix: str, size: int, reachable):
        self.client, self.prefix, self.size, self.reachable = client, prefix, size, reachable
        self._record = client.register_script(RECORD)

    def record(self, entry: dict[str, Any]) -> None:
        try:
            self._record(args=[self.prefix, orjson.dumps({k: v for k, v in entry.items() if k != "id"}), self.size])
        except redis.RedisError as err:
            log.warning("journal entry not kept: the shared state (Redis) is not reachable (%s)", type(err).__name__)

    def entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        count = min(limit or self.size, self.size)
        with self.reachable():
            items = self.client.xrevrange(self.prefix + "journal", count=count)
        out = []
        for _stream_id, fields in reversed(items):
            entry = {"id": int(fields[b"id"]), **orjson.loads(fields[b"e"])}
            out.append(entry)
        return out

    def __len__(self) -> int:
        with self.reachable():
            return min(self.client.xlen(self.prefix + "journal"), self.size)

    def clear(self) -> int:
        with self.reachable():
            count = self.client.xlen(self.prefix + "journal")
            self.client.delete(self.prefix + "journal")
        return min(count, self.size)


class Shared:
    """What a shared backend offers the features (``RedisStore.shared``)."""

    def __init__(self, client: redis.Redis, prefix: str, reachable):
        self.client, self.prefix, self.reachable = client, prefix, reachable

    def rules(self) -> RedisRules:
        return RedisRules(self.client, self.prefix, self.reachable)

    def journal(self, size: int) -> RedisJournal:
        return RedisJournal(self.client, self.prefix, size, self.reachable)

    def chaos(self) -> RedisChaos:
        return RedisChaos(self.client, self.prefix, self.reachable)

    def coverage(self) -> RedisCoverage:
        return RedisCoverage(self.client, self.prefix, self.reachable)


class RedisChaos:
    """The chaos settings in force (``PUT /__admin/chaos``'s shape), shared by every replica: ``P chaos``
    (JSON) and ``P chaos:ver`` (bumped on every change). Replicas poll the version (a GET every
    :data:`POLL_SECONDS`), so a change reaches every replica within that time, not at once."""

    POLL_SECONDS = 0.25

    def __init__(self, client: redis.Redis, prefix: str, reachable):
        self.client, self.prefix, self.reachable = client, prefix, reachable

    def publish(self, settings: dict[str, Any]) -> int:
        with self.reachable():
            pipe = self.client.pipeline(transaction=True)
            pipe.set(self.prefix + "chaos", orjson.dumps(settings))
            pipe.incr(self.prefix + "chaos:ver")
            return pipe.execute()[1]

    def read(self) -> tuple[int, dict[str, Any] | None]:
        with self.reachable():
            pipe = self.client.pipeline(transaction=True)
            pipe.get(self.prefix + "chaos:ver")
            pipe.get(self.prefix + "chaos")
            version, raw = pipe.execute()
        return int(version or 0), (orjson.loads(raw) if raw else None)


class RedisCoverage:
    """Answers counted by (method, path template, status): ``P cov:*`` for all traffic, ``P cov:s:<name>``
    per session (forgotten a day after its last count). Counting is best effort, like the journal."""

    SESSION_SECONDS = 24 * 3600

    def __init__(self, client: redis.Redis, prefix: str, reachable):
        self.client, self.prefix, self.reachable = client, prefix, reachable
        self._count = client.register_script(COUNT)

    def _key(self, session: str | None) -> str:
        return f"{self.prefix}cov:*" if session is None else f"{self.prefix}cov:s:{session}"

    def record(self, key: tuple[str, str, str], session: str | None) -> None:
        keys = [self._key(None)] + ([self._key(session)] if session is not None else [])
        try:
            self._count(keys=keys, args=["\t".join(key), f"*\t{OTHER_PATH}\t{key[2]}", MAX_TALLY_KEYS,
                                         SESSION_MAX_KEYS, self.SESSION_SECONDS])
        except redis.RedisError as err:
            log.warning("answer not counted: the shared state (Redis) is not reachable (%s)", type(err).__name__)

    def counts(self, session: str | None) -> list[tuple[tuple[str, str, str], int]]:
        with self.reachable():
            raw = self.client.hgetall(self._key(session))
        return [(tuple(field.decode().split("\t", 2)), int(count)) for field, count in raw.items()]

    def reset(self, session: str | None) -> None:
        with self.reachable():
            self.client.delete(self._key(session))
