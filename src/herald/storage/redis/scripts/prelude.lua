-- Runs before every script: the names of the layout every script is called
-- with (described in lua.py) and the helpers the scripts share.
local MSG, CLAIM, MEMBERS = ARGV[1], ARGV[2], ARGV[3]
local SUB, OWED, DELIVERY = ARGV[4], ARGV[5], ARGV[6]
local NOW_S = ARGV[7]
local NOW = tonumber(NOW_S)
local EXPIRING, CLAIMS, NEXT_ID = KEYS[1], KEYS[2], KEYS[3]
local DUE, POSTED, NEXT_DELIVERY, SUBSCRIPTIONS = KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local INDEX = KEYS[17]

local function queue_at(i)
  return {rec = KEYS[i], ids = KEYS[i + 1], ready = KEYS[i + 2], delayed = KEYS[i + 3],
          claimed = KEYS[i + 4], expiry = KEYS[i + 5], claims = KEYS[i + 6],
          subscriptions = KEYS[i + 7], subscribers = KEYS[i + 8]}
end
local Q = queue_at(8)

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

-- What is owed to one subscription leaves with it.
local function drop_owed(sid)
  for _, did in ipairs(redis.call('SMEMBERS', OWED .. sid)) do
    redis.call('DEL', DELIVERY .. did)
    redis.call('ZREM', DUE, did)
    redis.call('ZREM', POSTED, did)
  end
  redis.call('DEL', OWED .. sid)
end

local function drop_subscription(q, sid)
  local subscriber = redis.call('HGET', SUB .. sid, 'sub')
  if subscriber and redis.call('HGET', q.subscribers, subscriber) == sid then
    redis.call('HDEL', q.subscribers, subscriber)
  end
  redis.call('ZREM', q.subscriptions, sid)
  redis.call('ZREM', SUBSCRIPTIONS, sid)
  redis.call('DEL', SUB .. sid)
  drop_owed(sid)
end

local function purge_subscriptions(q)
  for _, sid in ipairs(redis.call('ZRANGE', q.subscriptions, 0, -1)) do
    drop_subscription(q, sid)
  end
  redis.call('DEL', q.subscriptions, q.subscribers)
end

-- The live subscription holding `subscriber` on the queue, if any; an
-- expired holder is dropped on the way, so that it blocks nobody.
local function live_holder(q, subscriber)
  local sid = redis.call('HGET', q.subscribers, subscriber)
  if not sid then
    return nil
  end
  local e = redis.call('HGET', SUB .. sid, 'e')
  if e and tonumber(e) > NOW then
    return sid
  end
  drop_subscription(q, sid)
  redis.call('HDEL', q.subscribers, subscriber)
  return nil
end

-- One delivery per message and live subscription: a record, its place in the
-- index by due and the one by post time, and its id under its subscription.
-- Ids are zero-padded so that equal scores order them as numbers.
local function owe(project, name, subs, message_id, body, ttl, due)
  for _, sid in ipairs(subs) do
    local did = string.format('%016d', redis.call('INCR', NEXT_DELIVERY))
    redis.call('HSET', DELIVERY .. did, 'p', project, 'n', name, 's', sid, 'm', message_id,
               'b', body, 't', ttl, 'po', NOW_S, 'at', '0')
    redis.call('ZADD', DUE, due, did)
    redis.call('ZADD', POSTED, NOW_S, did)
    redis.call('SADD', OWED .. sid, did)
  end
end
