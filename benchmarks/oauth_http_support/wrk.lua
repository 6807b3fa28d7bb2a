-- The requests of one benchmark line for wrk: `wrk ... -s wrk.lua URL -- KEY=VALUE ...`
--   method=POST|GET, path=/..., body=... (%s: the token), header=Name: value (repeatable),
--   tokens=FILE (one raw token per line), once=1 (each token used once: thread t takes
--   lines offset+t, offset+t+threads, ...), offset=N, threads=N. A line "token<TAB>proof"
--   also carries a DPoP proof: %p in a header is the proof, %s the token.
-- Every answer but 200 is counted; done() prints one line "RESULT {json}".

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local method, path, body, headers, tokens, once, offset, nthreads
local next_index = 0
used = 0
bad = 0
first_bad = ""

function init(args)
  headers = {}
  method, path, body = "GET", "/", nil
  once, offset, nthreads = false, 0, 1
  local file
  for _, arg in ipairs(args) do
    local key, value = arg:match("^([^=]+)=(.*)$")
    if key == "method" then method = value
    elseif key == "path" then path = value
    elseif key == "body" then body = value
    elseif key == "header" then
      local name, v = value:match("^([^:]+):%s*(.*)$")
      headers[name] = v
    elseif key == "tokens" then file = value
    elseif key == "once" then once = value == "1"
    elseif key == "offset" then offset = tonumber(value)
    elseif key == "threads" then nthreads = tonumber(value)
    end
  end
  tokens = {}
  if file then
    for line in io.lines(file) do tokens[#tokens + 1] = line end
  end
  if once then next_index = offset + tid else next_index = tid end
end

function request()
  local b, h = body, headers
  if #tokens > 0 then
    local token = tokens[(next_index % #tokens) + 1]
    next_index = next_index + (once and nthreads or 1)
    used = used + 1
    local proof
    if token:find("\t", 1, true) then token, proof = token:match("^([^\t]*)\t(.*)$") end
    if b then b = b:gsub("%%s", token) end
    if headers["Authorization"] == "Bearer %s" then
      h = {}
      for k, v in pairs(headers) do h[k] = v end
      h["Authorization"] = "Bearer " .. token
    end
    if proof then
      h = {}
      for k, v in pairs(headers) do h[k] = (v:gsub("%%p", proof):gsub("%%s", token)) end
    end
  end
  return wrk.format(method, path, h, b)
end

function response(status, hdrs, resp_body)
  if status ~= 200 then
    bad = bad + 1
    if first_bad == "" then first_bad = status .. " " .. resp_body:sub(1, 160) end
  end
end

function done(summary, latency, requests)
  local max_used, total_bad, sample = 0, 0, ""
  for _, thread in ipairs(threads) do
    local u = thread:get("used") or 0
    if u > max_used then max_used = u end
    total_bad = total_bad + (thread:get("bad") or 0)
    local fb = thread:get("first_bad") or ""
    if sample == "" then sample = fb end
  end
  sample = sample:gsub('[\\"]', "'"):gsub("%c", " ")
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"socket_errors": %d, "non_200": %d, "max_used_per_thread": %d, "sample": "%s"}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, total_bad, max_used, sample))
end
