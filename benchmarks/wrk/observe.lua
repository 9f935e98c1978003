-- Observers: list MESSAGES_PER_LIST messages per page with marker paging,
-- echo=true and include_claimed=true. A thread walks its queues one after
-- the other, each from its head to its end, and then starts over; its
-- connections share the walk (answers cannot be tied to the connection that
-- asked), so several may read the same page, as observers of one
-- subscription would. The first page of a walk goes without include_claimed:
-- Zaqar 23.0.1 on Redis answers 503 to it without a marker.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")

listed = 0
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
  local marker = markers[name]
  if marker then
    query = query .. "&include_claimed=true&marker=" .. marker
  end
  return wrk.format("GET", common.prefix .. "/v2/queues/" .. name .. "/messages" .. query, headers)
end

function response(status, hdrs, body)
  if status ~= 200 then
    failed = failed + 1
    return
  end
  local count = 0
  for _ in body:gmatch('"age"%s*:') do count = count + 1 end
  if count == 0 then
    -- The end of the current queue: on to the next one, from its head.
    empty_pages = empty_pages + 1
    markers[names[current]] = nil
    current = current % #names + 1
    return
  end
  listed = listed + count
  local queue, marker = body:match('/queues/([^/"]+)/messages%?[^"]-marker=([^&"]+)')
  if queue then markers[queue] = marker end
end

function done(summary, latency, requests)
  common.done("observe", { "listed", "empty_pages", "failed" }, summary, latency)
end
