-- stock_change.lua: the owner initializes, sets or adjusts a chapter's stock.
-- KEYS[1..5] stock, held, holds, chapters, ledger (see _prelude.lua)
-- ARGV[1] now_ms
-- ARGV[2] JSON {"mode": "initialize"|"set"|"adjust", "chapter", "actor",
--               "note", "ref", "changes": [[sku, n], ...], "skus": [every sku of the chapter]}
--         initialize/set: n is the new on-hand count; adjust: n is the delta.
-- Returns JSON {"ok": true, "initialized", "rows": [[sku, on_hand, held], ...]}
--      or JSON {"error": "already_initialized"|"not_initialized"|"negative", "skus": [...]}

local now_ms = ARGV[1]
local a = cjson.decode(ARGV[2])

drop_expired_holds(now_ms)

local initialized = is_initialized(a.chapter)
if a.mode == 'initialize' and initialized then
  return cjson.encode({error = 'already_initialized'})
end
if (a.mode == 'set' or a.mode == 'adjust') and not initialized then
  return cjson.encode({error = 'not_initialized'})
end

if a.mode == 'adjust' then
  local below = {}
  for _, change in ipairs(a.changes) do
    local after = num(redis.call('HGET', S.stock, change[1])) + change[2]
    if after < 0 then
      table.insert(below, {sku = change[1], on_hand = after - change[2], delta = change[2]})
    end
  end
  if #below > 0 then
    return cjson.encode({error = 'negative', skus = below})
  end
end

if a.mode == 'initialize' then
  redis.call('HSET', S.chapters, a.chapter, now_ms)
end
for _, change in ipairs(a.changes) do
  local sku, n = change[1], change[2]
  local before = num(redis.call('HGET', S.stock, sku))
  local after = n
  if a.mode == 'adjust' then
    after = before + n
  end
  if a.mode == 'initialize' or after ~= before then
    redis.call('HSET', S.stock, sku, int(after))
    ledger_add(now_ms, {chapter = a.chapter, sku = sku, reason = a.mode, delta = after - before,
      on_hand = after, held_delta = 0, held = num(redis.call('HGET', S.held, sku)),
      ref = a.ref, actor = a.actor, note = a.note})
  end
end

return cjson.encode({ok = true, initialized = true, rows = chapter_rows(a.skus)})
