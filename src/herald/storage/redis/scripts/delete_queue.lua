-- ARGV[8] queue name. Subscriptions and what is owed to them go with the queue.
purge(Q)
purge_subscriptions(Q)
redis.call('DEL', Q.rec)
redis.call('ZREM', INDEX, ARGV[8])
return 0
