-- wrk script for bench/soak.py: bench/ingest.lua's requests, paced. Each connection waits
-- SOAK_DELAY_MS between requests, so the rate is about connections * 1000 / delay.
dofile(os.getenv("BENCH_DIR") .. "/ingest.lua")

local pause = tonumber(os.getenv("SOAK_DELAY_MS") or "0")

function delay()
  return pause
end
