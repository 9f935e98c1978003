-- ARGV[8] claim id, [9] target queue name (its keys are the second queue),
-- [10] ttl ('' keeps each message's own), [11..] message ids. Those the live
-- claim holds go to the target's tail under new ids: unclaimed, due now,
-- never claimed, created when the originals were. Returns how many moved.
local cid, target, ttl = ARGV[8], ARGV[9], ARGV[10]
if not claim_is_live(cid) then
  return 0
end
local T = queue_at(18)
local moved = 0
for i = 11, #ARGV do
  local id = ARGV[i]
  local s = state(id)
  if s and s.q == Q.rec and s.ci == cid and s.ce > NOW and s.e > NOW then
    local v = redis.call('HMGET', MSG .. id, 'b', 't', 'cr')
    local lifetime = ttl
    if lifetime == '' then
      lifetime = v[2]
    end
    -- Created only now, so that moving nothing leaves no empty queue behind.
    ensure_queue(T, target)
    drop(Q, id)
    redis.call('ZREM', MEMBERS .. cid, id)
    local new_id = string.format('%d', redis.call('INCR', NEXT_ID))
    local expires = string.format('%.17g', NOW + tonumber(lifetime))
    insert(T, new_id, s.c, v[1], lifetime, v[3], expires, NOW_S)
    moved = moved + 1
  end
end
return moved
