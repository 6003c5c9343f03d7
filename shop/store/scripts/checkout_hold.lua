-- checkout_hold.lua: a shopper starts a checkout: hold every line and store the pending order,
-- or hold nothing and say which SKUs are short.
-- KEYS[1..5]  stock, held, holds, chapters, ledger (see _prelude.lua)
-- KEYS[6]     the new order (hash)
-- KEYS[7]     all orders (lex zset)
-- KEYS[8]     pending orders (lex zset, the status index of `pending`)
-- KEYS[9]     the Idempotency-Key mark (string; a placeholder key when the shopper sent none)
-- ARGV[1]     now_ms
-- ARGV[2]     JSON {"order_id", "items": [{sku, chapter, name, size, quantity, unit_amount}], "hold_until" (ms),
--                   "amount_expected", "currency", "idempotency": bool, "idempotency_ttl" (s)}
-- Returns JSON {"ok": true} | {"error": "short", "skus": [{sku, requested, available}]}
--           | {"error": "idempotent", "order_id": the order the same key started}

local now_ms = ARGV[1]
local a = cjson.decode(ARGV[2])
local K = {order = KEYS[6], orders = KEYS[7], pending = KEYS[8], idem = KEYS[9]}

if a.idempotency then
  local first = redis.call('GET', K.idem)
  if first then
    return cjson.encode({error = 'idempotent', order_id = first})
  end
end

drop_expired_holds(now_ms)

local short = {}
for _, item in ipairs(a.items) do
  local available = 0
  if is_initialized(item.chapter) then
    available = math.max(0, num(redis.call('HGET', S.stock, item.sku)) - num(redis.call('HGET', S.held, item.sku)))
  end
  if available < item.quantity then
    table.insert(short, {sku = item.sku, requested = item.quantity, available = available})
  end
end
if #short > 0 then
  return cjson.encode({error = 'short', skus = short})
end

for _, item in ipairs(a.items) do
  item.stock_tracked = true
  local held = redis.call('HINCRBY', S.held, item.sku, item.quantity)
  redis.call('ZADD', S.holds, a.hold_until, hold_member(a.order_id, item.chapter, item.sku, item.quantity))
  ledger_add(now_ms, {chapter = item.chapter, sku = item.sku, reason = 'hold', delta = 0,
    on_hand = num(redis.call('HGET', S.stock, item.sku)), held_delta = item.quantity, held = held,
    ref = a.order_id, actor = 'shopper', note = 'checkout started'})
end

local created_ms = order_created_ms(K.orders, now_ms)
local member = string.format('%015d|%s', tonumber(created_ms), a.order_id)
redis.call('HSET', K.order, 'id', a.order_id, 'status', 'pending', 'items', cjson.encode(a.items),
  'amount_expected', a.amount_expected, 'currency', a.currency, 'hold_until', a.hold_until,
  'created_at', created_ms, 'updated_at', created_ms, 'flags', '[]', 'oversold', '[]', 'event_ids', '[]',
  'history', cjson.encode({{at = now_ms, status = 'pending', actor = 'shopper', note = 'checkout started'}}))
redis.call('ZADD', K.orders, 0, member)
redis.call('ZADD', K.pending, 0, member)
if a.idempotency then
  redis.call('SET', K.idem, a.order_id, 'EX', a.idempotency_ttl)
end
return cjson.encode({ok = true})
