"""The Redis key layout of :mod:`mockserver.store.redis_backend` and the Lua scripts that read and
write it. Each script runs atomically in Redis: a read sees one state, a write applies whole or not at all.

Keys of a fake, under its namespace prefix ``P`` (``mockserver:<namespace>:``):

- ``P gen``: the id ``G`` of the current generation (a state written whole by a seed, reset,
  replace or restore); ``P seed``: the seed document (JSON) a reset goes back to; ``P seedver``:
  how many times the seed was replaced (a session made from an older seed starts again).
- under ``Q = P G:``: ``customers`` (JSON list of customer ids, in fixture order), ``tokens``
  (JSON list), ``principals`` (hash: token digest -> ``{"c": customer ids, "u": user id}``),
  ``changed`` (set of the user ids written since the generation began);
  per customer ``Q c:<id>:``: ``meta`` (JSON: id, name, roles, groups), ``roles`` (hash of role ids),
  ``u`` (hash: user id -> the user's record, JSON), ``ids`` (sorted set, all scores 0: the users
  in ascending ``_id`` order, which is byte order), ``emails`` (hash: case-folded email -> user id),
  ``search`` (hash: user id -> the search key of :func:`mockserver.store.index.search_key`),
  ``dg:<user id>`` (set: the users who delegate to that user).
- sessions: the same layout under ``P s:<session name>:``.

Scripts name keys they build from ``P`` and ``G`` (the generation is only known inside the script),
so a fake's keys must live on one Redis node: a single instance or a primary with replicas, not
Redis Cluster.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson
import redis

from mockserver.store.index import search_key
from mockserver.store.memory import token_digest

# A bundle: the records of ``ids``, each one's delegators, and the users their answers name.
# Answers are rendered from bundles (mockserver.store.redis_backend.render_bundle).
_BUNDLE = """
local function chunked_hmget(key, ids)
  local out = {}
  for i = 1, #ids, 1000 do
    local part = {}
    for j = i, math.min(i + 999, #ids) do part[#part + 1] = ids[j] end
    local got = redis.call('HMGET', key, unpack(part))
    for j = 1, #part do out[#out + 1] = got[j] end
  end
  return out
end

local function bundle(Q, ids)
  local records = chunked_hmget(Q .. 'u', ids)
  local dgs, seen, related = {}, {}, {}
  for i = 1, #ids do seen[ids[i]] = true end
  for i = 1, #ids do
    local dg = redis.call('SMEMBERS', Q .. 'dg:' .. ids[i])
    dgs[i] = dg
    for j = 1, #dg do
      if not seen[dg[j]] then seen[dg[j]] = true; related[#related + 1] = dg[j] end
    end
    if records[i] then
      local delegates = cjson.decode(records[i])['delegateIds']
      if type(delegates) == 'table' then
        for j = 1, #delegates do
          local d = delegates[j]
          if not seen[d] then seen[d] = true; related[#related + 1] = d end
        end
      end
    end
  end
  local related_records = {}
  if #related > 0 then related_records = chunked_hmget(Q .. 'u', related) end
  return {records, dgs, related, related_records}
end
"""

# ARGV: prefix, customer id, user id. -> {false} (no state), {G, 0} (no customer), {G, 1} (no user),
# {G, 2, bundle of the user}
GET_USER = _BUNDLE + """
local P, C, U = ARGV[1], ARGV[2], ARGV[3]
local G = redis.call('GET', P .. 'gen')
if not G then return {false} end
local Q = P .. G .. ':c:' .. C .. ':'
if redis.call('EXISTS', Q .. 'meta') == 0 then return {G, 0} end
if redis.call('HEXISTS', Q .. 'u', U) == 0 then return {G, 1} end
return {G, 2, bundle(Q, {U})}
"""

# ARGV: prefix, customer id, search terms (case-folded)... -> {false}, {G, 0}, {G, 2, ids, bundle}
LIST_USERS = _BUNDLE + """
local P, C = ARGV[1], ARGV[2]
local G = redis.call('GET', P .. 'gen')
if not G then return {false} end
local Q = P .. G .. ':c:' .. C .. ':'
if redis.call('EXISTS', Q .. 'meta') == 0 then return {G, 0} end
local ids = redis.call('ZRANGE', Q .. 'ids', 0, -1)
if #ARGV > 2 then
  local keys = {}
  local flat = redis.call('HGETALL', Q .. 'search')
  for i = 1, #flat, 2 do keys[flat[i]] = flat[i + 1] end
  local matched = {}
  for i = 1, #ids do
    local key, all = keys[ids[i]] or '', true
    for t = 3, #ARGV do
      if not string.find(key, ARGV[t], 1, true) then all = false; break end
    end
    if all then matched[#matched + 1] = ids[i] end
  end
  ids = matched
end
return {G, 2, ids, bundle(Q, ids)}
"""

# ARGV: prefix, token digest (hex) -> {false} or {G, principal JSON or false}
PRINCIPAL = """
local G = redis.call('GET', ARGV[1] .. 'gen')
if not G then return {false} end
return {G, redis.call('HGET', ARGV[1] .. G .. ':principals', ARGV[2])}
"""

# ARGV: prefix -> {false} or {G, seedver, tokens JSON, {meta JSON, user count, records in order}...}
# (records only when ARGV[2] is '1')
STATE = """
local P = ARGV[1]
local G = redis.call('GET', P .. 'gen')
if not G then return {false} end
local Q = P .. G .. ':'
local out = {G, redis.call('GET', P .. 'seedver') or '0', redis.call('GET', Q .. 'tokens')}
local ids = cjson.decode(redis.call('GET', Q .. 'customers'))
for i = 1, #ids do
  local CQ = Q .. 'c:' .. ids[i] .. ':'
  local entry = {redis.call('GET', CQ .. 'meta'), redis.call('HLEN', CQ .. 'u')}
  if ARGV[2] == '1' then
    local uids = redis.call('ZRANGE', CQ .. 'ids', 0, -1)
    local records = {}
    for j = 1, #uids, 1000 do
      local part = {}
      for k = j, math.min(j + 999, #uids) do part[#part + 1] = uids[k] end
      local got = redis.call('HMGET', CQ .. 'u', unpack(part))
      for k = 1, #got do records[#records + 1] = got[k] end
    end
    entry[3] = records
  end
  out[#out + 1] = entry
end
return out
"""

# ARGV: prefix, G, customer id, number of checks, checks (kind, key suffix, field, value)...,
#       number of ops, ops (op, key suffix, field, value)..., user id to answer ('' for none).
# Key suffixes are under the customer's prefix Q c:<id>:, except those starting with '/' (under Q).
# Checks, in order: 'eq' (the field holds exactly value, else {'retry'}), 'owner' (the field is
# absent or holds value, else {'fail', i, holder}), 'has' (the field exists, else {'fail', i}),
# 'fail' (always {'fail', i}). -> {'stale'} (another generation), {'retry'}, {'fail', ...},
# {'ok', bundle of the answered user or false}
COMMIT = _BUNDLE + """
local P, G, C = ARGV[1], ARGV[2], ARGV[3]
if redis.call('GET', P .. 'gen') ~= G then return {'stale'} end
local Q = P .. G .. ':c:' .. C .. ':'
local function key(suffix)
  if string.sub(suffix, 1, 1) == '/' then return P .. G .. ':' .. string.sub(suffix, 2) end
  return Q .. suffix
end
local n = tonumber(ARGV[4])
local a = 5
for i = 1, n do
  local kind, k, f, v = ARGV[a], key(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3]
  a = a + 4
  local current = redis.call('HGET', k, f)
  if kind == 'eq' then
    if current ~= v then return {'retry'} end
  elseif kind == 'owner' then
    if current and current ~= v then return {'fail', i, current} end
  elseif kind == 'has' then
    if not current then return {'fail', i} end
  else
    return {'fail', i}
  end
end
local m = tonumber(ARGV[a])
a = a + 1
for i = 1, m do
  local op, k, f, v = ARGV[a], key(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3]
  a = a + 4
  if op == 'hset' then redis.call('HSET', k, f, v)
  elseif op == 'hdel' then redis.call('HDEL', k, f)
  elseif op == 'sadd' then redis.call('SADD', k, f)
  elseif op == 'srem' then redis.call('SREM', k, f)
  elseif op == 'zrem' then redis.call('ZREM', k, f)
  elseif op == 'del' then redis.call('DEL', k)
  end
end
local answer = ARGV[a]
if answer == '' then return {'ok', false} end
return {'ok', bundle(Q, {answer})}
"""

# Make a fully written generation current. ARGV: prefix, new G, mode, seed JSON ('' keeps it),
# seed version ('' keeps it, '+' adds one).
# mode 'init': only if the namespace has no state -> 1, else 0 (the caller removes its generation).
# mode 'set': always -> the previous G or false.
# mode 'fork': unless the namespace already holds a state of this seed version -> the previous G
# or false; else 0.
SWITCH = """
local P, NG, mode, seed, ver = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local old = redis.call('GET', P .. 'gen')
if mode == 'init' and old then return 0 end
if mode == 'fork' and old and redis.call('GET', P .. 'seedver') == ver then return 0 end
redis.call('SET', P .. 'gen', NG)
if seed ~= '' then redis.call('SET', P .. 'seed', seed) end
if ver == '+' then redis.call('INCR', P .. 'seedver')
elseif ver ~= '' then redis.call('SET', P .. 'seedver', ver)
elseif not old then redis.call('SET', P .. 'seedver', '0') end
if mode == 'init' then return 1 end
return old or false
"""


def write_generation(client: redis.Redis, prefix: str, document: dict[str, Any]) -> str:
    """Write ``document`` as a new generation under ``prefix`` (not current until SWITCH); its id."""
    generation = secrets.token_hex(8)
    base = f"{prefix}{generation}:"
    pipe = client.pipeline(transaction=False)
    pending = 0

    def flush(force: bool = False) -> None:
        nonlocal pending
        if pending >= 2000 or (force and pending):
            pipe.execute()
            pending = 0

    customer_ids = []
    for customer in document.get("customers", []):
        cid = customer["_id"]
        customer_ids.append(cid)
        q = f"{base}c:{cid}:"
        meta = {"_id": cid, "fullName": customer["fullName"], "roles": customer.get("roles", []),
                "groups": customer.get("groups", [])}
        pipe.set(q + "meta", orjson.dumps(meta))
        if meta["roles"]:
            pipe.hset(q + "roles", mapping={role["_id"]: 1 for role in meta["roles"]})
        for user in customer.get("users", []):
            uid = user["_id"]
            pipe.hset(q + "u", uid, orjson.dumps(user))
            pipe.zadd(q + "ids", {uid: 0})
            pipe.hset(q + "emails", user["email"].casefold(), uid)
            pipe.hset(q + "search", uid, search_key(user))
            for delegate in user.get("delegateIds") or ():
                pipe.sadd(f"{q}dg:{delegate}", uid)
            pending += 5
            flush()
    tokens = document.get("tokens", [])
    pipe.set(base + "customers", orjson.dumps(customer_ids))
    pipe.set(base + "tokens", orjson.dumps(tokens))
    for entry in tokens:
        principal = {"c": entry["customerIds"], "u": entry.get("userId")}
        pipe.hset(base + "principals", token_digest(entry["token"]).hex(), orjson.dumps(principal))
    pending += 1
    flush(force=True)
    return generation


def drop_generation(client: redis.Redis, prefix: str, generation: str | bytes | None) -> None:
    """Remove a generation's keys (one no longer current)."""
    if not generation:
        return
    if isinstance(generation, bytes):
        generation = generation.decode()
    batch = []
    for key in client.scan_iter(match=f"{prefix}{generation}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)
