-- Returns the earliest time after now at which a delayed message of the queue
-- comes due or a claim on one ends (the scores of `delayed` and `claimed`), as
-- text; false when there is none.
local best = false
for _, set in ipairs({Q.delayed, Q.claimed}) do
  local first = redis.call('ZRANGEBYSCORE', set, '(' .. NOW_S, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #first > 0 then
    local due = tonumber(first[2])
    if not best or due < best then
      best = due
    end
  end
end
if best then
  return string.format('%.17g', best)
end
return false
