-- event_ignored.lua: an event this shop does not act on (another type, or one that names nothing
-- usable): counted, so health shows it arrived; a repeat of an applied event is still a duplicate.
-- include: event
local mark = KEYS[1]             -- the event's mark (string; set only by an applied event)
local last = KEYS[2]             -- last event received (hash)
local total = KEYS[3]            -- event counters since the start (hash "type|outcome" -> n)
local today = KEYS[4]            -- event counters of today (hash, expires after 8 days)
local now_ms = ARGV[1]           -- ARGV[1] now, ms
local a = cjson.decode(ARGV[2])  -- ARGV[2] the action: shop/stripe_events.py Ignored.for_script()

local E = {mark = mark, last = last, total = total, today = today}
if redis.call('EXISTS', mark) == 1 then
  return answer(E, a, now_ms, 'duplicate', nil)
end
return answer(E, a, now_ms, 'ignored', nil)
