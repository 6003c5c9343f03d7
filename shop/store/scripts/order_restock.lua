-- order_restock.lua: after a refund, the owner puts an order's units back on the shelf, once.
-- KEYS[1..5]  stock, held, holds, chapters, ledger (see _prelude.lua)
-- KEYS[6]     the order (hash); its field `restocked` records the units already put back per SKU
-- ARGV[1]     now_ms
-- ARGV[2]     JSON {"order_id", "lines": [[sku, chapter, quantity], ...], "actor", "note",
--                   "from": the statuses after a refund (shop/lifecycle.py RESTOCKABLE)}
-- Returns JSON {"ok": true, "restocked": {sku: n}} | {"error": "not_found" | "not_refunded" | "too_many",
--              "skus": [...]} | {"error": "not_initialized", "chapter"}

local now_ms = ARGV[1]
local a = cjson.decode(ARGV[2])
local fields = redis.call('HMGET', KEYS[6], 'status', 'items', 'restocked', 'history')
local status, items_text, restocked_text, history_text = fields[1], fields[2], fields[3], fields[4]
if not status then
  return cjson.encode({error = 'not_found'})
end
if not includes(a.from, status) then
  return cjson.encode({error = 'not_refunded', status = status})
end
local sold = {}
for _, item in ipairs(decode_or_empty(items_text)) do
  if item.stock_tracked then
    sold[item.sku] = (sold[item.sku] or 0) + item.quantity
  end
end
local restocked = decode_or_empty(restocked_text)
local too_many = {}
for _, line in ipairs(a.lines) do
  local sku, chapter, qty = line[1], line[2], line[3]
  if not is_initialized(chapter) then
    return cjson.encode({error = 'not_initialized', chapter = chapter})
  end
  if qty > (sold[sku] or 0) - (restocked[sku] or 0) then
    table.insert(too_many, {sku = sku, requested = qty, left = (sold[sku] or 0) - (restocked[sku] or 0)})
  end
end
if #too_many > 0 then
  return cjson.encode({error = 'too_many', skus = too_many})
end

for _, line in ipairs(a.lines) do
  local sku, chapter, qty = line[1], line[2], line[3]
  local on_hand = redis.call('HINCRBY', S.stock, sku, qty)
  restocked[sku] = (restocked[sku] or 0) + qty
  ledger_add(now_ms, {chapter = chapter, sku = sku, reason = 'refund_restock', delta = qty, on_hand = on_hand,
    held_delta = 0, held = num(redis.call('HGET', S.held, sku)), ref = a.order_id, actor = a.actor, note = a.note})
end
local history = decode_or_empty(history_text)
table.insert(history, {at = now_ms, status = status, actor = a.actor, note = 'restocked after refund'})
redis.call('HSET', KEYS[6], 'restocked', cjson.encode(restocked), 'history', cjson.encode(history),
  'updated_at', now_ms)
return cjson.encode({ok = true, restocked = restocked})
