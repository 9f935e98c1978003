-- ARGV[5] queue name, [6] client id, [7] count, [8] the metadata the messages
-- were prepared from ('' for a queue that does not exist), then body, ttl,
-- expires and available for each message. Returns the first new id, the rest
-- following it; or, when the metadata has changed, {current metadata} and
-- nothing is stored.
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
-- Wakes waiters of every API process; the channel is named as the queue's record.
redis.call('PUBLISH', Q.rec, '')
return first
