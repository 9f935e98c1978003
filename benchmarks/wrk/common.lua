-- Shared by the workload scripts: settings from the environment, headers,
-- the message body, per-thread counters and the JSON line `done` prints.
-- wrk runs one Lua state per thread plus one for setup/done, so counters are
-- kept per thread and summed in done() through thread:get().

local M = {}

M.project = os.getenv("PROJECT") or "herald-bench"
M.prefix = os.getenv("PREFIX") or ""
M.queue_prefix = os.getenv("QUEUE_PREFIX") or "herald-bench"
M.queues = tonumber(os.getenv("QUEUES") or "4")
M.message_size = tonumber(os.getenv("MESSAGE_SIZE") or "200")
M.message_ttl = tonumber(os.getenv("MESSAGE_TTL") or "3600")
M.per_post = tonumber(os.getenv("MESSAGES_PER_POST") or "1")
M.per_claim = tonumber(os.getenv("MESSAGES_PER_CLAIM") or "10")
M.per_list = tonumber(os.getenv("MESSAGES_PER_LIST") or "10")
-- A Keystone token, sent as X-Auth-Token, for a Herald with auth = keystone.
M.auth_token = os.getenv("AUTH_TOKEN")

local function uuid4()
  local template = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
  return (template:gsub("[xy]", function(c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%x", v)
  end))
end

function M.headers()
  local headers = {
    ["Client-ID"] = uuid4(),
    ["X-Project-ID"] = M.project,
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
  }
  if M.auth_token and M.auth_token ~= "" then headers["X-Auth-Token"] = M.auth_token end
  return headers
end

function M.queue_names()
  local names = {}
  for i = 0, M.queues - 1 do
    names[#names + 1] = M.queue_prefix .. "-" .. i
  end
  return names
end

-- The same message element herald bench sends: {"ttl":…,"body":{…}} padded
-- with "x" to about MESSAGE_SIZE bytes.
function M.message()
  local skeleton = '{"ttl":' .. M.message_ttl .. ',"body":{"event":"bench","data":""}}'
  local padding = math.max(0, M.message_size - #skeleton)
  return '{"ttl":' .. M.message_ttl .. ',"body":{"event":"bench","data":"'
    .. string.rep("x", padding) .. '"}}'
end

function M.post_body(count)
  local one = M.message()
  local parts = {}
  for i = 1, count do parts[i] = one end
  return '{"messages":[' .. table.concat(parts, ",") .. "]}"
end

local threads = {}

function M.setup(thread)
  thread:set("id", #threads)
  math.randomseed(os.time() + #threads * 7919)
  threads[#threads + 1] = thread
end

-- `counters` names the per-thread globals to sum into the result.
function M.done(workload, counters, summary, latency)
  local totals = {}
  for _, name in ipairs(counters) do
    totals[name] = 0
    for _, thread in ipairs(threads) do
      totals[name] = totals[name] + (thread:get(name) or 0)
    end
  end
  local errors = summary.errors
  local fields = {
    string.format('"workload":"%s"', workload),
    string.format('"requests":%d', summary.requests),
    string.format('"duration_s":%.6f', summary.duration / 1e6),
    string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
      errors.connect, errors.read, errors.write, errors.status, errors.timeout),
    string.format('"p50_ms":%.3f', latency:percentile(50) / 1000),
    string.format('"p90_ms":%.3f', latency:percentile(90) / 1000),
    string.format('"p99_ms":%.3f', latency:percentile(99) / 1000),
    string.format('"max_ms":%.3f', latency.max / 1000),
  }
  for _, name in ipairs(counters) do
    fields[#fields + 1] = string.format('"%s":%d', name, totals[name])
  end
  io.write("WRK_RESULT {" .. table.concat(fields, ",") .. "}\n")
end

return M
