-- ARGV[8] the metadata the change was made from, [9] the changed metadata.
-- Stores it only over the very metadata it was made from; otherwise stores
-- nothing and returns {current metadata} ('' when the queue is gone).
local current = redis.call('HGET', Q.rec, 'meta') or ''
if current ~= ARGV[8] then
  return {current}
end
redis.call('HSET', Q.rec, 'meta', ARGV[9])
return false
