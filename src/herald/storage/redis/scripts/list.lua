-- ARGV[5] marker ('' for none), [6] limit, [7] echo, [8] client id,
-- [9] include claimed, [10] include delayed ('1' or '0').
-- Only filtered-out messages are walked over: the poster's own without echo,
-- and claimed or delayed ones when just one of the two is asked for.
local after = nil
if ARGV[5] ~= '' then
  after = ARGV[5]
end
local limit, echo, client = tonumber(ARGV[6]), ARGV[7] == '1', ARGV[8]
local claimed, delayed = ARGV[9] == '1', ARGV[10] == '1'
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
