-- Claims that leave the queue as deep as they found it: claim
-- MESSAGES_PER_CLAIM messages, then release the claim with DELETE
-- .../claims/ID, which makes its messages claimable again. RELEASE=no keeps
-- every claim (for CLAIM_TTL seconds), so claimed messages pile up at the
-- head of the queue. wrk's latency figures mix claims and releases: it times
-- requests, not the pairs.
--
-- As in claim_delete.lua, a thread's connections share one list of pending
-- releases, since wrk does not say which connection an answer came on; a
-- claim and a release both may answer 204, so answers_204 counts both.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")

local release = (os.getenv("RELEASE") or "yes") ~= "no"
local claim_ttl = tonumber(os.getenv("CLAIM_TTL") or "300")
local claim_grace = tonumber(os.getenv("CLAIM_GRACE") or "60")

claims_sent = 0
claims_full = 0
claimed = 0
releases_sent = 0
answers_204 = 0
failed = 0

local headers
local claims = {}
local pending = {}

function setup(thread) common.setup(thread) end

function init(args)
  math.randomseed(os.time() + (id or 0) * 7919)
  headers = common.headers()
  local body = string.format('{"ttl":%d,"grace":%d}', claim_ttl, claim_grace)
  for _, name in ipairs(common.queue_names()) do
    local path = common.prefix .. "/v2/queues/" .. name .. "/claims?limit=" .. common.per_claim
    claims[#claims + 1] = wrk.format("POST", path, headers, body)
  end
end

function request()
  local n = #pending
  if n > 0 then
    local entry = pending[n]
    pending[n] = nil
    releases_sent = releases_sent + 1
    return entry
  end
  claims_sent = claims_sent + 1
  return claims[math.random(#claims)]
end

function response(status, hdrs, body)
  if status == 204 then
    answers_204 = answers_204 + 1
    return
  end
  if status ~= 201 then
    failed = failed + 1
    return
  end
  claims_full = claims_full + 1
  local queue, claim
  for href in body:gmatch('"href"%s*:%s*"([^"]+)"') do
    claimed = claimed + 1
    if not claim then
      queue, claim = href:match("/queues/([^/]+)/messages/[^?]+%?claim_id=([^&\"]+)")
    end
  end
  if release and claim then
    local path = common.prefix .. "/v2/queues/" .. queue .. "/claims/" .. claim
    pending[#pending + 1] = wrk.format("DELETE", path, headers)
  end
end

function done(summary, latency, requests)
  common.done(release and "claim_release" or "claim_keep",
    { "claims_sent", "claims_full", "claimed", "releases_sent", "answers_204", "failed" },
    summary, latency)
end
