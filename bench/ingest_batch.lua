-- wrk script for bench/ingest.py --batch: POST /api/events with native batches of
-- BATCH_EVENTS events (default 1000), authenticated with the API key in LIVEINSIGHT_BENCH_KEY.
-- Each event names its own visitor (ip, user_agent: allowed for API-key senders).
-- Prints "WRK_JSON {...}" like ingest.lua.

local key = os.getenv("LIVEINSIGHT_BENCH_KEY") or ""
local size = tonumber(os.getenv("BATCH_EVENTS") or "1000")
local agents = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
  "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
}
local bodies = {}
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  -- A few distinct batches per thread, built once: the server's work is what is measured.
  for b = 1, 8 do
    local items = {}
    for i = 1, size do
      local v = (b * size + i) % 50000
      items[i] = string.format(
        '{"event_type":"pageview","page_url":"https://example.com/p/%d","domain":"example.com",' ..
        '"ip":"10.%d.%d.%d","user_agent":"%s"}',
        i % 500, tid, math.floor(v / 250) % 256, v % 250 + 1, agents[v % #agents + 1])
    end
    bodies[b] = "[" .. table.concat(items, ",") .. "]"
  end
end

function request()
  counter = counter + 1
  return wrk.format("POST", "/api/events", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
  }, bodies[counter % #bodies + 1])
end

dofile(os.getenv("BENCH_DIR") .. "/wrk_report.lua")
