-- Observers from a fixed place: GET MESSAGES_PER_LIST messages with
-- echo=true from the head of the queue, or from START_MARKER when set, then
-- onwards by the next links; at the end of the queue the walk starts over
-- from that place. WALK=no asks for the first page every time instead.
-- INCLUDE_CLAIMED=yes adds include_claimed=true. A thread's connections
-- share one walk per queue (answers cannot be tied to a connection), so
-- several may read the same page.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")

local start = os.getenv("START_MARKER")
if start == "" then start = nil end
local walk = (os.getenv("WALK") or "yes") ~= "no"
local base_query = "?limit=" .. common.per_list .. "&echo=true"
if (os.getenv("INCLUDE_CLAIMED") or "no") == "yes" then
  base_query = base_query .. "&include_claimed=true"
end

listed = 0
pages = 0
empty_pages = 0
failed = 0

local headers
local names
local current = 1
local markers = {}

function setup(thread) common.setup(thread) end

function init(args)
  math.randomseed(os.time() + (id or 0) * 7919)
  headers = common.headers()
  names = common.queue_names()
  current = ((id or 0) % #names) + 1
end

function request()
  local name = names[current]
  local marker = markers[name] or start
  local query = base_query
  if marker then query = query .. "&marker=" .. marker end
  return wrk.format("GET", common.prefix .. "/v2/queues/" .. name .. "/messages" .. query, headers)
end

function response(status, hdrs, body)
  if status ~= 200 then
    failed = failed + 1
    return
  end
  pages = pages + 1
  local count = 0
  for _ in body:gmatch('"age"%s*:') do count = count + 1 end
  if count == 0 then
    -- Past the end: the next queue, from the start again.
    empty_pages = empty_pages + 1
    markers[names[current]] = nil
    current = current % #names + 1
    return
  end
  listed = listed + count
  if walk then
    local queue, marker = body:match('/queues/([^/"]+)/messages%?[^"]-marker=([^&"]+)')
    if queue then markers[queue] = marker end
  end
end

function done(summary, latency, requests)
  common.done(walk and "list_walk" or "list_page",
    { "listed", "pages", "empty_pages", "failed" }, summary, latency)
end
