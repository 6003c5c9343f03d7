-- _prelude.lua: helpers shared by every script in this folder. The loader puts
-- this text in front of each script, so each one still runs as ONE atomic
-- EVALSHA. Scripts that move stock receive these five keys first:
--   KEYS[1] stock     hash   sku -> units on hand
--   KEYS[2] held      hash   sku -> units held by open checkouts
--   KEYS[3] holds     zset   "order|chapter|sku|qty" -> hold end, ms ("+inf": until paid)
--   KEYS[4] chapters  hash   chapter id -> ms it was initialized
--   KEYS[5] ledger    stream of stock changes (fields as in SPEC section 3)
-- (A script that moves no stock names other keys first and never calls the stock helpers.)
-- A script may name shared modules on a line "-- include: name, name" of its header: the loader
-- puts _name.lua after this prelude and before the script (shop/store/__init__.py, Script).
-- Rule for every script: check everything first, then write. Redis does not
-- roll back a script that fails half-way, so no write may come before a check.

local S = {stock = KEYS[1], held = KEYS[2], holds = KEYS[3], chapters = KEYS[4], ledger = KEYS[5]}

-- A JSON field of a hash (items, history, flags, ...), or an empty table when it is not there yet.
local function decode_or_empty(text)
  if not text or text == '' then
    return {}
  end
  return cjson.decode(text)
end

-- A JSON value that is absent: missing from the table, or null in the JSON text.
local function is_null(v)
  return v == nil or v == cjson.null
end

-- Whether a JSON list (a Lua array) holds the value: a status among a move's sources, a flag among the flags.
local function includes(list, value)
  for _, v in ipairs(list) do
    if v == value then
      return true
    end
  end
  return false
end

local function num(v)
  return tonumber(v) or 0
end

-- Integers as text without exponent or decimals (tostring(1e15) is "1e+15").
local function int(v)
  return string.format('%d', v)
end

-- An order's member in every order index (all orders, per status, per customer, attention):
-- "created_ms|order id", created_ms zero-padded to 15 digits so the lex order is the time order.
local function order_member(created_ms, order_id)
  return string.format('%015d|%s', tonumber(created_ms), order_id)
end

-- Units that can still be sold: on hand less what open checkouts hold, never below zero.
local function available(on_hand, held)
  return math.max(0, on_hand - held)
end

local function ledger_add(now_ms, e)
  redis.call('XADD', S.ledger, '*',
    'at', now_ms, 'chapter', e.chapter, 'sku', e.sku, 'reason', e.reason,
    'delta', int(e.delta or 0), 'on_hand', int(e.on_hand),
    'held_delta', int(e.held_delta or 0), 'held', int(e.held),
    'ref', e.ref or '', 'actor', e.actor or '', 'note', e.note or '')
end

local function split_hold(member)
  local order_id, chapter, sku, qty = string.match(member, '^([^|]*)|([^|]*)|([^|]*)|(%d+)$')
  return order_id, chapter, sku, tonumber(qty)
end

local function hold_member(order_id, chapter, sku, qty)
  return order_id .. '|' .. chapter .. '|' .. sku .. '|' .. int(qty)
end

-- Take one hold off the books: held goes down, a `release` ledger entry says why.
local function release_hold(now_ms, member, actor, note)
  local order_id, chapter, sku, qty = split_hold(member)
  if redis.call('ZREM', S.holds, member) == 0 or not qty then
    return
  end
  local held = redis.call('HINCRBY', S.held, sku, -qty)
  if held < 0 then
    redis.call('HSET', S.held, sku, 0)
    held = 0
  end
  ledger_add(now_ms, {chapter = chapter, sku = sku, reason = 'release', delta = 0,
    on_hand = num(redis.call('HGET', S.stock, sku)), held_delta = -qty, held = held,
    ref = order_id, actor = actor, note = note})
end

-- Holds lapse by themselves: each script that reads or moves stock drops the expired ones first (no worker).
local function drop_expired_holds(now_ms)
  local expired = redis.call('ZRANGEBYSCORE', S.holds, '-inf', now_ms)
  for _, member in ipairs(expired) do
    release_hold(now_ms, member, 'system', 'hold expired')
  end
end

-- A new order's creation time, also its place in the order indexes ("created_ms|id"): never before the
-- newest order's, so lists keep the order the store took them in, even within one millisecond or when an
-- app server's clock runs a little behind. A newest order over a minute ahead was a clock wrong once: it
-- must not drag every later order along, so the app's clock is taken then.
local function order_created_ms(orders_key, now_ms)
  local now = tonumber(now_ms)
  local newest = redis.call('ZREVRANGEBYLEX', orders_key, '+', '-', 'LIMIT', 0, 1)[1]
  local after = newest and tonumber(string.sub(newest, 1, 15))
  if after and after >= now and after - now < 60000 then
    return int(after + 1)
  end
  return int(now)
end

local function is_initialized(chapter)
  return redis.call('HEXISTS', S.chapters, chapter) == 1
end

-- Release every hold an order still has (expired, failed or cancelled checkout).
local function release_order_holds(now_ms, order_id, items, actor, note)
  for _, item in ipairs(items) do
    local member = hold_member(order_id, item.chapter, item.sku, item.quantity)
    if redis.call('ZSCORE', S.holds, member) then
      release_hold(now_ms, member, actor, note)
    end
  end
end

local function chapter_rows(skus)
  local rows = {}
  if #skus == 0 then
    return rows
  end
  local on_hand = redis.call('HMGET', S.stock, unpack(skus))
  local held = redis.call('HMGET', S.held, unpack(skus))
  for i, sku in ipairs(skus) do
    rows[i] = {sku, num(on_hand[i]), num(held[i])}
  end
  return rows
end

-- The status indexes among KEYS, from position `first` to `last` (default: the last key): status name -> key.
-- Each key ends in its status name ({shop}:orders:status:paid), so no list of names travels with the call.
local function status_keys(first, last)
  local by_status = {}
  for i = first, last or #KEYS do
    by_status[string.match(KEYS[i], '[^:]+$')] = KEYS[i]
  end
  return by_status
end
