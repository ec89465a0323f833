-- Shared by the wrk scripts of this folder (run from the repository root):
-- reads the fans `boxoffice-loadtest --scenario wrk-fixtures` wrote, one per
-- line, tab-separated (the sign-in header's name and value, then what the
-- script needs), gives each wrk thread every n-th of them so that threads
-- never send the same fan at once, and prints the run's figures as one JSON
-- line for scripts/bench-report.

local fans = {}
local next_fan = 1

local threads = 0
function setup(thread)
    thread:set("thread_index", threads)
    threads = threads + 1
end

local function split(line)
    local fields = {}
    for field in string.gmatch(line, "[^\t]+") do
        fields[#fields + 1] = field
    end
    return fields
end

-- Each thread loads the file named by the script's first argument; the
-- thread count is passed as the second (wrk does not tell a thread how
-- many there are).
function init(args)
    local index = thread_index or 0
    local count = tonumber(args[2] or "1")
    local n = 0
    for line in io.lines(args[1]) do
        if n % count == index then
            fans[#fans + 1] = split(line)
        end
        n = n + 1
    end
    if #fans == 0 then
        error("no fans for thread " .. index .. " in " .. args[1])
    end
end

-- The next fan of this thread, round and round.
function take_fan()
    local fan = fans[next_fan]
    next_fan = next_fan % #fans + 1
    return fan
end

function done(summary, latency, requests)
    local seconds = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        'WRK_JSON {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50Ms":%.3f,"p90Ms":%.3f,"p99Ms":%.3f,"maxMs":%.3f,"non2xx":%d,"socketErrors":%d}\n',
        summary.requests, seconds, summary.requests / seconds,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000,
        e.status, e.connect + e.read + e.write + e.timeout))
end
