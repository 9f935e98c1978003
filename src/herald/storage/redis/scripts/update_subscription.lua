-- ARGV[8] id, [9] the version the change was made from, then the new [10]
-- subscriber, [11] options, [12] ttl, [13] renewed, [14] expires, [15]
-- confirmed. Returns 'ok', having stored it; otherwise changes nothing and
-- returns 'gone' (no live subscription of the queue has the id), 'changed'
-- (its version is no longer [9]) or 'conflict' (another live subscription of
-- the queue holds the new subscriber).
local sid = ARGV[8]
local v = redis.call('HMGET', SUB .. sid, 'q', 'e', 'v', 'sub')
if v[1] ~= Q.rec or tonumber(v[2]) <= NOW then
  return 'gone'
end
if v[3] ~= ARGV[9] then
  return 'changed'
end
local subscriber = ARGV[10]
if subscriber ~= v[4] then
  if live_holder(Q, subscriber) then
    return 'conflict'
  end
  redis.call('HDEL', Q.subscribers, v[4])
  redis.call('HSET', Q.subscribers, subscriber, sid)
end
redis.call('HSET', SUB .. sid, 'sub', subscriber, 'o', ARGV[11], 't', ARGV[12], 'r', ARGV[13],
           'e', ARGV[14], 'c', ARGV[15], 'v', string.format('%d', tonumber(v[3]) + 1))
redis.call('ZADD', Q.subscriptions, ARGV[14], sid)
redis.call('ZADD', SUBSCRIPTIONS, ARGV[14], sid)
return 'ok'
