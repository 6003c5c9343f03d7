-- event_dispute.lua: a customer disputed a payment with their bank (charge.dispute.*): the order
-- keeps its status and is flagged for the owner; the dispute's state is recorded, its outcome when closed.
-- include: event
local mark = KEYS[1]             -- the event's mark (string, expires after mark_ttl seconds)
local last = KEYS[2]             -- last event received (hash)
local total = KEYS[3]            -- event counters since the start (hash "type|outcome" -> n)
local today = KEYS[4]            -- event counters of today (hash, expires after 8 days)
local order_key = KEYS[5]        -- the order (hash)
local attention = KEYS[6]        -- orders that need the owner's attention (lex zset: any flag set)
local now_ms = ARGV[1]           -- ARGV[1] now, ms
local a = cjson.decode(ARGV[2])  -- ARGV[2] the action: shop/stripe_events.py DisputeEvent.for_script()

local E = {mark = mark, last = last, total = total, today = today, order = order_key, attention = attention}

if redis.call('EXISTS', mark) == 1 then
  return answer(E, a, now_ms, 'duplicate', nil)
end
local order = load_order(order_key)
if not order then
  return answer(E, a, now_ms, 'ignored', nil)
end
local rec = open_record(order)
local d = a.dispute
rec.updates.dispute = cjson.encode(d)
add_flag(rec.flags, 'disputed')
local note = string.format('dispute %s: %s (%s)', d.id, d.status, d.reason)
if d.closed then
  note = string.format('dispute %s closed: %s', d.id, d.status)
end
return save_applied(E, a, now_ms, order, rec, order.status, note, {}, false)
