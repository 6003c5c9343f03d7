-- stock_read.lua: stock of several chapters, after dropping expired holds.
-- KEYS[1..5] stock, held, holds, chapters, ledger (see _prelude.lua)
-- KEYS[6]    (optional) release windows (hash chapter -> JSON): read in the same round trip when given
-- ARGV[1] now_ms
-- ARGV[2] JSON [[chapter id, [sku, ...]], ...]
-- Returns JSON [[chapter id, initialized (bool), [[sku, on_hand, held], ...]], ...]
--         with KEYS[6]: [that, {chapter id: release JSON text}]

local now_ms = ARGV[1]
local chapters = cjson.decode(ARGV[2])

drop_expired_holds(now_ms)

local out = {}
for i, chapter in ipairs(chapters) do
  out[i] = {chapter[1], is_initialized(chapter[1]), chapter_rows(chapter[2])}
end
if KEYS[6] then
  local windows = {}
  local flat = redis.call('HGETALL', KEYS[6])
  for i = 1, #flat, 2 do
    windows[flat[i]] = flat[i + 1]
  end
  return cjson.encode({out, windows})
end
return cjson.encode(out)
