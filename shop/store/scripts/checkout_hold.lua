-- checkout_hold.lua: a shopper starts a checkout: hold every line and store the pending order,
-- or hold nothing and say why. Every drop limit (SPEC section 7) is judged here, in the same
-- atomic step as the hold, so no number of concurrent requests can pass a limit together:
-- the release window, checkout starts per address per minute, one open checkout per shopper
-- (a new one releases the old one's holds), units held per shopper and per address, and the
-- per-customer limit of a product (held by open checkouts + paid): each one a function of _limits.lua.
-- include: limits
-- KEYS[1..5]  stock, held, holds, chapters, ledger (see _prelude.lua)
-- KEYS[6]     the new order (hash)
-- KEYS[7]     all orders (lex zset)
-- KEYS[8]     pending orders (lex zset, the status index of `pending`)
-- KEYS[9]     the Idempotency-Key mark, scoped to the shopper (string; a placeholder key when none was sent)
-- KEYS[10]    release windows (hash chapter -> JSON {"opens_at", "closes_at"} in ms)
-- KEYS[11]    the shopper's open checkout (string JSON {"order_id", "members"})
-- KEYS[12]    the client address's hold members (zset member -> hold end)
-- KEYS[13]    the client address's checkout starts (zset order id -> ms)
-- KEYS[14]    the customer's paid units per limited product (hash; placeholder without an email)
-- KEYS[15]    the customer's hold members of limited products (zset; placeholder without an email)
-- ARGV[1]     now_ms
-- ARGV[2]     JSON {"order_id", "items": [{sku, chapter, name, size, quantity, unit_amount}], "hold_until" (ms),
--                   "amount_expected", "currency", "idempotency": bool, "idempotency_ttl" (s),
--                   "chapters": [chapter ids of the cart], "shopper_max_units", "address_max_units",
--                   "address_per_minute", "email": normalized email or null,
--                   "product_limits": {product id: limit} for the cart's limited products,
--                   "passes": [chapters whose line pass the shopper showed, checked by shop.line.LineCookies]}
-- Returns JSON {"ok": true, "replaced": order id of the shopper's released checkout or null}
--           | {"error": "idempotent", "order_id"} | {"error": "scheduled", "chapter", "opens_at"}
--           | {"error": "closed", "chapter", "closes_at"} | {"error": "rate", "retry_after"} (s)
--           | {"error": "line", "chapter"} (its waiting line runs and the shopper showed no pass for it)
--           | {"error": "shopper_limit" | "address_limit", "limit", "held"}
--           | {"error": "customer_limit", "product", "limit", "taken"}
--           | {"error": "short", "skus": [{sku, requested, available}]}

local now_ms = ARGV[1]
local now = tonumber(now_ms)
local a = cjson.decode(ARGV[2])
local K = {order = KEYS[6], orders = KEYS[7], pending = KEYS[8], idem = KEYS[9], releases = KEYS[10],
  shopper = KEYS[11], addr_holds = KEYS[12], addr_starts = KEYS[13], paid = KEYS[14], cust_holds = KEYS[15]}

-- A limit the caller leaves out is no limit (shop.checkout always gives every one).
a.chapters = a.chapters or {}
a.product_limits = a.product_limits or {}
local passes = {}
for _, chapter in ipairs(a.passes or {}) do
  passes[chapter] = true
end
local limits_customer = not is_null(a.email) and next(a.product_limits) ~= nil

if a.idempotency then
  local first = redis.call('GET', K.idem)
  if first then
    return cjson.encode({error = 'idempotent', order_id = first})
  end
end

local refusal = window_refusal(K.releases, a.chapters, passes, now)
if refusal then
  return cjson.encode(refusal)
end
drop_expired_holds(now_ms)
refusal = rate_refusal(K.addr_starts, a.address_per_minute or math.huge, now)
if refusal then
  return cjson.encode(refusal)
end

-- The shopper's open checkout: its live holds are released if this one starts, so they count for nothing below.
local replaced, freed, replaced_order = open_checkout(K.shopper)
local units, wanted = 0, {}
for _, item in ipairs(a.items) do
  units = units + item.quantity
  local product = product_of(item.sku)
  wanted[product] = (wanted[product] or 0) + item.quantity
end
if units > (a.shopper_max_units or math.huge) then
  return cjson.encode({error = 'shopper_limit', limit = a.shopper_max_units, held = 0})
end
refusal = address_refusal(K.addr_holds, replaced, units, a.address_max_units or math.huge, now)
  or (limits_customer and customer_refusal(K.cust_holds, K.paid, replaced, wanted, a.product_limits))
  or short_refusal(a.items, freed)
if refusal then
  return cjson.encode(refusal)
end

-- Every check passed: now write.
for member in pairs(replaced) do
  release_hold(now_ms, member, 'shopper', 'replaced by checkout ' .. a.order_id)
end
local members = {}
for _, item in ipairs(a.items) do
  item.stock_tracked = true
  local member = hold_member(a.order_id, item.chapter, item.sku, item.quantity)
  table.insert(members, member)
  local held = redis.call('HINCRBY', S.held, item.sku, item.quantity)
  redis.call('ZADD', S.holds, a.hold_until, member)
  redis.call('ZADD', K.addr_holds, a.hold_until, member)
  if limits_customer and a.product_limits[product_of(item.sku)] then
    redis.call('ZADD', K.cust_holds, a.hold_until, member)
  end
  ledger_add(now_ms, {chapter = item.chapter, sku = item.sku, reason = 'hold', delta = 0,
    on_hand = num(redis.call('HGET', S.stock, item.sku)), held_delta = item.quantity, held = held,
    ref = a.order_id, actor = 'shopper', note = 'checkout started'})
end
local hold_ms = a.hold_until - now
redis.call('PEXPIRE', K.addr_holds, hold_ms)
redis.call('ZADD', K.addr_starts, now, a.order_id)
redis.call('PEXPIRE', K.addr_starts, 60000)
if limits_customer then
  -- An awaiting_payment hold outlives hold_until: the customer's members stay while any may still be paid for.
  redis.call('EXPIRE', K.cust_holds, 35 * 86400)
end
redis.call('SET', K.shopper, cjson.encode({order_id = a.order_id, members = members}), 'PX', hold_ms)

local created_ms = order_created_ms(K.orders, now_ms)
local member = order_member(created_ms, a.order_id)
redis.call('HSET', K.order, 'id', a.order_id, 'status', 'pending', 'items', cjson.encode(a.items),
  'amount_expected', a.amount_expected, 'currency', a.currency, 'hold_until', a.hold_until,
  'created_at', created_ms, 'updated_at', created_ms, 'flags', '[]', 'oversold', '[]', 'event_ids', '[]',
  'history', cjson.encode({{at = now_ms, status = 'pending', actor = 'shopper', note = 'checkout started'}}))
if not is_null(a.email) then
  redis.call('HSET', K.order, 'limit_email', a.email)
end
redis.call('ZADD', K.orders, 0, member)
redis.call('ZADD', K.pending, 0, member)
if a.idempotency then
  redis.call('SET', K.idem, a.order_id, 'EX', a.idempotency_ttl)
end
return cjson.encode({ok = true, replaced = replaced_order or cjson.null})
