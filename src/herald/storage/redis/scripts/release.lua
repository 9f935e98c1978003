-- ARGV[8] claim id. Messages still held by it become claimable at once.
local cid = ARGV[8]
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
