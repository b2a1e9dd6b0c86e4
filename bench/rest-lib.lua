-- Shared by bench/rest-history.lua and bench/rest-send.lua (wrk scripts).
--
-- The token comes from the environment (CHAT_TOKEN), so the printed wrk
-- command can be re-run as it stands.  Every response is checked: its
-- status must be the expected one (and, with check_body, its body must
-- match); done() prints one RESULT line that bench/run.sh reads:
--
--   RESULT requests=N duration_s=S rps=R lat_p50_us=.. lat_p90_us=..
--          lat_p99_us=.. lat_p999_us=.. lat_max_us=.. lat_mean_us=..
--          expected=E non_expected=N non2xx=N bad_body=N wrk_status_errors=N
--          err_connect=N err_read=N err_write=N err_timeout=N
--          statuses=201:123,503:4

local M = {}

function M.configure(opts)
    local token = os.getenv("CHAT_TOKEN")
    if token == nil or token == "" then
        io.stderr:write("rest bench: set CHAT_TOKEN to a JWT\n")
        os.exit(2)
    end

    wrk.method = opts.method or "GET"
    wrk.body = opts.body
    wrk.headers["Authorization"] = "Bearer " .. token
    if opts.body then
        wrk.headers["Content-Type"] = "application/json"
    end

    local expected = opts.status
    local check_body = opts.check_body
    local threads = {}

    function setup(thread)
        table.insert(threads, thread)
    end

    function init(args)
        n_expected = 0
        n_non2xx = 0
        n_bad_body = 0
        statuses = {}
    end

    function response(status, headers, body)
        local k = tostring(status)
        statuses[k] = (statuses[k] or 0) + 1
        if status ~= expected then
            if status < 200 or status > 299 then
                n_non2xx = n_non2xx + 1
            end
        elseif check_body and not check_body(body) then
            n_bad_body = n_bad_body + 1
        else
            n_expected = n_expected + 1
        end
    end

    function done(summary, latency, requests)
        local ok, non2xx, bad, all = 0, 0, 0, {}
        for _, t in ipairs(threads) do
            ok = ok + t:get("n_expected")
            non2xx = non2xx + t:get("n_non2xx")
            bad = bad + t:get("n_bad_body")
            for k, v in pairs(t:get("statuses")) do
                all[k] = (all[k] or 0) + v
            end
        end
        local codes = {}
        for k, v in pairs(all) do
            table.insert(codes, k .. ":" .. v)
        end
        table.sort(codes)

        local s = summary.duration / 1e6
        local e = summary.errors
        io.write(string.format(
            "RESULT requests=%d duration_s=%.3f rps=%.1f lat_p50_us=%d"
            .. " lat_p90_us=%d lat_p99_us=%d lat_p999_us=%d lat_max_us=%d"
            .. " lat_mean_us=%.0f expected=%d non_expected=%d non2xx=%d"
            .. " bad_body=%d wrk_status_errors=%d err_connect=%d"
            .. " err_read=%d err_write=%d err_timeout=%d statuses=%s\n",
            summary.requests, s, s > 0 and summary.requests / s or 0,
            latency:percentile(50), latency:percentile(90),
            latency:percentile(99), latency:percentile(99.9),
            latency.max, latency.mean, ok, summary.requests - ok, non2xx,
            bad, e.status, e.connect, e.read, e.write, e.timeout,
            #codes > 0 and table.concat(codes, ",") or "none"))
    end
end

return M
