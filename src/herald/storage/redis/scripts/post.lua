-- ARGV[8] queue name, [9] client id, [10] count, [11] the metadata the messages
-- were prepared from ('' for a queue that does not exist), [12] project, then
-- body, ttl, expires and available for each message. Returns the first new
-- id, the rest following it; or, when the metadata has changed, {current
-- metadata} and nothing is stored. Each message is owed to every subscription
-- of the queue live now, due when the message is.
local current = redis.call('HGET', Q.rec, 'meta') or ''
if current ~= ARGV[11] then
  return {current}
end
ensure_queue(Q, ARGV[8])
local n = tonumber(ARGV[10])
local first = redis.call('INCRBY', NEXT_ID, n) - n + 1
local subs = redis.call('ZRANGEBYSCORE', Q.subscriptions, '(' .. NOW_S, '+inf')
for i = 0, n - 1 do
  local j = 13 + i * 4
  local id = string.format('%d', first + i)
  insert(Q, id, ARGV[9], ARGV[j], ARGV[j + 1], NOW_S, ARGV[j + 2], ARGV[j + 3])
  if #subs > 0 then
    owe(ARGV[12], ARGV[8], subs, id, ARGV[j], ARGV[j + 1], ARGV[j + 3])
  end
end
-- Wakes waiters of every API process; the channel is named as the queue's record.
redis.call('PUBLISH', Q.rec, '')
if #subs > 0 then
  -- Wakes the delivery engines; the channel is named as the outbox's due index.
  redis.call('PUBLISH', DUE, '')
end
return first
