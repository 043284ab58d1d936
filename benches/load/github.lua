-- wrk script for scripts/bench.sh: a GitHub-signed JSON webhook with a unique delivery id per
-- request, so hookwall's de-duplication never short-circuits the pipeline. GitHub signs the
-- body only (X-Hub-Signature-256), so one signed body serves every request; the delivery id
-- (X-GitHub-Delivery) is what hookwall de-duplicates on.
--
-- Environment: BENCH_BODY (file with the body), BENCH_SIGNATURE ("sha256=…"), BENCH_RUN (a run
-- id, unique per wrk invocation), BENCH_PAUSE_MS (optional: the pause before each request of a
-- connection), or BENCH_RATE (optional: requests/s for the whole run, spread over the
-- connections) with BENCH_CONNECTIONS.

local counter = 0
local prefix = "bench"

-- Defined at load time (wrk decides whether a script has a delay before init runs).
-- BENCH_PAUSE_MS, when set, is the pause before each request of a connection, in (fractional)
-- milliseconds: wrk's delay is whole milliseconds, so each pause is the floor or the ceiling,
-- drawn so that they average to it. bench.sh calibrates it to reach a target rate.
local pause = tonumber(os.getenv("BENCH_PAUSE_MS") or "")
local rate = tonumber(os.getenv("BENCH_RATE") or "")
local connections = tonumber(os.getenv("BENCH_CONNECTIONS") or "")
if not pause and rate and connections and rate > 0 then
  -- Each connection waits connections / rate seconds before each request (its response time
  -- comes on top, so the rate reached is lower).
  pause = connections * 1000 / rate
end
if pause and pause > 0 then
  local whole = math.floor(pause)
  local fraction = pause - whole
  function delay()
    if math.random() < fraction then
      return whole + 1
    end
    return whole
  end
end

local function read_file(path)
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  prefix = (os.getenv("BENCH_RUN") or "run") .. "-" .. tostring(thread_id or 0) .. "-"
  wrk.method = "POST"
  wrk.body = read_file(assert(os.getenv("BENCH_BODY"), "BENCH_BODY is not set"))
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-GitHub-Event"] = "push"
  wrk.headers["X-Hub-Signature-256"] = assert(os.getenv("BENCH_SIGNATURE"), "BENCH_SIGNATURE is not set")
end

function request()
  counter = counter + 1
  wrk.headers["X-GitHub-Delivery"] = prefix .. counter
  return wrk.format()
end

function done(summary, latency, requests)
  local p = function(q) return latency:percentile(q) / 1000.0 end
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d errors_status=%d errors_socket=%d\n",
    summary.requests / (summary.duration / 1e6), p(50), p(99), summary.requests,
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
