-- Called with no queue. ARGV[8] delivery id. Removes it from the outbox.
local sid = redis.call('HGET', DELIVERY .. ARGV[8], 's')
if sid then
  redis.call('SREM', OWED .. sid, ARGV[8])
  redis.call('DEL', DELIVERY .. ARGV[8])
  redis.call('ZREM', DUE, ARGV[8])
  redis.call('ZREM', POSTED, ARGV[8])
end
return 0
