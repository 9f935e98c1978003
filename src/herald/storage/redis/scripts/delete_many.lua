-- ARGV[8] '1' to delete only messages held by a live claim among the claim
-- ids, [9] count of message ids, then the message ids, then the claim ids.
local filtered, n = ARGV[8] == '1', tonumber(ARGV[9])
local held = {}
for i = 10 + n, #ARGV do
  held[ARGV[i]] = true
end
for i = 10, 9 + n do
  local s = state(ARGV[i])
  if s and s.q == Q.rec and (not filtered or (held[s.ci] and s.ce > NOW)) then
    drop(Q, ARGV[i])
  end
end
return 0
