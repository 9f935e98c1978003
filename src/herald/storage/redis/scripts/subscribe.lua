-- ARGV[8] id, [9] project, [10] source queue name, [11] subscriber, [12]
-- options, [13] ttl, [14] renewed, [15] expires, [16] confirmed ('1' or '0').
-- Stores the subscription and returns {1}; or, when a live subscription of the
-- queue holds the subscriber, stores nothing and returns {0, its id, its fields}.
local holder = live_holder(Q, ARGV[11])
if holder then
  return {0, holder, redis.call('HGETALL', SUB .. holder)}
end
local sid = ARGV[8]
if redis.call('EXISTS', SUB .. sid) == 1 then
  return redis.error_reply('subscription id ' .. sid .. ' is taken')
end
redis.call('HSET', SUB .. sid, 'q', Q.rec, 'p', ARGV[9], 'n', ARGV[10], 'sub', ARGV[11],
           'o', ARGV[12], 't', ARGV[13], 'r', ARGV[14], 'e', ARGV[15], 'c', ARGV[16], 'v', '1')
redis.call('ZADD', Q.subscriptions, ARGV[15], sid)
redis.call('ZADD', SUBSCRIPTIONS, ARGV[15], sid)
redis.call('HSET', Q.subscribers, ARGV[11], sid)
return {1}
