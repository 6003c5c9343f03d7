-- order_refund_request.lua: the owner asks Stripe for a refund of an order: remember whether the
-- units go back on the shelf, so the refund event's script (event_refund.lua) restocks them exactly
-- once when Stripe confirms. Asked before Stripe is called; undone (restock false) if Stripe refuses.
-- KEYS[1]  the order (hash)
-- ARGV[1]  now_ms
-- ARGV[2]  JSON {"restock": bool, "note", "refundable": statuses a refund may start from (shop/lifecycle.py)}
-- Returns JSON {"ok": true, "status"} | {"error": "not_found"} | {"error": "not_refundable", "status"}

local now_ms = ARGV[1]
local a = cjson.decode(ARGV[2])
local fields = redis.call('HMGET', KEYS[1], 'status', 'history')
local status, history_text = fields[1], fields[2]
if not status then
  return cjson.encode({error = 'not_found'})
end
local refundable = false
for _, s in ipairs(a.refundable) do
  refundable = refundable or s == status
end
if not refundable then
  return cjson.encode({error = 'not_refundable', status = status})
end
local history = decode_or_empty(history_text)
table.insert(history, {at = now_ms, status = status, actor = 'owner', note = a.note})
redis.call('HSET', KEYS[1], 'restock_on_refund', a.restock and '1' or '0', 'history', cjson.encode(history),
  'updated_at', now_ms)
return cjson.encode({ok = true, status = status})
