-- wrk script: POST one GraphQL document with fresh variables on every request.
-- One script for every workload and every server (carehub, PostGraphile).
-- Adapted from ../shared/bench/wrk-graphql.lua: variables come from a template filled from
-- a random line of a TSV parameter file, and the Authorization header may come from that line
-- too (one token per head teacher / clinician), so every request can act as another user.
--
--   BENCH_DOC=bench/queries/a_child.graphql BENCH_PARAMS=$DATA/children.tsv \
--   BENCH_VARS='{"id":"$1"}' BENCH_AUTH="Bearer eyJ..." \
--   wrk -t1 -c8 -d20s --latency -s bench/lib/wrk-graphql.lua http://127.0.0.1:47080/graphql
--
-- Environment:
--   BENCH_DOC        path of the .graphql document (required)
--   BENCH_VARS       JSON template of the variables (default {}). Placeholders:
--                      $1 .. $9   column n of the random line of BENCH_PARAMS
--                      $now       the current time, ISO-8601 UTC (second precision)
--                      $uuid      a fresh random UUID (version 4)
--   BENCH_PARAMS     TSV file, one parameter set per line (required if BENCH_VARS uses $n
--                    or BENCH_AUTH_COL is set)
--   BENCH_PICK       random (default): a random line per request;
--                    seq: each line at most once, in order -- request k (0-based) of thread t
--                    (1-based) takes line t + k * BENCH_THREADS; for a pool of records each
--                    request consumes (workload F). Past the end it wraps around (the requests
--                    then fail, which the errors column shows; bench/run also checks the pool).
--   BENCH_THREADS    with BENCH_PICK=seq: wrk's thread count (-t), default 1
--   BENCH_AUTH       optional fixed Authorization header value ("Bearer ...")
--   BENCH_AUTH_COL   optional: column of BENCH_PARAMS holding the bearer token of the line's user
--   BENCH_PURPOSE    optional X-Purpose header
--   BENCH_SEED       optional base random seed (each wrk thread adds its index)
--   BENCH_ERR_FILE   optional: the first failed answer of each thread (status + body) is appended here
--
-- done() prints one machine-readable line:
--   RESULT requests=.. duration_s=.. rps=.. p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. mean_ms=..
--          socket_errors=.. non2xx=.. gql_errors=..
-- gql_errors counts HTTP-2xx answers whose body holds an "errors" member.

local function getenv(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local function read_all(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. path)
  local s = f:read("*a")
  f:close()
  return s
end

local function split_tab(line)
  local t = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do t[#t + 1] = field end
  return t
end

local function read_params(path)
  local t = {}
  for line in io.lines(path) do
    if line ~= "" then t[#t + 1] = split_tab(line) end
  end
  assert(#t > 0, "no lines in " .. path)
  return t
end

local function json_string(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    if c == "\n" then return "\\n" end
    if c == "\r" then return "\\r" end
    if c == "\t" then return "\\t" end
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. s .. '"'
end

local doc_json = json_string(read_all(assert(os.getenv("BENCH_DOC"), "BENCH_DOC not set")))
local vars_template = getenv("BENCH_VARS", "{}")
local params_path = getenv("BENCH_PARAMS", nil)
local auth_fixed = getenv("BENCH_AUTH", nil)
local auth_col = tonumber(getenv("BENCH_AUTH_COL", ""))
local purpose = getenv("BENCH_PURPOSE", nil)
local err_file = getenv("BENCH_ERR_FILE", nil)
local err_saved = false
local pick_seq = getenv("BENCH_PICK", "random") == "seq"
local seq_stride = tonumber(getenv("BENCH_THREADS", "1")) or 1
local seq_k = 0

local uses_params = vars_template:find("%$%d") ~= nil or auth_col ~= nil
local uses_now = vars_template:find("$now", 1, true) ~= nil
local uses_uuid = vars_template:find("$uuid", 1, true) ~= nil
local params
if uses_params then
  params = read_params(assert(params_path, "BENCH_PARAMS not set but BENCH_VARS uses $n"))
end

-- per-thread bookkeeping (each wrk thread has its own Lua state)
local threads = {}
local next_tid = 1
function setup(thread)
  thread:set("tid", next_tid)
  threads[#threads + 1] = thread
  next_tid = next_tid + 1
end

non2xx = 0
gql_errors = 0
function init(args)
  math.randomseed(tonumber(getenv("BENCH_SEED", tostring(os.time()))) + (tid or 0) * 7919)
end

local hex = "0123456789abcdef"
local function uuid4()
  local t = {}
  for i = 1, 32 do
    local n = math.random(16)
    if i == 13 then n = 5 elseif i == 17 then n = 9 + (n % 4) end  -- version 4, variant 10xx
    t[#t + 1] = hex:sub(n, n)
  end
  local s = table.concat(t)
  return s:sub(1, 8) .. "-" .. s:sub(9, 12) .. "-" .. s:sub(13, 16) .. "-" .. s:sub(17, 20) .. "-" .. s:sub(21, 32)
end

local base_headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
if purpose then base_headers["X-Purpose"] = purpose end
if auth_fixed then base_headers["Authorization"] = auth_fixed end

function request()
  local row
  if params and pick_seq then
    row = params[((tid or 1) - 1 + seq_k * seq_stride) % #params + 1]
    seq_k = seq_k + 1
  elseif params then
    row = params[math.random(#params)]
  end
  local vars = vars_template
  if row then
    vars = vars:gsub("%$(%d)", function(d) return row[tonumber(d)] or "" end)
  end
  if uses_now then vars = vars:gsub("%$now", os.date("!%Y-%m-%dT%H:%M:%SZ")) end
  if uses_uuid then vars = vars:gsub("%$uuid", uuid4) end
  local headers = base_headers
  if auth_col and row then
    headers = {}
    for k, v in pairs(base_headers) do headers[k] = v end
    headers["Authorization"] = "Bearer " .. row[auth_col]
  end
  return wrk.format("POST", nil, headers, '{"query":' .. doc_json .. ',"variables":' .. vars .. '}')
end

local function save_error(status, body)
  if err_file and not err_saved then
    err_saved = true
    local f = io.open(err_file, "a")
    if f then
      f:write("HTTP ", tostring(status), " ", (body or ""):sub(1, 2000), "\n")
      f:close()
    end
  end
end

function response(status, hdrs, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    save_error(status, body)
  elseif body:find('"errors"', 1, true) then
    gql_errors = gql_errors + 1
    save_error(status, body)
  end
end

function done(summary, latency, requests)
  local bad, gqlerr = 0, 0
  for _, t in ipairs(threads) do
    bad = bad + (tonumber(t:get("non2xx")) or 0)
    gqlerr = gqlerr + (tonumber(t:get("gql_errors")) or 0)
  end
  local e = summary.errors
  local dur = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f socket_errors=%d non2xx=%d gql_errors=%d\n",
    summary.requests, dur, summary.requests / dur,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000,
    e.connect + e.read + e.write + e.timeout, bad, gqlerr))
end
