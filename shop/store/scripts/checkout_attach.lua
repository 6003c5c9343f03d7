-- checkout_attach.lua: remember which Checkout Session pays for a pending order.
-- KEYS[1]  the order (hash)
-- KEYS[2]  session id -> order id (hash)
-- ARGV[1]  JSON {"order_id", "session_id", "checkout_url"}
-- Returns JSON {"ok": true} or {"error": "not_found"}

local a = cjson.decode(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
  return cjson.encode({error = 'not_found'})
end
redis.call('HSET', KEYS[1], 'session_id', a.session_id, 'checkout_url', a.checkout_url)
redis.call('HSET', KEYS[2], a.session_id, a.order_id)
return cjson.encode({ok = true})
