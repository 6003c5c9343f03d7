-- wrk script: POST pre-signed bodies from a file, one per request, in order (each thread its own slice).
-- The file has one delivery per line: "<Stripe-Signature>\t<JSON body>".
-- Prints a JSON summary line (latency percentiles in microseconds, errors) at the end.

local deliveries = {}
local path = os.getenv("BENCH_BODIES")
for line in io.lines(path) do
  local tab = string.find(line, "\t", 1, true)
  deliveries[#deliveries + 1] = {string.sub(line, 1, tab - 1), string.sub(line, tab + 1)}
end

-- Thread k of T sends deliveries k, k+T, k+2T, ...: every line once before any repeats.
local threads_total = tonumber(os.getenv("BENCH_THREADS") or "1")
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

-- BENCH_OFFSET: deliveries an earlier turn already sent, so a new turn goes on with fresh events.
local i = math.floor(tonumber(os.getenv("BENCH_OFFSET") or "0") / threads_total)
function request()
  local d = deliveries[(i * threads_total + id - 1) % #deliveries + 1]
  i = i + 1
  return wrk.format("POST", nil, {["Stripe-Signature"] = d[1], ["Content-Type"] = "application/json"}, d[2])
end

function done(summary, latency, requests)
  local e = summary.errors
  -- 1000 quantiles (0.1 % steps), so turns can be merged into one distribution.
  local quantiles = {}
  for q = 1, 1000 do
    quantiles[q] = latency:percentile(q / 10)
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50": %d, "p95": %d, "p99": %d, "max": %d, "non2xx": %d, ' ..
    '"socket_errors": %d, "quantiles": [%s]}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, e.status, e.connect + e.read + e.write + e.timeout, table.concat(quantiles, ",")))
end
