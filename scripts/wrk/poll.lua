-- Token status: GET /api/v1/queue/tokens/current with the fan's queue
-- ticket (poll.txt: header name, header value, ticket).
--   wrk -t2 -c64 -d10s --latency -s scripts/wrk/poll.lua URL -- DIR/poll.txt 2
dofile("scripts/wrk/fans.lua")

function request()
    local fan = take_fan()
    return wrk.format("GET", "/api/v1/queue/tokens/current",
        { [fan[1]] = fan[2], ["Queue-Token"] = fan[3] })
end
