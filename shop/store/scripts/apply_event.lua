-- apply_event.lua: apply one verified Stripe event to its order, all or nothing.
-- This is the webhook's single round trip: idempotency mark, order record,
-- stock, holds, ledger and indexes change together or not at all.
-- KEYS[1..5]  stock, held, holds, chapters, ledger (see _prelude.lua)
-- KEYS[6]     event mark (string, expires after mark_ttl seconds)
-- KEYS[7]     the order (hash)
-- KEYS[8]     session id -> order id (hash)
-- KEYS[9]     payment intent id -> order id (hash)
-- KEYS[10]    all orders (lex zset "created_ms|order id")
-- KEYS[11]    last event received (hash)
-- KEYS[12]    event counters since the start (hash "type|outcome" -> n)
-- KEYS[13]    event counters of today (hash, expires after 8 days)
-- KEYS[14]    orders of the session's customer email (lex zset; a placeholder key when no email)
-- KEYS[15]    orders that need the owner's attention (lex zset: any flag set)
-- KEYS[16]    release windows (hash chapter -> JSON {"opens_at", "closes_at"} in ms)
-- KEYS[17]    the customer's paid units per limited product (hash, by normalized email; a placeholder without one)
-- KEYS[18..]  one lex zset per status, each key ending in its status name
-- ARGV[1]     now_ms
-- ARGV[2]     JSON action (built by shop/stripe_events.py):
--   kind            fulfil | await | fail | expire | refund | dispute | ignore
--   event_id, event_type, livemode, order_id, session_id, payment_intent
--   source          absent for Stripe's deliveries; 'success_page' or 'reconcile' otherwise
--   items           [{sku, chapter, name, size, quantity, unit_amount}] or null
--   need_items      true: if there is no order yet, answer need_items instead of creating one
--   review_reason   why the order needs the owner (when items is null)
--   amount_subtotal, amount_total, currency (what Stripe charged), customer {email, name}, shipping
--   amount_expected, expected_currency   the catalog's price of `items` (ways 2 and 3), kept on a new order
--   refund          {charge_refunded} (charge.refunded) or {refund_id, amount, counts} (refund.*)
--   dispute         {id, status, reason, amount, closed}
--   limits          {product id: per-customer limit} of the catalog's limited products (absent: none)
--   paid_at         ms the event was created at Stripe (absent for the success page and reconciliation: now)
--   limit_email     the customer's normalized email (KEYS[17] is then theirs), or absent
--   mark_ttl        seconds the event mark lives
-- Returns JSON {"status": "applied"|"duplicate"|"ignored"|"need_items"|"session_conflict",
--               "order_id", "order_status"}; an applied answer also carries "flags" and, after a sale,
--               "stock": {sku: [on_hand, held]} of the order's tracked SKUs (for the owner's alerts)

local now_ms = ARGV[1]
local a = cjson.decode(ARGV[2])
local K = {mark = KEYS[6], order = KEYS[7], sessions = KEYS[8], payments = KEYS[9], orders = KEYS[10],
  last = KEYS[11], total = KEYS[12], today = KEYS[13], email = KEYS[14], attention = KEYS[15],
  releases = KEYS[16], paid = KEYS[17]}
local status_key = status_keys(18)

-- Counters and "last event" describe Stripe's deliveries; the success page and
-- reconciliation (a.source) count under their own name and leave "last event" alone.
local function count(outcome)
  local field = (a.source or a.event_type) .. '|' .. outcome
  redis.call('HINCRBY', K.total, field, 1)
  if redis.call('HINCRBY', K.today, field, 1) == 1 then
    redis.call('EXPIRE', K.today, 8 * 86400)  -- set when a counter of the day starts, not on every event
  end
  if not a.source then
    redis.call('HSET', K.last, 'at', now_ms, 'id', a.event_id, 'type', a.event_type,
      'livemode', tostring(a.livemode), 'outcome', outcome)
  end
end

local function answer(outcome, order_status, extra)
  count(outcome)
  local out = extra or {}
  out.status, out.order_id, out.order_status = outcome, a.order_id, order_status
  return cjson.encode(out)
end

local function is_null(v)
  return v == nil or v == cjson.null
end

if redis.call('EXISTS', K.mark) == 1 then
  return answer('duplicate', nil)
end
if a.kind == 'ignore' then
  return answer('ignored', nil)
end

drop_expired_holds(now_ms)

local order = {}
local flat = redis.call('HGETALL', K.order)
local exists = #flat > 0
for i = 1, #flat, 2 do
  order[flat[i]] = flat[i + 1]
end
local status = order.status

-- An order id that already belongs to another Checkout Session (a reused
-- client_reference_id): the caller retries under the session's own order id.
if exists and a.session_id and (order.session_id or '') ~= '' and order.session_id ~= a.session_id then
  return cjson.encode({status = 'session_conflict', order_id = a.order_id})
end

-- Which statuses each kind of event may move an order out of. Anything else
-- would move it backwards (or it is already done): a duplicate.
local from = {
  fulfil = {pending = true, awaiting_payment = true, expired = true, payment_failed = true},
  await = {pending = true},
  fail = {pending = true, awaiting_payment = true},
  expire = {pending = true},
  refund = {paid = true, shipped = true, delivered = true, partially_refunded = true},
}

if not exists then
  if a.kind == 'expire' or a.kind == 'refund' or a.kind == 'dispute' then
    return answer('ignored', nil)
  end
  if is_null(a.items) and a.need_items then
    return cjson.encode({status = 'need_items', order_id = a.order_id})
  end
  -- A session we never saw (Payment Link, Dashboard, stripe trigger): the
  -- order starts here, from the items the event named.
  local session_owner = redis.call('HGET', K.sessions, a.session_id)
  if session_owner and session_owner ~= a.order_id then
    return answer('duplicate', nil)
  end
  local items = a.items
  if is_null(items) then
    items = {}
  end
  order = {id = a.order_id, status = 'new', items = cjson.encode(items), currency = a.expected_currency or a.currency or '',
    created_at = order_created_ms(K.orders, now_ms), history = '[]', event_ids = '[]', flags = '[]', oversold = '[]'}
  if not is_null(a.amount_expected) then
    order.amount_expected = a.amount_expected
  end
  local member = string.format('%015d|%s', tonumber(order.created_at), a.order_id)
  redis.call('ZADD', K.orders, 0, member)
elseif a.kind ~= 'dispute' and not from[a.kind][status] then
  return answer('duplicate', status)
end

local items = decode_or_empty(order.items)
local stock_after = {}
local flags = decode_or_empty(order.flags)
local oversold = decode_or_empty(order.oversold)
local history = decode_or_empty(order.history)
local event_ids = decode_or_empty(order.event_ids)
local updates = {}

local function has_flag(name)
  for _, f in ipairs(flags) do
    if f == name then
      return true
    end
  end
  return false
end

local function flag(name)
  if not has_flag(name) then
    table.insert(flags, name)
  end
end

-- What the session tells us about the customer, whatever the event.
local function take_session_details()
  if not is_null(a.session_id) then
    updates.session_id = a.session_id
    redis.call('HSET', K.sessions, a.session_id, a.order_id)
  end
  if not is_null(a.payment_intent) then
    updates.payment_intent = a.payment_intent
    redis.call('HSET', K.payments, a.payment_intent, a.order_id)
  end
  if not is_null(a.customer) then
    updates.customer = cjson.encode(a.customer)
    if a.customer.email then
      redis.call('ZADD', K.email, 0, string.format('%015d|%s', tonumber(order.created_at), a.order_id))
    end
  end
  if not is_null(a.shipping) then
    updates.shipping = cjson.encode(a.shipping)
  end
  if not is_null(a.amount_total) then
    updates.amount_total = a.amount_total
  end
  if not is_null(a.amount_subtotal) then
    updates.amount_subtotal = a.amount_subtotal
  end
  if not is_null(a.currency) then
    updates.paid_currency = a.currency  -- `currency` stays the one the items are priced in
    if (order.currency or '') == '' then
      updates.currency = a.currency
    end
  end
end

-- Turn the order's holds into sales: on hand goes down by what was sold,
-- never below zero; what stock could not cover is recorded as oversold.
local function commit_sale()
  for _, item in ipairs(items) do
    if is_initialized(item.chapter) then
      item.stock_tracked = true
      local member = hold_member(a.order_id, item.chapter, item.sku, item.quantity)
      local had_hold = redis.call('ZREM', S.holds, member) == 1
      local held = num(redis.call('HGET', S.held, item.sku))
      local held_delta = 0
      if had_hold then
        held_delta = -item.quantity
        held = math.max(0, held - item.quantity)
        redis.call('HSET', S.held, item.sku, int(held))
      end
      local on_hand = num(redis.call('HGET', S.stock, item.sku))
      -- A sale with its own hold was promised these units; one whose hold
      -- lapsed may not take units that other open checkouts hold.
      local can_take = on_hand
      if not had_hold then
        can_take = math.max(0, on_hand - held)
      end
      local take = math.min(item.quantity, can_take)
      on_hand = on_hand - take
      redis.call('HSET', S.stock, item.sku, int(on_hand))
      stock_after[item.sku] = {on_hand, held}
      ledger_add(now_ms, {chapter = item.chapter, sku = item.sku, reason = 'order_commit',
        delta = -take, on_hand = on_hand, held_delta = held_delta, held = held,
        ref = a.order_id, actor = 'stripe', note = a.event_id})
      if take < item.quantity then
        table.insert(oversold, {sku = item.sku, quantity = item.quantity - take})
        flag('oversold')
      end
    else
      item.stock_tracked = false
      flag('untracked_chapter')
    end
  end
end

-- Drops (SPEC section 7): a sale is fulfilled whatever it breaks (the money is in), and flagged.
-- outside_release: a chapter of the order was not open when the payment happened (the event's
-- `created`, so a retry delivered after closes_at is judged by when it was paid; else now).
local function check_release_window()
  local now = tonumber(a.paid_at) or tonumber(now_ms)
  for _, item in ipairs(items) do
    local text = redis.call('HGET', K.releases, item.chapter)
    if text then
      local r = cjson.decode(text)
      if (not is_null(r.opens_at) and now < r.opens_at) or (not is_null(r.closes_at) and now >= r.closes_at) then
        flag('outside_release')
      end
    end
  end
end

-- over_limit: the customer's earlier paid units plus these pass a product's per-customer limit.
-- The customer's paid counters move with every paid sale (the hold script reads them).
local function count_limited_units()
  if is_null(a.limits) or is_null(a.limit_email) then
    return
  end
  local by_product = {}
  for _, item in ipairs(items) do
    local product = string.match(item.sku, '^([^/]+)/')
    if product and a.limits[product] then
      by_product[product] = (by_product[product] or 0) + item.quantity
    end
  end
  for product, qty in pairs(by_product) do
    local before = num(redis.call('HGET', K.paid, product))
    if before + qty > a.limits[product] then
      flag('over_limit')
    end
    redis.call('HINCRBY', K.paid, product, qty)
  end
  if next(by_product) and not is_null(a.payment_intent) then
    -- A refund event names only the payment: it finds the customer here (Fulfillment.handle).
    redis.call('HSET', K.payments, a.payment_intent .. '|limit_email', a.limit_email)
  end
end

-- A full refund gives the customer's limited units back: they may buy the piece again.
local function uncount_limited_units()
  if is_null(a.limits) or is_null(a.limit_email) then
    return
  end
  for _, item in ipairs(items) do
    local product = string.match(item.sku, '^([^/]+)/')
    if product and a.limits[product] then
      local left = math.max(0, num(redis.call('HGET', K.paid, product)) - item.quantity)
      redis.call('HSET', K.paid, product, int(left))
    end
  end
end

local new_status
local note
if a.kind == 'fulfil' then
  take_session_details()
  if #items == 0 then
    new_status = 'needs_review'
    updates.review_reason = a.review_reason or 'the session named no items this shop sells'
    flag('needs_review')
  else
    commit_sale()
    check_release_window()
    count_limited_units()
    new_status = 'paid'
    -- Paid subtotal against the catalog's price (shipping, tax and promotion codes are not in the subtotal).
    -- Money in another currency is not the expected amount either: both flags then.
    local expected = tonumber(order.amount_expected)
    if expected and not is_null(a.amount_subtotal) then
      if not is_null(a.currency) and (order.currency or '') ~= '' and
          string.lower(order.currency) ~= string.lower(a.currency) then
        flag('currency_mismatch')
        flag('amount_mismatch')
      elseif expected ~= a.amount_subtotal then
        flag('amount_mismatch')
      end
    end
  end
elseif a.kind == 'await' then
  take_session_details()
  new_status = 'awaiting_payment'
  -- The hold now lasts until the delayed payment succeeds or fails.
  for _, item in ipairs(items) do
    local member = hold_member(a.order_id, item.chapter, item.sku, item.quantity)
    if redis.call('ZSCORE', S.holds, member) then
      redis.call('ZADD', S.holds, 'inf', member)
    end
  end
elseif a.kind == 'fail' then
  take_session_details()
  new_status = 'payment_failed'
  release_order_holds(now_ms, a.order_id, items, 'stripe', 'payment failed')
elseif a.kind == 'expire' then
  new_status = 'expired'
  release_order_holds(now_ms, a.order_id, items, 'stripe', 'checkout expired')
elseif a.kind == 'refund' then
  -- refunds: refund id -> amount, for refund.* events; charge.refunded gives the total.
  local refunds = decode_or_empty(order.refunds)
  if a.refund.refund_id then
    if a.refund.counts then
      refunds[a.refund.refund_id] = a.refund.amount
    else
      refunds[a.refund.refund_id] = nil
    end
  end
  local refunded = a.refund.charge_refunded or 0
  local sum = 0
  for _, amount in pairs(refunds) do
    sum = sum + amount
  end
  refunded = math.max(refunded, sum)
  local before = tonumber(order.amount_refunded) or 0
  if refunded <= before then
    return answer('duplicate', status)
  end
  local total = tonumber(order.amount_total) or 0
  updates.refunds = cjson.encode(refunds)
  updates.amount_refunded = refunded
  if refunded >= total then
    new_status = 'refunded'
    uncount_limited_units()
  else
    new_status = 'partially_refunded'
  end
  note = string.format('refunded %d of %d', refunded, total)
  -- The owner asked for this refund with restock (order_refund_request.lua): the units go back
  -- now, once; the request is spent whatever comes later.
  if order.restock_on_refund == '1' then
    local restocked = decode_or_empty(order.restocked)
    for _, item in ipairs(items) do
      local back = item.quantity - (restocked[item.sku] or 0)
      if item.stock_tracked and is_initialized(item.chapter) and back > 0 then
        local on_hand = redis.call('HINCRBY', S.stock, item.sku, back)
        restocked[item.sku] = (restocked[item.sku] or 0) + back
        ledger_add(now_ms, {chapter = item.chapter, sku = item.sku, reason = 'refund_restock', delta = back,
          on_hand = on_hand, held_delta = 0, held = num(redis.call('HGET', S.held, item.sku)), ref = a.order_id,
          actor = 'owner', note = 'restocked with the refund (' .. a.event_id .. ')'})
      end
    end
    updates.restocked = cjson.encode(restocked)
    updates.restock_on_refund = '0'
    note = note .. ', restocked'
  end
elseif a.kind == 'dispute' then
  -- A dispute does not change what the order is; it flags it for the owner until it is closed.
  new_status = status
  updates.dispute = cjson.encode(a.dispute)
  flag('disputed')
  if a.dispute.closed then
    note = string.format('dispute %s closed: %s', a.dispute.id, a.dispute.status)
  else
    note = string.format('dispute %s: %s (%s)', a.dispute.id, a.dispute.status, a.dispute.reason)
  end
end

if status ~= new_status then
  local member = string.format('%015d|%s', tonumber(order.created_at), a.order_id)
  if status and status_key[status] then
    redis.call('ZREM', status_key[status], member)
  end
  redis.call('ZADD', status_key[new_status], 0, member)
end

if #flags > 0 then
  redis.call('ZADD', K.attention, 0, string.format('%015d|%s', tonumber(order.created_at), a.order_id))
end
table.insert(event_ids, a.event_id)
table.insert(history, {at = now_ms, status = new_status, event_id = a.event_id, type = a.event_type, note = note})
updates.status = new_status
updates.items = cjson.encode(items)
updates.flags = cjson.encode(flags)
updates.oversold = cjson.encode(oversold)
updates.history = cjson.encode(history)
updates.event_ids = cjson.encode(event_ids)
updates.updated_at = int(math.max(num(now_ms), num(order.created_at)))  -- a new order's created_at may be ahead
if not exists then
  for field, value in pairs(order) do
    if updates[field] == nil then
      updates[field] = value
    end
  end
end
local fields = {}
for field, value in pairs(updates) do
  table.insert(fields, field)
  table.insert(fields, value)
end
redis.call('HSET', K.order, unpack(fields))
redis.call('SET', K.mark, a.order_id, 'EX', a.mark_ttl)
local extra = {flags = flags}
if next(stock_after) then
  extra.stock = stock_after
end
return answer('applied', new_status, extra)
