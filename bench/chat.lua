-- wrk script: POST an OpenAI chat completion.
-- Environment (set by scripts/bench.sh):
--   BENCH_MODEL    model name to send (default gpt-4o-mini)
--   BENCH_AUTH     bearer token (optional)
--   BENCH_HEADERS  extra headers, "Name: value" pairs separated by "|" (optional)
--   BENCH_STREAM   "1" to ask for a streamed answer
local model = os.getenv("BENCH_MODEL") or "gpt-4o-mini"
local auth = os.getenv("BENCH_AUTH")
local extra = os.getenv("BENCH_HEADERS")
local stream = os.getenv("BENCH_STREAM") == "1"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if auth and auth ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. auth
end
if extra and extra ~= "" then
  for pair in string.gmatch(extra, "[^|]+") do
    local name, value = string.match(pair, "^%s*([^:]+):%s*(.-)%s*$")
    if name then wrk.headers[name] = value end
  end
end
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"system","content":"You are a helpful assistant."},' ..
  '{"role":"user","content":"Hello! Say hello back in one short sentence."}],"max_tokens":64' ..
  (stream and ',"stream":true' or '') .. '}'

function done(summary, latency, requests)
  io.write(string.format("BENCH_RESULT requests=%d duration_us=%d non2xx=%d errors=%d p50_us=%d p90_us=%d p99_us=%d mean_us=%.1f\n",
    summary.requests, summary.duration,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
