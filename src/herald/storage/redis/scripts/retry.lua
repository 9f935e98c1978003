-- Called with no queue. ARGV[8] delivery id, [9] attempts made, [10] when due.
if redis.call('EXISTS', DELIVERY .. ARGV[8]) == 1 then
  redis.call('HSET', DELIVERY .. ARGV[8], 'at', ARGV[9])
  redis.call('ZADD', DUE, ARGV[10], ARGV[8])
end
return 0
