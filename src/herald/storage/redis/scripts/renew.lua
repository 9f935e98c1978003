-- ARGV[8] claim id, [9] ttl, [10] claim expiry, [11] extended message expiry,
-- [12] extended message ttl. Returns 1 if the claim was live, else 0.
local cid, ttl, until_s, ext_e, ext_t = ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
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
