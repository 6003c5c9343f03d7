-- order_status.lua: the owner moves an order on (shipped, delivered, needs_review -> paid).
-- KEYS[1]     the order (hash)
-- KEYS[2..]   one lex zset per status, each key ending in its status name
-- ARGV[1]     now_ms
-- ARGV[2]     JSON {"status", "allowed_from": [...], "tracking", "actor", "note"}
-- Returns JSON {"ok": true} or {"error": "not_found"} or {"error": "not_allowed", "from": status}

local now_ms = ARGV[1]
local a = cjson.decode(ARGV[2])
local order_key = KEYS[1]

local current = redis.call('HMGET', order_key, 'status', 'created_at', 'history', 'id')
local status, created_at, history_text, order_id = current[1], current[2], current[3], current[4]
if not status then
  return cjson.encode({error = 'not_found'})
end
local allowed = false
for _, s in ipairs(a.allowed_from) do
  if s == status then
    allowed = true
  end
end
if not allowed then
  return cjson.encode({error = 'not_allowed', from = status})
end

local member = order_member(created_at, order_id)
local status_key = status_keys(2)
if status_key[status] then
  redis.call('ZREM', status_key[status], member)
end
redis.call('ZADD', status_key[a.status], 0, member)

local history = decode_or_empty(history_text)
table.insert(history, {at = now_ms, status = a.status, actor = a.actor, note = a.note})
local updates = {'status', a.status, 'updated_at', now_ms, 'history', cjson.encode(history)}
if a.tracking then
  table.insert(updates, 'tracking')
  table.insert(updates, a.tracking)
end
redis.call('HSET', order_key, unpack(updates))
return cjson.encode({ok = true, from = status})
