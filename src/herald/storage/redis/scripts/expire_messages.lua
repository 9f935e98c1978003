-- ARGV[8..] ids of this queue's messages whose expiry has passed by the index;
-- each is checked again here, since a claim may have extended it since.
local gone = 0
for i = 8, #ARGV do
  local id = ARGV[i]
  local s = state(id)
  if not s then
    redis.call('ZREM', EXPIRING, id)
  elseif s.q == Q.rec and s.e <= NOW then
    drop(Q, id)
    gone = gone + 1
  end
end
return gone
