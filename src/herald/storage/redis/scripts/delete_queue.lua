-- ARGV[5] queue name.
purge(Q)
redis.call('DEL', Q.rec)
redis.call('ZREM', INDEX, ARGV[5])
return 0
