-- Called with no queue. ARGV[8] limit, [9] the lease's end. Takes up to limit
-- deliveries due now, by (due, id), and makes them due at the lease's end;
-- returns for each its id, project, queue name, subscription id, message id,
-- body, ttl, post time and attempts.
local out = {}
for _, did in ipairs(redis.call('ZRANGEBYSCORE', DUE, '-inf', NOW_S, 'LIMIT', 0, ARGV[8])) do
  local v = redis.call('HMGET', DELIVERY .. did, 'p', 'n', 's', 'm', 'b', 't', 'po', 'at')
  if v[1] then
    redis.call('ZADD', DUE, ARGV[9], did)
    out[#out + 1] = {did, v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]}
  else
    redis.call('ZREM', DUE, did)
    redis.call('ZREM', POSTED, did)
  end
end
return out
