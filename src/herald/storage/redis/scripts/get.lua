-- ARGV[8..] message ids. Unexpired ones of this queue, in the order asked.
local out = {}
for i = 8, #ARGV do
  local s = state(ARGV[i])
  if s and s.q == Q.rec and s.e > NOW then
    out[#out + 1] = view(ARGV[i])
  end
end
return out
