-- ARGV[8] marker ('' for none), [9] limit, [10] echo, [11] client id,
-- [12] include claimed, [13] include delayed ('1' or '0').
-- Only filtered-out messages are walked over: the poster's own without echo,
-- and claimed or delayed ones when just one of the two is asked for.
local after = nil
if ARGV[8] ~= '' then
  after = ARGV[8]
end
local limit, echo, client = tonumber(ARGV[9]), ARGV[10] == '1', ARGV[11]
local claimed, delayed = ARGV[12] == '1', ARGV[13] == '1'
local source = Q.ids
if not claimed and not delayed then
  normalize(Q)
  source = Q.ready
end
local out = {}
scan(source, after, limit + 16, function(id)
  local s = state(id)
  if not s or s.e <= NOW then
    drop(Q, id)
  elseif (not delayed and s.a > NOW) or (not claimed and s.ce > NOW)
      or (not echo and s.c == client) then
    return false
  else
    out[#out + 1] = view(id)
  end
  return #out >= limit
end)
return out
