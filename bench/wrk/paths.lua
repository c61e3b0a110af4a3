-- wrk script for bench/load: GET requests for paths drawn uniformly at random from a file (one
-- path a line), with no header beyond wrk's Host (so no Accept-Encoding: raw bytes).
--   wrk -s bench/wrk/paths.lua URL -- PATHS_FILE
-- Each thread draws from its own generator, seeded by the thread's number, so two runs against
-- two servers ask for the same paths in the same order. done() prints one line that bench/load
-- reads:
--   wrk-result requests=N bytes=N duration_us=N p50_us=N p99_us=N connect=N read=N write=N
--     timeout=N status=N
-- (status: responses with a status above 399, as wrk counts them). There is no response() hook on
-- purpose: defining one makes wrk copy every body into a per-connection buffer and then into a
-- Lua string, which at 256 connections costs wrk more CPU than the servers it measures (5x fewer
-- requests/s against nginx on 4 MiB blocks) and a whole response of memory per connection.
-- bench/load counts non-2xx answers at the servers instead.

local next_thread_number = 1

function setup(thread)
  thread:set("thread_number", next_thread_number)
  next_thread_number = next_thread_number + 1
end

local requests = {}

function init(args)
  local file = args[1]
  if file == nil then
    error("usage: wrk -s paths.lua URL -- PATHS_FILE")
  end
  for path in io.lines(file) do
    if path ~= "" then
      requests[#requests + 1] = wrk.format("GET", path)
    end
  end
  if #requests == 0 then
    error("no paths in " .. file)
  end
  math.randomseed(thread_number)
end

function request()
  return requests[math.random(#requests)]
end

function done(summary, latency, _)
  local errors = summary.errors
  io.write(string.format(
    "wrk-result requests=%d bytes=%d duration_us=%d p50_us=%d p99_us=%d connect=%d read=%d " ..
      "write=%d timeout=%d status=%d\n",
    summary.requests, summary.bytes, summary.duration, latency:percentile(50),
    latency:percentile(99), errors.connect, errors.read, errors.write, errors.timeout,
    errors.status))
end
