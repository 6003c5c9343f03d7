-- event_refund.lua: Stripe refunded (part of) an order's payment (charge.refunded, refund.*): the
-- order records how much, becomes partially refunded or refunded, gives a full refund's limited units
-- back to the customer, and puts the units back if the owner asked for it with this refund.
-- include: event
-- KEYS[1..5]  stock, held, holds, chapters, ledger (see _prelude.lua)
local mark = KEYS[6]             -- the event's mark (string, expires after mark_ttl seconds)
local last = KEYS[7]             -- last event received (hash)
local total = KEYS[8]            -- event counters since the start (hash "type|outcome" -> n)
local today = KEYS[9]            -- event counters of today (hash, expires after 8 days)
local order_key = KEYS[10]       -- the order (hash)
local attention = KEYS[11]       -- orders that need the owner's attention (lex zset: any flag set)
local indexes = status_keys(12, 16)  -- KEYS[12..16] status indexes: the move's statuses (shop/lifecycle.py)
local customer_paid = KEYS[17]   -- the customer's paid units per limited product (hash); only with limit_email
local now_ms = ARGV[1]           -- ARGV[1] now, ms
local a = cjson.decode(ARGV[2])  -- ARGV[2] the action: shop/stripe_events.py RefundEvent.for_script()

local E = {mark = mark, last = last, total = total, today = today, order = order_key, attention = attention}

-- What is refunded in all: the larger of charge.refunded's total and the sum of the refunds known by id.
local function refunded_amount(refunds)
  if a.refund.refund_id then
    refunds[a.refund.refund_id] = a.refund.counts and a.refund.amount or nil
  end
  local sum = 0
  for _, amount in pairs(refunds) do
    sum = sum + amount
  end
  return math.max(a.refund.charge_refunded or 0, sum)
end

-- A full refund gives the customer's limited units back: they may buy the piece again.
local function uncount_limited_units(items)
  if is_null(a.limits) or is_null(a.limit_email) then
    return
  end
  for _, item in ipairs(items) do
    local product = string.match(item.sku, '^([^/]+)/')
    if product and a.limits[product] then
      redis.call('HSET', customer_paid, product, int(math.max(0, num(redis.call('HGET', customer_paid, product)) - item.quantity)))
    end
  end
end

-- The owner asked for this refund with restock (order_refund_request.lua): the units go back now,
-- once; the request is spent whatever comes later.
local function restock(order, rec)
  local restocked = decode_or_empty(order.restocked)
  for _, item in ipairs(rec.items) do
    local back = item.quantity - (restocked[item.sku] or 0)
    if item.stock_tracked and is_initialized(item.chapter) and back > 0 then
      local on_hand = redis.call('HINCRBY', S.stock, item.sku, back)
      restocked[item.sku] = (restocked[item.sku] or 0) + back
      ledger_add(now_ms, {chapter = item.chapter, sku = item.sku, reason = 'refund_restock', delta = back,
        on_hand = on_hand, held_delta = 0, held = num(redis.call('HGET', S.held, item.sku)), ref = a.order_id,
        actor = 'owner', note = 'restocked with the refund (' .. a.event_id .. ')'})
    end
  end
  rec.updates.restocked = cjson.encode(restocked)
  rec.updates.restock_on_refund = '0'
end

if redis.call('EXISTS', mark) == 1 then
  return answer(E, a, now_ms, 'duplicate', nil)
end
drop_expired_holds(now_ms)
local order = load_order(order_key)
if not order then
  return answer(E, a, now_ms, 'ignored', nil)
end
if not includes(a.from, order.status) then
  return answer(E, a, now_ms, 'duplicate', order.status)
end
local refunds = decode_or_empty(order.refunds)
local refunded = refunded_amount(refunds)
if refunded <= (tonumber(order.amount_refunded) or 0) then
  return answer(E, a, now_ms, 'duplicate', order.status)
end
local rec = open_record(order)
local paid = tonumber(order.amount_total) or 0
rec.updates.refunds = cjson.encode(refunds)
rec.updates.amount_refunded = refunded
local new_status = 'partially_refunded'
if refunded >= paid then
  new_status = 'refunded'
  uncount_limited_units(rec.items)
end
local note = string.format('refunded %d of %d', refunded, paid)
if order.restock_on_refund == '1' then
  restock(order, rec)
  note = note .. ', restocked'
end
return save_applied(E, a, now_ms, order, rec, new_status, note, indexes, false)
