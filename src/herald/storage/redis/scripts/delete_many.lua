-- ARGV[5] '1' to delete only messages held by a live claim among the claim
-- ids, [6] count of message ids, then the message ids, then the claim ids.
local filtered, n = ARGV[5] == '1', tonumber(ARGV[6])
local held = {}
for i = 7 + n, #ARGV do
  held[ARGV[i]] = true
end
for i = 7, 6 + n do
  local s = state(ARGV[i])
  if s and s.q == Q.rec and (not filtered or (held[s.ci] and s.ce > NOW)) then
    drop(Q, ARGV[i])
  end
end
return 0
