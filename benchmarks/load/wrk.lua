-- wrk script of the HTTP load benchmark (benchmarks/load_http.py).
-- Arguments after `--`: METHOD TOKEN BODY ("-" for none).  A bearer TOKEN goes in
-- the Authorization header, a BODY is sent form-encoded (the login form).
-- Every response's status is counted; done() prints one RESULT line and one
-- STATUS line per status, which the driver reads.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   statuses = {}
   wrk.method = args[1]
   if args[2] ~= "-" then
      wrk.headers["Authorization"] = "Bearer " .. args[2]
   end
   if args[3] ~= "-" then
      wrk.body = args[3]
      wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
   end
   req = wrk.format()
end

function request()
   return req
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f "
         .. "connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean,
      e.connect, e.read, e.write, e.status, e.timeout))
   local total = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         total[status] = (total[status] or 0) + count
      end
   end
   for status, count in pairs(total) do
      io.write(string.format("STATUS %d %d\n", status, count))
   end
end
