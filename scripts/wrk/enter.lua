-- Token issue: POST /api/v1/queue/tokens for concert 1, a new fan each
-- request while the file lasts (enter.txt: header name, header value).
--   wrk -t2 -c64 -d10s --latency -s scripts/wrk/enter.lua URL -- DIR/enter.txt 2
dofile("scripts/wrk/fans.lua")

local body = '{"concertId":1}'

function request()
    local fan = take_fan()
    return wrk.format("POST", "/api/v1/queue/tokens",
        { [fan[1]] = fan[2], ["Content-Type"] = "application/json" }, body)
end
