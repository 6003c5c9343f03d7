-- _event.lua: what every Stripe event script does around its own step (-- include: event).
-- E: the event's keys {mark, last, total, today}; a: the action (shop/stripe_events.py, frozen there).

local function add_flag(flags, name)
  if not includes(flags, name) then
    table.insert(flags, name)
  end
end

-- Counters and "last event" describe Stripe's deliveries; the success page and
-- reconciliation (a.source) count under their own name and leave "last event" alone.
local function count_event(E, a, now_ms, outcome)
  local field = (a.source or a.event_type) .. '|' .. outcome
  redis.call('HINCRBY', E.total, field, 1)
  if redis.call('HINCRBY', E.today, field, 1) == 1 then
    redis.call('EXPIRE', E.today, 8 * 86400)  -- set when a counter of the day starts, not on every event
  end
  if not a.source then
    redis.call('HSET', E.last, 'at', now_ms, 'id', a.event_id, 'type', a.event_type,
      'livemode', tostring(a.livemode), 'outcome', outcome)
  end
end

-- The answer of an event that was counted: {"status": outcome, "order_id", "order_status", ...extra}.
local function answer(E, a, now_ms, outcome, order_status, extra)
  count_event(E, a, now_ms, outcome)
  local out = extra or {}
  out.status, out.order_id, out.order_status = outcome, a.order_id, order_status
  return cjson.encode(out)
end

-- An answer that asks the caller to call again with a new action (nothing counted, nothing written).
local function ask_again(a, why)
  return cjson.encode({status = why, order_id = a.order_id})
end

-- The order's hash as a table, or nil when there is no such order.
local function load_order(order_key)
  local flat = redis.call('HGETALL', order_key)
  if #flat == 0 then
    return nil
  end
  local order = {}
  for i = 1, #flat, 2 do
    order[flat[i]] = flat[i + 1]
  end
  return order
end

-- The decoded parts of an order an event extends; `updates` collects the fields to write.
local function open_record(order)
  return {items = decode_or_empty(order.items), flags = decode_or_empty(order.flags),
    oversold = decode_or_empty(order.oversold), history = decode_or_empty(order.history),
    event_ids = decode_or_empty(order.event_ids), updates = {}, stock = {}}
end

-- The end of every applied event: the order's new status in its indexes (idx: status -> key, the
-- move's statuses), the attention index, history, the order's fields, and the event's mark.
-- A new order (fresh) writes all its fields; an existing one only what changed.
local function save_applied(E, a, now_ms, order, rec, new_status, note, idx, fresh)
  local status = order.status
  local member = order_member(order.created_at, a.order_id)
  if status ~= new_status then
    if idx[status] then
      redis.call('ZREM', idx[status], member)
    end
    redis.call('ZADD', idx[new_status], 0, member)
  end
  if #rec.flags > 0 then
    redis.call('ZADD', E.attention, 0, member)
  end
  table.insert(rec.event_ids, a.event_id)
  table.insert(rec.history, {at = now_ms, status = new_status, event_id = a.event_id, type = a.event_type, note = note})
  local updates = rec.updates
  updates.status = new_status
  updates.items = cjson.encode(rec.items)
  updates.flags = cjson.encode(rec.flags)
  updates.oversold = cjson.encode(rec.oversold)
  updates.history = cjson.encode(rec.history)
  updates.event_ids = cjson.encode(rec.event_ids)
  updates.updated_at = int(math.max(num(now_ms), num(order.created_at)))  -- a new order's created_at may be ahead
  if fresh then
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
  redis.call('HSET', E.order, unpack(fields))
  redis.call('SET', E.mark, a.order_id, 'EX', a.mark_ttl)
  local extra = {flags = rec.flags}
  if next(rec.stock) then
    extra.stock = rec.stock
  end
  return answer(E, a, now_ms, 'applied', new_status, extra)
end
