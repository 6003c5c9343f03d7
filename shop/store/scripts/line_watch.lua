-- line_watch.lua: what the owner sees of a chapter's line, read in one consistent step.
-- include: line
-- KEYS[1]  release windows (hash chapter -> JSON)
-- KEYS[2]  the line's arrivals (zset)
-- KEYS[3]  the line's shuffle (zset)
-- KEYS[4]  the line's counters (hash)
-- KEYS[5]  the stock ledger (stream), read from the line's start (opens_at - starts_minutes_before; entry ids
--          are the store's ms) to count the chapter's units sold since, at most ARGV[2] entries
-- ARGV[1]  chapter id
-- ARGV[2]  most ledger entries to read
-- Returns JSON {"release", "tickets", "early", "stats": {...}, "sold", "ledger_complete"}

local text = redis.call('HGET', KEYS[1], ARGV[1])
local r = line_release_of(text)
local since = r and int(math.max(0, line_starts_at(r))) or ''
local stats = {}
local flat = redis.call('HGETALL', KEYS[4])
for i = 1, #flat, 2 do
  stats[flat[i]] = flat[i + 1]
end
local sold, complete = 0, true
if since ~= '' then
  local limit = tonumber(ARGV[2])
  local entries = redis.call('XRANGE', KEYS[5], since, '+', 'COUNT', limit)
  complete = #entries < limit
  for _, entry in ipairs(entries) do
    local f = {}
    for i = 1, #entry[2], 2 do
      f[entry[2][i]] = entry[2][i + 1]
    end
    if f.chapter == ARGV[1] and f.reason == 'order_commit' then
      sold = sold - (tonumber(f.delta) or 0)
    end
  end
end
return cjson.encode({release = text and cjson.decode(text) or cjson.null, tickets = redis.call('ZCARD', KEYS[2]),
  early = redis.call('ZCARD', KEYS[3]), stats = stats, sold = sold, ledger_complete = complete})
