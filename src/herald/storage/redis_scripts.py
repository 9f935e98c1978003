"""The Lua scripts behind the Redis store; each one is a single atomic state change.

Every script is called with the same layout, built by `herald.storage.redis`:

    KEYS[1..3]   store-wide: expiry index of all messages, expiry index of all
                 claims, the message id counter
    KEYS[4..10]  the queue: record, ids, ready, delayed, claimed, expiry, claims
    KEYS[11]     the project's queue index
    KEYS[12..18] a second queue (the dead-letter queue), when there is one
    ARGV[1..3]   key prefixes of messages, claims and claim members
    ARGV[4]      the caller's clock; scripts never read Redis's own
    ARGV[5..]    the script's own arguments

Scripts build no key names of their own: message and claim keys are one of the
prefixes above followed by an id. Times travel as the decimal text Python
wrote, so that stored values and sorted-set scores stay exact; the one time a
script computes a time (a dead-letter expiry) it writes it with 17 digits.
"""

from __future__ import annotations

PRELUDE = r"""
local MSG, CLAIM, MEMBERS = ARGV[1], ARGV[2], ARGV[3]
local NOW_S = ARGV[4]
local NOW = tonumber(NOW_S)
local EXPIRING, CLAIMS, NEXT_ID, INDEX = KEYS[1], KEYS[2], KEYS[3], KEYS[11]

local function queue_at(i)
  return {rec = KEYS[i], ids = KEYS[i + 1], ready = KEYS[i + 2], delayed = KEYS[i + 3],
          claimed = KEYS[i + 4], expiry = KEYS[i + 5], claims = KEYS[i + 6]}
end
local Q = queue_at(4)

-- Messages leave `claimed` and `delayed` lazily, when a caller's clock says
-- they are due; `ready` then holds exactly the claimable messages, so a claim
-- never walks over claimed or delayed ones. Each message moves once per
-- claim or delay, so the cost is amortised over the operations that caused it.
local function normalize(q)
  for _, set in ipairs({q.claimed, q.delayed}) do
    local due = redis.call('ZRANGEBYSCORE', set, '-inf', NOW_S)
    if #due > 0 then
      redis.call('ZREMRANGEBYSCORE', set, '-inf', NOW_S)
      for _, id in ipairs(due) do
        redis.call('ZADD', q.ready, id, id)
      end
    end
  end
end

local function drop(q, id)
  redis.call('DEL', MSG .. id)
  redis.call('ZREM', q.ids, id)
  redis.call('ZREM', q.ready, id)
  redis.call('ZREM', q.delayed, id)
  redis.call('ZREM', q.claimed, id)
  redis.call('ZREM', q.expiry, id)
  redis.call('ZREM', EXPIRING, id)
end

-- The fields decisions are made on; the body stays in Redis until needed.
local function state(id)
  local v = redis.call('HMGET', MSG .. id, 'q', 'e', 'a', 'ci', 'ce', 'cc', 'c')
  if not v[1] then
    return nil
  end
  return {q = v[1], e = tonumber(v[2]), a = tonumber(v[3]), ci = v[4],
          ce = tonumber(v[5]), cc = tonumber(v[6]), c = v[7]}
end

-- One message as the driver reads it back: id, body, ttl, created, live
-- claim id (empty when none) and claim count.
local function view(id)
  local v = redis.call('HMGET', MSG .. id, 'b', 't', 'cr', 'ci', 'ce', 'cc')
  local live = ''
  if tonumber(v[5]) > NOW then
    live = v[4]
  end
  return {id, v[1], v[2], v[3], live, v[6]}
end

-- Walk a set scored by message id, after `after`, in chunks; the score
-- cursor stays valid while `visit` removes members. `visit` returns true to stop.
local function scan(set, after, chunk, visit)
  local lo = '-inf'
  if after then
    lo = '(' .. after
  end
  while true do
    local ids = redis.call('ZRANGEBYSCORE', set, lo, '+inf', 'LIMIT', 0, chunk)
    for _, id in ipairs(ids) do
      if visit(id) then
        return
      end
    end
    if #ids < chunk then
      return
    end
    lo = '(' .. ids[#ids]
  end
end

local function ensure_queue(q, name)
  if redis.call('HSETNX', q.rec, 'meta', '{}') == 1 then
    redis.call('ZADD', INDEX, 0, name)
  end
end

local function insert(q, id, client, body, ttl, created, expires, available)
  redis.call('HSET', MSG .. id, 'q', q.rec, 'c', client, 'b', body, 't', ttl,
             'cr', created, 'e', expires, 'a', available, 'ci', '', 'ce', '0', 'cc', '0')
  redis.call('ZADD', q.ids, id, id)
  redis.call('ZADD', q.expiry, expires, id)
  redis.call('ZADD', EXPIRING, expires, id)
  if tonumber(available) > NOW then
    redis.call('ZADD', q.delayed, available, id)
  else
    redis.call('ZADD', q.ready, id, id)
  end
end

-- The grace rule: a message that would die before its claim ends lives on
-- until `grace` after it, with a ttl of claim ttl plus grace.
local function outlive_claim(q, id, expires, until_n, ext_e, ext_t)
  if expires < until_n then
    redis.call('HSET', MSG .. id, 'e', ext_e, 't', ext_t)
    redis.call('ZADD', q.expiry, ext_e, id)
    redis.call('ZADD', EXPIRING, ext_e, id)
  end
end

local function claim_is_live(cid)
  local c = redis.call('HMGET', CLAIM .. cid, 'q', 'e')
  return c[1] == Q.rec and tonumber(c[2]) > NOW
end

-- Cost is the queue's depth; purging is rare and has to touch every message.
local function purge(q)
  local ids = redis.call('ZRANGE', q.ids, 0, -1)
  for _, id in ipairs(ids) do
    redis.call('DEL', MSG .. id)
    redis.call('ZREM', EXPIRING, id)
  end
  for _, cid in ipairs(redis.call('SMEMBERS', q.claims)) do
    redis.call('DEL', CLAIM .. cid, MEMBERS .. cid)
    redis.call('ZREM', CLAIMS, cid)
  end
  redis.call('DEL', q.ids, q.ready, q.delayed, q.claimed, q.expiry, q.claims)
end
"""

# ARGV[5] queue name, [6] client id, [7] count, [8] the metadata the messages
# were prepared from ('' for a queue that does not exist), then body, ttl,
# expires and available for each message. Returns the first new id, the rest
# following it; or, when the metadata has changed, {current metadata} and
# nothing is stored.
POST = r"""
local current = redis.call('HGET', Q.rec, 'meta') or ''
if current ~= ARGV[8] then
  return {current}
end
ensure_queue(Q, ARGV[5])
local n = tonumber(ARGV[7])
local first = redis.call('INCRBY', NEXT_ID, n) - n + 1
for i = 0, n - 1 do
  local j = 9 + i * 4
  insert(Q, string.format('%d', first + i), ARGV[6], ARGV[j], ARGV[j + 1], NOW_S,
         ARGV[j + 2], ARGV[j + 3])
end
return first
"""

# ARGV[5] limit, [6] claim id, [7] ttl, [8] claim expiry, [9] extended message
# expiry, [10] extended message ttl, [11] dead-letter queue ('' for none),
# [12] max claim count, [13] dead-letter ttl ('' keeps the message's), [14]
# the metadata the claim was planned from. Returns the claimed messages, nil
# when none, or {current metadata} when the metadata has changed.
CLAIM = r"""
local current = redis.call('HGET', Q.rec, 'meta') or ''
if current ~= ARGV[14] then
  return {current}
end
normalize(Q)
local limit = tonumber(ARGV[5])
local cid, ttl, until_s, ext_e, ext_t = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local until_n = tonumber(until_s)
local dlq_name, D, max_count = ARGV[11], nil, nil
if dlq_name ~= '' then
  D = queue_at(12)
  max_count = tonumber(ARGV[12])
end

-- The dead-letter queue gets a copy with a new id at its tail: unclaimed,
-- due now, created when the original was.
local function dead_letter(id, s)
  local v = redis.call('HMGET', MSG .. id, 'b', 't', 'cr')
  local dttl = ARGV[13]
  if dttl == '' then
    dttl = v[2]
  end
  ensure_queue(D, dlq_name)
  drop(Q, id)
  local nid = string.format('%d', redis.call('INCR', NEXT_ID))
  insert(D, nid, s.c, v[1], dttl, v[3], string.format('%.17g', NOW + tonumber(dttl)), NOW_S)
end

local taken = {}
scan(Q.ready, nil, limit + 16, function(id)
  local s = state(id)
  if not s or s.e <= NOW then
    drop(Q, id)
  elseif s.a > NOW or s.ce > NOW then
    -- Due or free by another node's clock but not by ours: leave it be.
    return false
  elseif D and s.cc >= max_count then
    dead_letter(id, s)
  else
    local key = MSG .. id
    redis.call('HINCRBY', key, 'cc', 1)
    redis.call('HSET', key, 'ci', cid, 'ce', until_s)
    outlive_claim(Q, id, s.e, until_n, ext_e, ext_t)
    redis.call('ZREM', Q.ready, id)
    redis.call('ZADD', Q.claimed, until_s, id)
    redis.call('ZADD', MEMBERS .. cid, id, id)
    taken[#taken + 1] = id
  end
  return #taken >= limit
end)
if #taken == 0 then
  return false
end
redis.call('HSET', CLAIM .. cid, 'q', Q.rec, 't', ttl, 'u', NOW_S, 'e', until_s)
redis.call('SADD', Q.claims, cid)
redis.call('ZADD', CLAIMS, until_s, cid)
local out = {}
for i, id in ipairs(taken) do
  out[i] = view(id)
end
return out
"""

# ARGV[5] claim id. Returns {ttl, updated, messages} or nil.
GET_CLAIM = r"""
local cid = ARGV[5]
local c = redis.call('HMGET', CLAIM .. cid, 'q', 't', 'u', 'e')
if c[1] ~= Q.rec or tonumber(c[4]) <= NOW then
  return false
end
local out = {}
for _, id in ipairs(redis.call('ZRANGE', MEMBERS .. cid, 0, -1)) do
  local s = state(id)
  if s and s.ci == cid and s.ce > NOW and s.e > NOW then
    out[#out + 1] = view(id)
  end
end
return {c[2], c[3], out}
"""

# ARGV[5] claim id, [6] ttl, [7] claim expiry, [8] extended message expiry,
# [9] extended message ttl. Returns 1 if the claim was live, else 0.
RENEW = r"""
local cid, ttl, until_s, ext_e, ext_t = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
if not claim_is_live(cid) then
  return 0
end
local until_n = tonumber(until_s)
redis.call('HSET', CLAIM .. cid, 't', ttl, 'u', NOW_S, 'e', until_s)
redis.call('ZADD', CLAIMS, until_s, cid)
for _, id in ipairs(redis.call('ZRANGE', MEMBERS .. cid, 0, -1)) do
  local s = state(id)
  if s and s.ci == cid then
    redis.call('HSET', MSG .. id, 'ce', until_s)
    outlive_claim(Q, id, s.e, until_n, ext_e, ext_t)
    redis.call('ZREM', Q.ready, id)
    redis.call('ZADD', Q.claimed, until_s, id)
  else
    redis.call('ZREM', MEMBERS .. cid, id)
  end
end
return 1
"""

# ARGV[5] claim id. Messages still held by it become claimable at once.
RELEASE = r"""
local cid = ARGV[5]
if redis.call('HGET', CLAIM .. cid, 'q') ~= Q.rec then
  return 0
end
for _, id in ipairs(redis.call('ZRANGE', MEMBERS .. cid, 0, -1)) do
  local s = state(id)
  if s and s.ci == cid then
    redis.call('HSET', MSG .. id, 'ci', '', 'ce', '0')
    redis.call('ZREM', Q.claimed, id)
    redis.call('ZADD', Q.ready, id, id)
  end
end
redis.call('DEL', CLAIM .. cid, MEMBERS .. cid)
redis.call('SREM', Q.claims, cid)
redis.call('ZREM', CLAIMS, cid)
return 1
"""

# ARGV[5] marker ('' for none), [6] limit, [7] echo, [8] client id,
# [9] include claimed, [10] include delayed ('1' or '0').
# Only filtered-out messages are walked over: the poster's own without echo,
# and claimed or delayed ones when just one of the two is asked for.
LIST = r"""
local after = nil
if ARGV[5] ~= '' then
  after = ARGV[5]
end
local limit, echo, client = tonumber(ARGV[6]), ARGV[7] == '1', ARGV[8]
local claimed, delayed = ARGV[9] == '1', ARGV[10] == '1'
local source = Q.ids
if not claimed and not delayed then
  normalize(Q)
  source = Q.ready
end
local out = {}
scan(source, after, limit + 16, function(id)
  local s = state(id)
  if not s or s.e <= NOW then
    drop(Q, id)
  elseif (not delayed and s.a > NOW) or (not claimed and s.ce > NOW)
      or (not echo and s.c == client) then
    return false
  else
    out[#out + 1] = view(id)
  end
  return #out >= limit
end)
return out
"""

# ARGV[5..] message ids. Unexpired ones of this queue, in the order asked.
GET = r"""
local out = {}
for i = 5, #ARGV do
  local s = state(ARGV[i])
  if s and s.q == Q.rec and s.e > NOW then
    out[#out + 1] = view(ARGV[i])
  end
end
return out
"""

# ARGV[5] limit. Removes and returns the oldest claimable messages.
POP = r"""
normalize(Q)
local limit = tonumber(ARGV[5])
local out = {}
scan(Q.ready, nil, limit + 16, function(id)
  local s = state(id)
  if not s or s.e <= NOW then
    drop(Q, id)
  elseif s.a > NOW or s.ce > NOW then
    return false
  else
    out[#out + 1] = view(id)
    drop(Q, id)
  end
  return #out >= limit
end)
return out
"""

# ARGV[5] message id, [6] the caller's claim id ('' for none). The condition
# below restates `delete_verdict`; the driver checks the two agree.
# Returns {found, live claim id or '', given claim is live, deleted}.
DELETE_ONE = r"""
local id, given = ARGV[5], ARGV[6]
local s = state(id)
if not s or s.q ~= Q.rec or s.e <= NOW then
  return {0, '', 0, 0}
end
local live = ''
if s.ce > NOW then
  live = s.ci
end
local given_live = given ~= '' and claim_is_live(given)
local ok = (given == '' and live == '') or (given_live and live == given)
if ok then
  drop(Q, id)
end
return {1, live, given_live and 1 or 0, ok and 1 or 0}
"""

# ARGV[5] '1' to delete only messages held by a live claim among the claim
# ids, [6] count of message ids, then the message ids, then the claim ids.
DELETE_MANY = r"""
local filtered, n = ARGV[5] == '1', tonumber(ARGV[6])
local held = {}
for i = 7 + n, #ARGV do
  held[ARGV[i]] = true
end
for i = 7, 6 + n do
  local s = state(ARGV[i])
  if s and s.q == Q.rec and (not filtered or (held[s.ci] and s.ce > NOW)) then
    drop(Q, ARGV[i])
  end
end
return 0
"""

# Returns {total, claimed[, oldest id, oldest created, newest id, newest created]}.
# Finding the edges walks over expired messages not yet collected; the
# collector keeps that walk short.
STATS = r"""
local total = redis.call('ZCOUNT', Q.expiry, '(' .. NOW_S, '+inf')
if total == 0 then
  return {0, 0}
end
local claimed = redis.call('ZCOUNT', Q.claimed, '(' .. NOW_S, '+inf')
local function edge(command)
  local start = 0
  while true do
    local ids = redis.call(command, Q.ids, start, start + 99)
    if #ids == 0 then
      return {'', '0'}
    end
    for _, id in ipairs(ids) do
      local e = redis.call('ZSCORE', Q.expiry, id)
      if e and tonumber(e) > NOW then
        return {id, redis.call('HGET', MSG .. id, 'cr')}
      end
    end
    start = start + 100
  end
end
local oldest, newest = edge('ZRANGE'), edge('ZREVRANGE')
return {total, claimed, oldest[1], oldest[2], newest[1], newest[2]}
"""

PURGE = r"""
purge(Q)
return 0
"""

# ARGV[5] queue name.
DELETE_QUEUE = r"""
purge(Q)
redis.call('DEL', Q.rec)
redis.call('ZREM', INDEX, ARGV[5])
return 0
"""

# ARGV[5..] ids of this queue's messages whose expiry has passed by the index;
# each is checked again here, since a claim may have extended it since.
EXPIRE_MESSAGES = r"""
local gone = 0
for i = 5, #ARGV do
  local id = ARGV[i]
  local s = state(id)
  if not s then
    redis.call('ZREM', EXPIRING, id)
  elseif s.q == Q.rec and s.e <= NOW then
    drop(Q, id)
    gone = gone + 1
  end
end
return gone
"""

# ARGV[5..] ids of this queue's claims whose expiry has passed by the index.
EXPIRE_CLAIMS = r"""
local gone = 0
for i = 5, #ARGV do
  local cid = ARGV[i]
  local c = redis.call('HMGET', CLAIM .. cid, 'q', 'e')
  if not c[1] then
    redis.call('ZREM', CLAIMS, cid)
    redis.call('DEL', MEMBERS .. cid)
  elseif c[1] == Q.rec and tonumber(c[2]) <= NOW then
    redis.call('DEL', CLAIM .. cid, MEMBERS .. cid)
    redis.call('SREM', Q.claims, cid)
    redis.call('ZREM', CLAIMS, cid)
    gone = gone + 1
  end
end
return gone
"""

SCRIPTS: dict[str, str] = {
    "post": POST,
    "claim": CLAIM,
    "get_claim": GET_CLAIM,
    "renew": RENEW,
    "release": RELEASE,
    "list": LIST,
    "get": GET,
    "pop": POP,
    "delete_one": DELETE_ONE,
    "delete_many": DELETE_MANY,
    "stats": STATS,
    "purge": PURGE,
    "delete_queue": DELETE_QUEUE,
    "expire_messages": EXPIRE_MESSAGES,
    "expire_claims": EXPIRE_CLAIMS,
}
"""Script bodies by name; each runs after `PRELUDE`."""
