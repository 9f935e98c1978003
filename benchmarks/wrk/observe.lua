-- Observers: list MESSAGES_PER_LIST messages per page with echo=true and
-- marker paging. A thread walks its queues one after the other, each from its
-- head (or from START_MARKER when set) to its end, and then starts over; its
-- connections share the walk (answers cannot be tied to the connection that
-- asked), so several may read the same page, as observers of one
-- subscription would. WALK=no asks for the first page every time instead.
-- INCLUDE_CLAIMED=after_first (the default) adds include_claimed=true to every
-- page but a walk's first, because Zaqar 23.0.1 on Redis answers 503 to it
-- without a marker; yes adds it to every page, no to none.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")

local start = os.getenv("START_MARKER")
if start == "" then start = nil end
local walk = (os.getenv("WALK") or "yes") ~= "no"
local include_claimed = os.getenv("INCLUDE_CLAIMED") or "after_first"

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

local base_query = "?limit=" .. common.per_list .. "&echo=true"

function request()
  local name = names[current]
  local query = base_query
  local marker = markers[name] or start
  if include_claimed == "yes" or (include_claimed == "after_first" and markers[name]) then
    query = query .. "&include_claimed=true"
  end
  if marker then
    query = query .. "&marker=" .. marker
  end
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
    -- The end of the current queue: on to the next one, from its start.
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
  common.done("observe", { "listed", "pages", "empty_pages", "failed" }, summary, latency)
end
