-- wrk script: each connection plays whole USSD sessions (language, menu, tip, feedback), one hop
-- after the answer to the previous one, as a gateway does; form-encoded as Africa's Talking posts
-- them. Run it with as many threads as connections (wrk -tN -cN): wrk keeps one script state per
-- thread, so a thread with one connection walks its own sessions, one hop at a time. Every
-- session is a new person: +51 9, two digits of the thread, six of its session.
local steps = {"", "1", "1*1", "1*1*1"}
local counter = 0
function setup(thread) counter = counter + 1; thread:set("tid", counter) end
function init(args) step = 0; sess = 0 end
function request()
  if step == #steps then step = 0; sess = sess + 1 end
  step = step + 1
  local body = "sessionId=wrk-" .. tid .. "-" .. sess .. "&serviceCode=%2A123%23&phoneNumber=%2B519" ..
    string.format("%02d%06d", tid % 100, sess % 1000000) .. "&networkCode=71610&text=" ..
    steps[step]:gsub("%*", "%%2A")
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
