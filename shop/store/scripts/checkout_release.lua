-- checkout_release.lua: a checkout that will not be paid: release its holds, and the open order expires
-- (shop/lifecycle.py CHECKOUT_MOVES["release"]). Used when Stripe refused to start the session, and when
-- the shopper cancels.
-- KEYS[1..5]  stock, held, holds, chapters, ledger (see _prelude.lua)
-- KEYS[6]     the order (hash)
-- KEYS[7]     the Idempotency-Key mark that started it (deleted, so a retry starts afresh), or a placeholder
-- KEYS[8..]   the status indexes of the move's statuses (lex zsets; see status_keys in _prelude.lua)
-- ARGV[1]     now_ms
-- ARGV[2]     JSON {"order_id", "actor", "note", "from": the statuses the move starts from}
-- Returns JSON {"status": "released"} | {"status": "unchanged", "order_status": s} | {"error": "not_found"}

local now_ms = ARGV[1]
local a = cjson.decode(ARGV[2])
local fields = redis.call('HMGET', KEYS[6], 'status', 'items', 'created_at', 'history')
local status, items_text, created_at, history_text = fields[1], fields[2], fields[3], fields[4]
if not status then
  return cjson.encode({error = 'not_found'})
end
if not includes(a.from, status) then
  return cjson.encode({status = 'unchanged', order_status = status})
end

drop_expired_holds(now_ms)
release_order_holds(now_ms, a.order_id, cjson.decode(items_text), a.actor, a.note)

local history = decode_or_empty(history_text)
table.insert(history, {at = now_ms, status = 'expired', actor = a.actor, note = a.note})
local member = order_member(created_at, a.order_id)
local indexes = status_keys(8)
redis.call('ZREM', indexes[status], member)
redis.call('ZADD', indexes.expired, 0, member)
redis.call('HSET', KEYS[6], 'status', 'expired', 'updated_at', now_ms, 'history', cjson.encode(history))
if redis.call('GET', KEYS[7]) == a.order_id then
  redis.call('DEL', KEYS[7])
end
return cjson.encode({status = 'released'})
