-- One fixed request, repeated by wrk on keep-alive connections (bench/protocol.py runs it).
-- The method, body and extra headers come from the environment, so one script serves every
-- scenario; done() prints one line the harness parses ("BENCH" then JSON).
-- With BENCH_TOKENS (a file of access tokens, one per line), "{token}" in the body and the
-- headers stands for the next token of the file, taken in turn by every connection of the thread.
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY") or ""
if body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end

local tokens_file = os.getenv("BENCH_TOKENS") or ""
if tokens_file ~= "" then
  local tokens = {}
  for token in io.lines(tokens_file) do
    if token ~= "" then tokens[#tokens + 1] = token end
  end
  local next_token = 0

  -- A plain replacement: no pattern characters in the placeholder, none taken from the token.
  local function with_token(text, token)
    local from, to = text:find("{token}", 1, true)
    if not from then return text end
    return text:sub(1, from - 1) .. token .. text:sub(to + 1)
  end

  function request()
    next_token = next_token % #tokens + 1
    local token = tokens[next_token]
    local headers = {}
    for name, value in pairs(wrk.headers) do
      -- Content-Length (a number) is the previous body's: wrk.format sets this one's.
      if type(value) == "string" then headers[name] = with_token(value, token) end
    end
    return wrk.format(nil, nil, headers, wrk.body and with_token(wrk.body, token) or nil)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"errors": {"status": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
