-- event_unpaid.lua: a completed Checkout Session whose payment is still on its way (a delayed
-- method): the order awaits payment and its holds last until the payment succeeds or fails.
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
local indexes = status_keys(15, 16)  -- KEYS[15..16] status indexes: the move's statuses (shop/lifecycle.py)
local customer_orders = KEYS[17] -- the customer's orders (lex zset); only when the session names an email
local now_ms = ARGV[1]           -- ARGV[1] now, ms
local a = cjson.decode(ARGV[2])  -- ARGV[2] the action: shop/stripe_events.py SessionEvent.for_script()

local E = {mark = mark, last = last, total = total, today = today, order = order_key, attention = attention}
local K = {sessions = sessions, payments = payments, orders = orders, customer_orders = customer_orders}

local order, rec, fresh, stop = open_session_event(E, K, a, now_ms, true)
if not order then
  return stop
end
take_session_details(K, a, order, rec.updates)
for _, item in ipairs(rec.items) do
  local member = hold_member(a.order_id, item.chapter, item.sku, item.quantity)
  if redis.call('ZSCORE', S.holds, member) then
    redis.call('ZADD', S.holds, 'inf', member)
  end
end
return save_applied(E, a, now_ms, order, rec, 'awaiting_payment', nil, indexes, fresh)
