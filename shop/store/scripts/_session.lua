-- _session.lua: what a checkout.session.* event knows of its order (-- include: event, session).
-- K: {sessions, payments, orders, customer_orders (nil without an email)}; a: the session action.

-- An order id that already belongs to another Checkout Session (a reused client_reference_id):
-- the caller calls again under the session's own order id.
local function session_conflict(order, a)
  return order ~= nil and not is_null(a.session_id) and (order.session_id or '') ~= ''
    and order.session_id ~= a.session_id
end

-- A session we never saw (Payment Link, Dashboard, stripe trigger): the order starts here, from the
-- items the event named. nil when the session already has another order (a duplicate).
local function start_order(K, a, now_ms)
  local session_owner = redis.call('HGET', K.sessions, a.session_id)
  if session_owner and session_owner ~= a.order_id then
    return nil
  end
  local items = a.items
  if is_null(items) then
    items = {}
  end
  local order = {id = a.order_id, status = 'new', items = cjson.encode(items),
    currency = a.expected_currency or a.currency or '', created_at = order_created_ms(K.orders, now_ms),
    history = '[]', event_ids = '[]', flags = '[]', oversold = '[]'}
  if not is_null(a.amount_expected) then
    order.amount_expected = a.amount_expected
  end
  redis.call('ZADD', K.orders, 0, order_member(order.created_at, a.order_id))
  return order
end

-- What the session tells us about the customer, whatever the event: into `updates` and the lookups.
local function take_session_details(K, a, order, updates)
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
      redis.call('ZADD', K.customer_orders, 0, order_member(order.created_at, a.order_id))
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

-- The order an event of a session applies to: (order, fresh), or (nil, nil, answer) when the event stops
-- here: a conflicting session or missing items (ask again), a duplicate, or (may_start false) no order.
local function session_order(E, K, a, now_ms, may_start)
  local order = load_order(E.order)
  if session_conflict(order, a) then
    return nil, nil, ask_again(a, 'session_conflict')
  end
  if order then
    if not includes(a.from, order.status) then
      return nil, nil, answer(E, a, now_ms, 'duplicate', order.status)
    end
    return order, false
  end
  if not may_start then
    return nil, nil, answer(E, a, now_ms, 'ignored', nil)
  end
  if is_null(a.items) and a.need_items then
    return nil, nil, ask_again(a, 'need_items')
  end
  order = start_order(K, a, now_ms)
  if not order then
    return nil, nil, answer(E, a, now_ms, 'duplicate', nil)
  end
  return order, true
end

-- The opening every session event shares: a marked event is a duplicate, lapsed holds go back on sale,
-- and the session's order is found (or started, when may_start) and opened for changes.
-- Returns (order, record, fresh), or (nil, nil, nil, answer) when the event stops here.
local function open_session_event(E, K, a, now_ms, may_start)
  if redis.call('EXISTS', E.mark) == 1 then
    return nil, nil, nil, answer(E, a, now_ms, 'duplicate', nil)
  end
  drop_expired_holds(now_ms)
  local order, fresh, stop = session_order(E, K, a, now_ms, may_start)
  if not order then
    return nil, nil, nil, stop
  end
  return order, open_record(order), fresh
end
