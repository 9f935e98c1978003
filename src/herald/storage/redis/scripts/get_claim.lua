-- ARGV[8] claim id. Returns {ttl, updated, messages} or nil.
local cid = ARGV[8]
local c = redis.call('HMGET', CLAIM .. cid, 'q', 't', 'u', 'e')
if c[1] ~= Q.rec or tonumber(c[4]) <= NOW then
  return false
end
local out = {}
for _, id in ipairs(redis.call('ZRANGE', MEMBERS .. cid, 0, -1)) do
  local s = state(id)
  if s and s.ci == cid and s.ce > NOW and s.e > NOW then
    out[#out + 1] = view(id)
  end
end
return {c[2], c[3], out}
