-- rate_limit.lua: count one attempt in a fixed window.
-- KEYS[1]  the counter of one client (string, expires with the window)
-- ARGV[1]  attempts allowed per window
-- ARGV[2]  window in seconds
-- Returns JSON [allowed (1/0), seconds until the window ends]

local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return cjson.encode({n <= tonumber(ARGV[1]) and 1 or 0, ttl})
