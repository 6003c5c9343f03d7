-- event_paid.lua: a paid Checkout Session (completed and paid, or a delayed payment that succeeded)
-- becomes a paid order, all or nothing: its holds turn into sales, stock goes down, drop rules are
-- judged (flags), and the event is marked and counted. The webhook's single round trip.
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
local releases = KEYS[15]        -- release windows (hash chapter -> JSON {"opens_at", "closes_at"} in ms)
local indexes = status_keys(16, 21)  -- KEYS[16..21] status indexes: the move's statuses (shop/lifecycle.py)
local customer_orders = KEYS[22] -- the customer's orders (lex zset); only when the session names an email
local customer_paid = KEYS[23]   -- the customer's paid units per limited product (hash); only with limit_email
local now_ms = ARGV[1]           -- ARGV[1] now, ms
local a = cjson.decode(ARGV[2])  -- ARGV[2] the action: shop/stripe_events.py SessionEvent.for_script()

local E = {mark = mark, last = last, total = total, today = today, order = order_key, attention = attention}
local K = {sessions = sessions, payments = payments, orders = orders, customer_orders = customer_orders}

-- Turn the order's holds into sales: on hand goes down by what was sold, never below zero;
-- what stock could not cover is recorded as oversold.
local function commit_sale(rec)
  for _, item in ipairs(rec.items) do
    item.stock_tracked = is_initialized(item.chapter)
    if item.stock_tracked then
      local had_hold = redis.call('ZREM', S.holds, hold_member(a.order_id, item.chapter, item.sku, item.quantity)) == 1
      local held, held_delta = num(redis.call('HGET', S.held, item.sku)), 0
      if had_hold then
        held_delta, held = -item.quantity, math.max(0, held - item.quantity)
        redis.call('HSET', S.held, item.sku, int(held))
      end
      local on_hand = num(redis.call('HGET', S.stock, item.sku))
      -- A sale with its own hold was promised these units; one whose hold lapsed may not take
      -- units that other open checkouts hold.
      local take = math.min(item.quantity, had_hold and on_hand or available(on_hand, held))
      on_hand = on_hand - take
      redis.call('HSET', S.stock, item.sku, int(on_hand))
      rec.stock[item.sku] = {on_hand, held}
      ledger_add(now_ms, {chapter = item.chapter, sku = item.sku, reason = 'order_commit', delta = -take,
        on_hand = on_hand, held_delta = held_delta, held = held, ref = a.order_id, actor = 'stripe', note = a.event_id})
      if take < item.quantity then
        table.insert(rec.oversold, {sku = item.sku, quantity = item.quantity - take})
        add_flag(rec.flags, 'oversold')
      end
    else
      add_flag(rec.flags, 'untracked_chapter')
    end
  end
end

-- Drops (SPEC section 7): outside_release, a chapter of the order was not open when the payment
-- happened (the event's `created`, so a retry delivered after closes_at is judged by when it was paid).
local function outside_release(items)
  local paid = tonumber(a.paid_at) or tonumber(now_ms)
  for _, item in ipairs(items) do
    local text = redis.call('HGET', releases, item.chapter)
    if text then
      local r = cjson.decode(text)
      if (not is_null(r.opens_at) and paid < r.opens_at) or (not is_null(r.closes_at) and paid >= r.closes_at) then
        return true
      end
    end
  end
  return false
end

-- over_limit: the customer's earlier paid units plus these pass a product's per-customer limit.
-- The customer's paid counters move with every paid sale (the hold script reads them).
local function count_limited_units(rec)
  if is_null(a.limits) or is_null(a.limit_email) then
    return
  end
  local by_product = {}
  for _, item in ipairs(rec.items) do
    local product = string.match(item.sku, '^([^/]+)/')
    if product and a.limits[product] then
      by_product[product] = (by_product[product] or 0) + item.quantity
    end
  end
  for product, qty in pairs(by_product) do
    if num(redis.call('HGET', customer_paid, product)) + qty > a.limits[product] then
      add_flag(rec.flags, 'over_limit')
    end
    redis.call('HINCRBY', customer_paid, product, qty)
  end
  if next(by_product) and not is_null(a.payment_intent) then
    -- A refund event names only the payment: it finds the customer here (Fulfillment.handle).
    redis.call('HSET', payments, a.payment_intent .. '|limit_email', a.limit_email)
  end
end

-- Paid subtotal against the catalog's price (shipping, tax and promotion codes are not in the
-- subtotal). Money in another currency is not the expected amount either: both flags then.
local function check_amount(order, flags)
  local expected = tonumber(order.amount_expected)
  if not expected or is_null(a.amount_subtotal) then
    return
  end
  if not is_null(a.currency) and (order.currency or '') ~= '' and string.lower(order.currency) ~= string.lower(a.currency) then
    add_flag(flags, 'currency_mismatch')
    add_flag(flags, 'amount_mismatch')
  elseif expected ~= a.amount_subtotal then
    add_flag(flags, 'amount_mismatch')
  end
end

local order, rec, fresh, stop = open_session_event(E, K, a, now_ms, true)
if not order then
  return stop
end
take_session_details(K, a, order, rec.updates)
if #rec.items == 0 then
  rec.updates.review_reason = a.review_reason or 'the session named no items this shop sells'
  add_flag(rec.flags, 'needs_review')
  return save_applied(E, a, now_ms, order, rec, 'needs_review', nil, indexes, fresh)
end
commit_sale(rec)
if outside_release(rec.items) then
  add_flag(rec.flags, 'outside_release')
end
count_limited_units(rec)
check_amount(order, rec.flags)
return save_applied(E, a, now_ms, order, rec, 'paid', nil, indexes, fresh)
