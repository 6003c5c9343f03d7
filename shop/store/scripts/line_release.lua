-- line_release.lua: the owner sets (or clears) a chapter's release; its line keeps every ticket issued.
-- "Joined before opens_at" is judged against the opens_at in force: when it moves, tickets that now
-- arrived before it enter the shuffle with the random draw they got at join, and tickets that now
-- arrived after it leave the shuffle and queue by arrival. O(tickets), an owner's action only.
-- KEYS[1]  release windows (hash chapter -> JSON {"opens_at", "closes_at", "queue"})
-- KEYS[2]  the line's arrivals (zset ticket -> arrival ms)
-- KEYS[3]  the line's shuffle (zset ticket -> random draw)
-- KEYS[4]  the line's draws (hash ticket -> random draw)
-- ARGV[1]  chapter id
-- ARGV[2]  the release as JSON, or "" to clear it
-- Returns JSON {"early": tickets now in the shuffle, "late": tickets queueing by arrival}

local chapter = ARGV[1]
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], chapter)
  return cjson.encode({early = redis.call('ZCARD', KEYS[3]), late = 0})
end
redis.call('HSET', KEYS[1], chapter, ARGV[2])
local r = cjson.decode(ARGV[2])
if is_null(r.opens_at) then
  return cjson.encode({early = redis.call('ZCARD', KEYS[3]), late = 0})
end
local opens = string.format('%d', r.opens_at)
local late = redis.call('ZRANGEBYSCORE', KEYS[2], opens, '+inf')
for _, m in ipairs(late) do
  redis.call('ZREM', KEYS[3], m)
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. opens)) do
  if not redis.call('ZSCORE', KEYS[3], m) then
    redis.call('ZADD', KEYS[3], redis.call('HGET', KEYS[4], m) or '0', m)
  end
end
return cjson.encode({early = redis.call('ZCARD', KEYS[3]), late = #late})
