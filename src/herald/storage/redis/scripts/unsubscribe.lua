-- ARGV[8] id. Drops the queue's subscription with that id and what it is owed.
if redis.call('HGET', SUB .. ARGV[8], 'q') == Q.rec then
  drop_subscription(Q, ARGV[8])
end
return 0
