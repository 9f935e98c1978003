-- ARGV[5] limit, [6] claim id, [7] ttl, [8] claim expiry, [9] extended message
-- expiry, [10] extended message ttl, [11] dead-letter queue ('' for none),
-- [12] max claim count, [13] dead-letter ttl ('' keeps the message's), [14]
-- the metadata the claim was planned from. Returns the claimed messages, nil
-- when none, or {current metadata} when the metadata has changed.
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
