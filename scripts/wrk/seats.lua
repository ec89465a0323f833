-- Seat list: GET /api/v1/schedules/{id}/seats with the fan's admission pass
-- (seats.txt: header name, header value, pass, schedule id).
--   wrk -t2 -c64 -d10s --latency -s scripts/wrk/seats.lua URL -- DIR/seats.txt 2
dofile("scripts/wrk/fans.lua")

function request()
    local fan = take_fan()
    return wrk.format("GET", "/api/v1/schedules/" .. fan[4] .. "/seats",
        { [fan[1]] = fan[2], ["Queue-Token"] = fan[3] })
end
