-- Called with no queue. ARGV[8..] delivery ids. Removes them from the outbox.
for i = 8, #ARGV do
  local id = ARGV[i]
  local sid = redis.call('HGET', DELIVERY .. id, 's')
  if sid then
    redis.call('SREM', OWED .. sid, id)
    redis.call('DEL', DELIVERY .. id)
    redis.call('ZREM', DUE, id)
    redis.call('ZREM', POSTED, id)
  end
end
return 0
