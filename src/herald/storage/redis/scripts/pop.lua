-- ARGV[8] limit. Removes and returns the oldest claimable messages.
normalize(Q)
local limit = tonumber(ARGV[8])
local out = {}
scan(Q.ready, nil, limit + 16, function(id)
  local s = state(id)
  if not s or s.e <= NOW then
    drop(Q, id)
  elseif s.a > NOW or s.ce > NOW then
    return false
  else
    out[#out + 1] = view(id)
    drop(Q, id)
  end
  return #out >= limit
end)
return out
