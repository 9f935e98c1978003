-- Consumers: claim MESSAGES_PER_CLAIM messages (for CLAIM_TTL seconds, grace
-- CLAIM_GRACE), then delete them, either one DELETE per message with its
-- claim id (DELETE=each, the default) or one bulk DELETE ?ids= per claim
-- (DELETE=bulk); or release the claim with DELETE .../claims/ID instead
-- (DELETE=release), which makes its messages claimable again and leaves the
-- queue as deep as it was.
--
-- wrk runs all of a thread's connections in one Lua state and does not say
-- which connection an answer came on, so the thread keeps one shared list of
-- pending deletes: a claim's answer appends its messages, and the next
-- request on any connection takes a delete from the list, or claims again
-- when it is empty. A claim answers 201 with messages or 204 without, and a
-- delete answers 204 too: the counters below let compare.py tell them apart
-- (204s minus the claims that got no 201).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")

local mode = os.getenv("DELETE") or "each"
local release = mode == "release"
local claim_ttl = tonumber(os.getenv("CLAIM_TTL") or "300")
local claim_grace = tonumber(os.getenv("CLAIM_GRACE") or "60")

claims_sent = 0
claims_full = 0
deletes_sent = 0
ids_sent = 0
answers_204 = 0
failed = 0

local headers
local claims = {}
local pending = {}  -- each entry: { request bytes, messages it deletes }

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
    deletes_sent = deletes_sent + 1
    ids_sent = ids_sent + entry[2]
    return entry[1]
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
  local ids = {}
  local queue, claim
  for href in body:gmatch('"href"%s*:%s*"([^"]+)"') do
    if mode == "each" then
      pending[#pending + 1] = { wrk.format("DELETE", common.prefix .. href, headers), 1 }
    else
      local q, mid = href:match("/queues/([^/]+)/messages/([^?]+)")
      if mid then
        queue, claim = q, claim or href:match("claim_id=([^&]+)")
        ids[#ids + 1] = mid
      end
    end
  end
  if #ids > 0 then
    local path = common.prefix .. "/v2/queues/" .. queue
    if release then
      path = path .. "/claims/" .. claim
    else
      path = path .. "/messages?ids=" .. table.concat(ids, ",")
    end
    pending[#pending + 1] = { wrk.format("DELETE", path, headers), #ids }
  end
end

function done(summary, latency, requests)
  local names = { each = "claim_delete_each", bulk = "claim_bulk_delete", release = "claim_release" }
  common.done(names[mode] or mode,
    { "claims_sent", "claims_full", "deletes_sent", "ids_sent", "answers_204", "failed" },
    summary, latency)
end
