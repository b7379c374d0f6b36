-- wrk script for bench/ingest.py: POST /api/event with varied Plausible bodies, browser
-- User-Agents and X-Forwarded-For client IPs (the server trusts 127.0.0.1 as a proxy).
-- Prints one line "WRK_JSON {...}" with the counts and latency percentiles at the end.

local agents = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
  "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
}
local referrers = { "", "https://www.google.com/", "https://news.ycombinator.com/",
                    "https://t.co/abc", "https://duckduckgo.com/" }
local campaigns = { "", "?utm_source=newsletter&utm_medium=email&utm_campaign=launch",
                    "?utm_source=twitter" }
local visitors = 20000 -- distinct client IPs per wrk thread (so sessions see repeat visits)

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local n = counter
  local v = n % visitors
  local ip = string.format("10.%d.%d.%d", tid, math.floor(v / 250), v % 250 + 1)
  local ua = agents[v % #agents + 1]
  local url = string.format("https://example.com/p/%d%s", n % 500, campaigns[n % #campaigns + 1])
  local body
  if n % 10 == 0 then
    body = string.format('{"n":"signup","u":"%s","d":"example.com","p":{"plan":"pro","n":"%d"}}',
                         url, n % 7)
  else
    body = string.format('{"n":"pageview","u":"%s","d":"example.com","r":"%s"}',
                         url, referrers[n % #referrers + 1])
  end
  return wrk.format("POST", "/api/event", {
    ["Content-Type"] = "text/plain",
    ["User-Agent"] = ua,
    ["X-Forwarded-For"] = ip,
  }, body)
end

dofile(os.getenv("BENCH_DIR") .. "/wrk_report.lua")
