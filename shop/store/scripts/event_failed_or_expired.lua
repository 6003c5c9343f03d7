-- event_failed_or_expired.lua: a Checkout Session whose payment failed (async_payment_failed) or
-- that lapsed unpaid (expired): the order says so and its holds go back on sale. A failure of a
-- session we never saw still records the order; an expiry of one is ignored.
-- include: event, session
-- KEYS[1..5]  stock, held, holds, chapters, ledger (see _prelude.lua)
local mark = KEYS[6]             -- the event's mark (string, expires after mark_ttl seconds)
local last = KEYS[7]             -- last event received (hash)
local total = KEYS[8]            -- event counters since the start (hash "type|outcome" -> n)
local today = KEYS[9]            -- event counters of today (hash, expires after 8 days)
local order_key = KEYS[10]       -- the order (hash)
local attention = KEYS[11]       -- orders that need the owner's attention (lex zset: any flag set)
local sessions = KEYS[12]        -- session id -> order id (hash)
local payments = KEYS[13]        -- payment intent id -> order id (hash)
local orders = KEYS[14]          -- all orders (lex zset "created_ms|order id")
local indexes = status_keys(15, 18)  -- KEYS[15..18] status indexes: the move's statuses (shop/lifecycle.py)
local customer_orders = KEYS[19] -- the customer's orders (lex zset); only when the session names an email
local now_ms = ARGV[1]           -- ARGV[1] now, ms
local a = cjson.decode(ARGV[2])  -- ARGV[2] the action: shop/stripe_events.py SessionEvent.for_script()

local E = {mark = mark, last = last, total = total, today = today, order = order_key, attention = attention}
local K = {sessions = sessions, payments = payments, orders = orders, customer_orders = customer_orders}
local failed = a.kind == 'failed'

local order, rec, fresh, stop = open_session_event(E, K, a, now_ms, failed)
if not order then
  return stop
end
local new_status, note = 'expired', 'checkout expired'
if failed then
  take_session_details(K, a, order, rec.updates)
  new_status, note = 'payment_failed', 'payment failed'
end
release_order_holds(now_ms, a.order_id, rec.items, 'stripe', note)
return save_applied(E, a, now_ms, order, rec, new_status, nil, indexes, fresh)
