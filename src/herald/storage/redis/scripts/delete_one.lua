-- ARGV[8] message id, [9] the caller's claim id ('' for none). The condition
-- below restates `delete_verdict`; the driver checks the two agree.
-- Returns {found, live claim id or '', given claim is live, deleted}.
local id, given = ARGV[8], ARGV[9]
local s = state(id)
if not s or s.q ~= Q.rec or s.e <= NOW then
  return {0, '', 0, 0}
end
local live = ''
if s.ce > NOW then
  live = s.ci
end
local given_live = given ~= '' and claim_is_live(given)
local ok = (given == '' and live == '') or (given_live and live == given)
if ok then
  drop(Q, id)
end
return {1, live, given_live and 1 or 0, ok and 1 or 0}
