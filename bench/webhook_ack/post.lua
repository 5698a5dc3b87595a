-- wrk script of bench/webhook_ack.py:
--   wrk -t2 -c16 -d10s -s post.lua URL -- BODY_FILE TOKEN RUN_TAG
-- POSTs the Issue Hook body to /webhook with a unique Idempotency-Key per request
-- (run tag, thread id, counter), counts the answers, and prints one line
-- "WEBHOOK_ACK {json}" with the counts and latency percentiles (microseconds).

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  body = file:read("*a")
  file:close()
  prefix = string.format("%s-t%d-", args[3], tid)
  counter = 0
  ok2xx = 0
  queued = 0
  non2xx = 0
  headers = {
    ["Content-Type"] = "application/json",
    ["X-Gitlab-Event"] = "Issue Hook",
    ["X-Gitlab-Token"] = args[2],
  }
end

function request()
  counter = counter + 1
  headers["Idempotency-Key"] = prefix .. counter
  return wrk.format("POST", "/webhook", headers, body)
end

function response(status, _, answer)
  if status >= 200 and status < 300 then
    ok2xx = ok2xx + 1
    if status == 202 and string.find(answer, '"queued"', 1, true) then
      queued = queued + 1
    end
  else
    non2xx = non2xx + 1
  end
end

function done(summary, latency, _)
  local ok, q, bad, sent = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("ok2xx")
    q = q + thread:get("queued")
    bad = bad + thread:get("non2xx")
    sent = sent + thread:get("counter")
  end
  local e = summary.errors
  io.write(string.format(
    'WEBHOOK_ACK {"requests":%d,"sent":%d,"ok_2xx":%d,"queued_202":%d,"non_2xx":%d,'
      .. '"duration_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,'
      .. '"timeouts":%d,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"max_us":%.1f}\n',
    summary.requests, sent, ok, q, bad, summary.duration, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
