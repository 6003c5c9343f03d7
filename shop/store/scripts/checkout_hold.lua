-- checkout_hold.lua: a shopper starts a checkout: hold every line and store the pending order,
-- or hold nothing and say why. Every drop limit (SPEC section 7) is judged here, in the same
-- atomic step as the hold, so no number of concurrent requests can pass a limit together:
-- the release window, checkout starts per address per minute, one open checkout per shopper
-- (a new one releases the old one's holds), units held per shopper and per address, and the
-- per-customer limit of a product (held by open checkouts + paid).
-- The per-address and per-customer counts are derived from the holds themselves: a member of
-- the address or customer zset counts only while the same member is still in the holds zset,
-- so they lapse, get released or get sold together with the hold, with no worker and no
-- other script knowing about them.
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

local function is_null(v)
  return v == nil or v == cjson.null
end
-- A limit the caller leaves out is no limit (shop.checkout always gives every one).
a.chapters = a.chapters or {}
a.product_limits = a.product_limits or {}
local passes = {}
for _, chapter in ipairs(a.passes or {}) do
  passes[chapter] = true
end
a.shopper_max_units = a.shopper_max_units or math.huge
a.address_max_units = a.address_max_units or math.huge
a.address_per_minute = a.address_per_minute or math.huge

if a.idempotency then
  local first = redis.call('GET', K.idem)
  if first then
    return cjson.encode({error = 'idempotent', order_id = first})
  end
end

-- The release window of every chapter in the cart, by the store's clock.
for _, chapter in ipairs(a.chapters) do
  local text = redis.call('HGET', K.releases, chapter)
  if text then
    local r = cjson.decode(text)
    if not is_null(r.opens_at) and now < r.opens_at then
      return cjson.encode({error = 'scheduled', chapter = chapter, opens_at = r.opens_at})
    end
    if not is_null(r.closes_at) and now >= r.closes_at then
      return cjson.encode({error = 'closed', chapter = chapter, closes_at = r.closes_at})
    end
    -- From opens_at, while a chapter's line runs, only a shopper the line let through may hold its units.
    if not is_null(r.queue) and not is_null(r.opens_at) and not passes[chapter] then
      return cjson.encode({error = 'line', chapter = chapter})
    end
  end
end

drop_expired_holds(now_ms)

-- Checkout starts of this address in the last minute (a sliding window).
redis.call('ZREMRANGEBYSCORE', K.addr_starts, '-inf', now - 60000)
if redis.call('ZCARD', K.addr_starts) >= a.address_per_minute then
  local oldest = redis.call('ZRANGE', K.addr_starts, 0, 0, 'WITHSCORES')
  local wait = math.ceil((tonumber(oldest[2]) + 60000 - now) / 1000)
  return cjson.encode({error = 'rate', retry_after = math.max(1, wait)})
end

-- A hold member still on the books with an end (an awaiting_payment hold has none: it is paid for).
local function live(member)
  local score = redis.call('ZSCORE', S.holds, member)
  return score ~= false and score ~= nil and score ~= 'inf' and score ~= '+inf'
end

-- The shopper's open checkout: its live holds are released if this one starts, so they count for nothing below.
local replaced = {}
local replaced_order = nil
local freed = {}
local old_text = redis.call('GET', K.shopper)
if old_text then
  local old = cjson.decode(old_text)
  for _, member in ipairs(old.members or {}) do
    if live(member) then
      replaced[member] = true
      replaced_order = old.order_id
      local _, _, sku, qty = split_hold(member)
      freed[sku] = (freed[sku] or 0) + qty
    end
  end
end

local units = 0
local wanted = {}
for _, item in ipairs(a.items) do
  units = units + item.quantity
  local product = string.match(item.sku, '^([^/]+)/')
  wanted[product] = (wanted[product] or 0) + item.quantity
end
if units > a.shopper_max_units then
  return cjson.encode({error = 'shopper_limit', limit = a.shopper_max_units, held = 0})
end

-- Units this address holds now: members whose hold is still on the books (the rest are dropped here).
redis.call('ZREMRANGEBYSCORE', K.addr_holds, '-inf', now)
local address_held = 0
for _, member in ipairs(redis.call('ZRANGE', K.addr_holds, 0, -1)) do
  if redis.call('ZSCORE', S.holds, member) then
    if not replaced[member] then
      local _, _, _, qty = split_hold(member)
      address_held = address_held + qty
    end
  else
    redis.call('ZREM', K.addr_holds, member)
  end
end
if address_held + units > a.address_max_units then
  return cjson.encode({error = 'address_limit', limit = a.address_max_units, held = address_held})
end

-- Per-customer limits: units held by the customer's open checkouts (awaiting payment included) + units paid.
if not is_null(a.email) and next(a.product_limits) then
  local held_by = {}
  for _, member in ipairs(redis.call('ZRANGE', K.cust_holds, 0, -1)) do
    if redis.call('ZSCORE', S.holds, member) then
      if not replaced[member] then
        local _, _, sku, qty = split_hold(member)
        local product = string.match(sku, '^([^/]+)/')
        held_by[product] = (held_by[product] or 0) + qty
      end
    else
      redis.call('ZREM', K.cust_holds, member)
    end
  end
  for product, limit in pairs(a.product_limits) do
    local taken = (held_by[product] or 0) + num(redis.call('HGET', K.paid, product))
    if wanted[product] and taken + wanted[product] > limit then
      return cjson.encode({error = 'customer_limit', product = product, limit = limit, taken = taken})
    end
  end
end

local short = {}
for _, item in ipairs(a.items) do
  local can_sell = 0
  if is_initialized(item.chapter) then
    -- The shopper's own earlier holds (freed: released below) do not count against them.
    can_sell = available(num(redis.call('HGET', S.stock, item.sku)),
      num(redis.call('HGET', S.held, item.sku)) - (freed[item.sku] or 0))
  end
  if can_sell < item.quantity then
    table.insert(short, {sku = item.sku, requested = item.quantity, available = can_sell})
  end
end
if #short > 0 then
  return cjson.encode({error = 'short', skus = short})
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
  local product = string.match(item.sku, '^([^/]+)/')
  if not is_null(a.email) and a.product_limits[product] then
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
if not is_null(a.email) and next(a.product_limits) then
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
