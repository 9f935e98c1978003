-- Returns {total, claimed, delayed[, oldest id, oldest created, newest id, newest created]}.
-- Finding the edges walks over expired messages not yet collected; the
-- collector keeps that walk short.
local total = redis.call('ZCOUNT', Q.expiry, '(' .. NOW_S, '+inf')
if total == 0 then
  return {0, 0, 0}
end
local claimed = redis.call('ZCOUNT', Q.claimed, '(' .. NOW_S, '+inf')
local delayed = redis.call('ZCOUNT', Q.delayed, '(' .. NOW_S, '+inf')
local function edge(command)
  local start = 0
  while true do
    local ids = redis.call(command, Q.ids, start, start + 99)
    if #ids == 0 then
      return {'', '0'}
    end
    for _, id in ipairs(ids) do
      local e = redis.call('ZSCORE', Q.expiry, id)
      if e and tonumber(e) > NOW then
        return {id, redis.call('HGET', MSG .. id, 'cr')}
      end
    end
    start = start + 100
  end
end
local oldest, newest = edge('ZRANGE'), edge('ZREVRANGE')
return {total, claimed, delayed, oldest[1], oldest[2], newest[1], newest[2]}
