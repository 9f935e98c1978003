-- POST MESSAGES_PER_POST messages per request to a random one of QUEUES queues.
-- Counts messages only for 201 answers.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")

posted = 0
failed = 0
local requests = {}

function setup(thread) common.setup(thread) end

function init(args)
  math.randomseed(os.time() + (id or 0) * 7919)
  local headers = common.headers()
  local body = common.post_body(common.per_post)
  for _, name in ipairs(common.queue_names()) do
    local path = common.prefix .. "/v2/queues/" .. name .. "/messages"
    requests[#requests + 1] = wrk.format("POST", path, headers, body)
  end
end

function request()
  return requests[math.random(#requests)]
end

function response(status, headers, body)
  if status == 201 then
    posted = posted + common.per_post
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  common.done("post", { "posted", "failed" }, summary, latency)
end
