-- ARGV[8..] ids of this queue's claims whose expiry has passed by the index.
local gone = 0
for i = 8, #ARGV do
  local cid = ARGV[i]
  local c = redis.call('HMGET', CLAIM .. cid, 'q', 'e')
  if not c[1] then
    redis.call('ZREM', CLAIMS, cid)
    redis.call('DEL', MEMBERS .. cid)
  elseif c[1] == Q.rec and tonumber(c[2]) <= NOW then
    redis.call('DEL', CLAIM .. cid, MEMBERS .. cid)
    redis.call('SREM', Q.claims, cid)
    redis.call('ZREM', CLAIMS, cid)
    gone = gone + 1
  end
end
return gone
