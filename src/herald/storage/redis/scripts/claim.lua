-- ARGV[8] limit, [9] claim id, [10] ttl, [11] claim expiry, [12] extended message
-- expiry, [13] extended message ttl, [14] max claim count ('' for none), [15]
-- most messages to set aside, [16] the metadata the claim was planned from.
-- Returns {claimed messages, messages set aside}, nil when there are none of
-- either, or {current metadata} when the metadata has changed.
local current = redis.call('HGET', Q.rec, 'meta') or ''
if current ~= ARGV[16] then
  return {current}
end
normalize(Q)
local limit = tonumber(ARGV[8])
local cid, ttl, until_s, ext_e, ext_t = ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13]
local until_n = tonumber(until_s)
local max_count, most_aside = tonumber(ARGV[14]), tonumber(ARGV[15])

local function hold(id)
  redis.call('HSET', MSG .. id, 'ci', cid, 'ce', until_s)
  redis.call('ZREM', Q.ready, id)
  redis.call('ZADD', Q.claimed, until_s, id)
  redis.call('ZADD', MEMBERS .. cid, id, id)
end

local taken, aside = {}, {}
scan(Q.ready, nil, limit + 16, function(id)
  local s = state(id)
  if not s or s.e <= NOW then
    drop(Q, id)
  elseif s.a > NOW or s.ce > NOW then
    -- Due or free by another node's clock but not by ours: leave it be.
    return false
  elseif max_count and s.cc >= max_count then
    -- Held only until the service moves it: it is not handed to anyone, so
    -- neither its claim count nor its lifetime changes.
    hold(id)
    aside[#aside + 1] = id
  else
    redis.call('HINCRBY', MSG .. id, 'cc', 1)
    outlive_claim(Q, id, s.e, until_n, ext_e, ext_t)
    hold(id)
    taken[#taken + 1] = id
  end
  return #taken >= limit or #aside >= most_aside
end)
if #taken + #aside == 0 then
  return false
end
redis.call('HSET', CLAIM .. cid, 'q', Q.rec, 't', ttl, 'u', NOW_S, 'e', until_s)
redis.call('SADD', Q.claims, cid)
redis.call('ZADD', CLAIMS, until_s, cid)
local out = {{}, {}}
for i, id in ipairs(taken) do
  out[1][i] = view(id)
end
for i, id in ipairs(aside) do
  out[2][i] = view(id)
end
return out
