-- wrk script for bench/token_path.py: POSTs form bodies read from a pool file.
--
-- Environment (set by token_path.py):
--   BENCH_PATH     the path to POST to
--   BENCH_AUTH     the Authorization header (may be empty)
--   BENCH_POOL     a file, one request a line: "BODY" or "COOKIE<TAB>BODY"
--   BENCH_CYCLE    "1": reuse the lines round robin (a constant request); "0": each line
--                  once (single-use codes and refresh tokens), the thread stops when its
--                  share is used up
--   BENCH_EXPECT   a status that counts as success (200, or 303 for a login)
--   BENCH_REFUSE   a Lua pattern that makes a success response an error ("active":%s*false)
--   BENCH_THREADS  wrk's -t, so each thread takes its own share of the pool
--
-- The rate is computed from the first request sent to the last response received, per
-- thread (LuaJIT's ffi reads the clock), since wrk divides by -d even when a thread stops
-- early. done() prints one JSON line that token_path.py reads.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local timespec = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local requests, position, cycle, expect, refuse
ok, bad, first, last = 0, 0, 0, 0

function init(args)
  local share, total = tonumber(id), tonumber(os.getenv("BENCH_THREADS") or "1")
  local path, auth = os.getenv("BENCH_PATH"), os.getenv("BENCH_AUTH") or ""
  cycle = os.getenv("BENCH_CYCLE") == "1"
  expect = tonumber(os.getenv("BENCH_EXPECT") or "200")
  refuse = os.getenv("BENCH_REFUSE") or ""
  if refuse == "" then refuse = nil end
  requests, position = {}, 0
  local index = 0
  for line in io.lines(os.getenv("BENCH_POOL")) do
    if cycle or index % total == share then
      local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
      if auth ~= "" then headers["Authorization"] = auth end
      local cookie, body = line:match("^([^\t]*)\t(.*)$")
      if cookie then headers["Cookie"] = cookie else body = line end
      table.insert(requests, wrk.format("POST", path, headers, body))
    end
    index = index + 1
  end
end

function request()
  if first == 0 then first = now() end
  position = position + 1
  if position > #requests then
    if cycle then
      position = 1
    else
      -- Nothing left to send: stop this thread (what is in flight is not counted).
      wrk.thread:stop()
      return wrk.format("GET", "/__pool_exhausted__")
    end
  end
  return requests[position]
end

function response(status, headers, body)
  last = now()
  if status == expect and not (refuse and body and body:find(refuse)) then
    ok = ok + 1
  else
    bad = bad + 1
    if bad <= 3 then io.stderr:write("unexpected " .. status .. ": " .. (body or ""):sub(1, 300) .. "\n") end
  end
end

function done(summary, latency, _)
  local total_ok, total_bad, started, ended = 0, 0, math.huge, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_bad = total_bad + thread:get("bad")
    local f, l = thread:get("first"), thread:get("last")
    if f > 0 and f < started then started = f end
    if l > ended then ended = l end
  end
  local errors = summary.errors
  local socket_errors = errors.connect + errors.read + errors.write + errors.timeout
  io.write(string.format(
    '{"ok": %d, "bad": %d, "socket_errors": %d, "seconds": %.4f, "p50_ms": %.2f, "p99_ms": %.2f, "wrk_requests": %d}\n',
    total_ok, total_bad, socket_errors, math.max(ended - started, 1e-9),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests))
end
