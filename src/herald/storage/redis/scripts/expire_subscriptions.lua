-- ARGV[8..] ids of this queue's subscriptions whose expiry has passed by the
-- index; each is checked again here, since an update may have renewed it.
local gone = 0
for i = 8, #ARGV do
  local sid = ARGV[i]
  local v = redis.call('HMGET', SUB .. sid, 'q', 'e')
  if not v[1] then
    redis.call('ZREM', SUBSCRIPTIONS, sid)
  elseif v[1] == Q.rec and tonumber(v[2]) <= NOW then
    drop_subscription(Q, sid)
    gone = gone + 1
  end
end
return gone
