-- owner_attempt.lua: one owner credential (login form or Bearer token) from one client address,
-- counted and checked in one step, so no burst of parallel guesses slips past the limit.
-- Only wrong credentials count. From the (limit+1)-th failure in a window that opened at the first
-- failure, every credential from that address, right or wrong, is refused until the window ends.
-- KEYS[1]  attempts of this address   hash {n = failures in the window, ends = window end, ms}
-- KEYS[2]  latest failures, all addresses   list "ms|route|address", newest first, capped
-- KEYS[3]  when the last attack alert went out   string, ms
-- KEYS[4]  owner session generation   string integer (read only: a login stores it in its cookie)
-- ARGV[1]  JSON {"now": ms, "ok": bool, "limit", "window_ms", "hour_ms", "alert_at", "keep", "entry": "route|address"}
-- Returns JSON {"verdict": "ok"|"wrong"|"limited", "wait": seconds until the window ends,
--               "alert": bool (this failure crossed alert_at in an hour and none went out for an hour),
--               "generation": integer}

local a = cjson.decode(ARGV[1])
local now = tonumber(a.now)
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or 0) or 0
local ends = tonumber(redis.call('HGET', KEYS[1], 'ends') or 0) or 0
if ends <= now then
  n, ends = 0, 0
end
local generation = tonumber(redis.call('GET', KEYS[4]) or 0) or 0

local function wait()
  return math.max(1, math.ceil((ends - now) / 1000))
end

local limited_before = n > a.limit
if a.ok and not limited_before then
  return cjson.encode({verdict = 'ok', wait = 0, alert = false, generation = generation})
end

-- A wrong credential (or any credential while limited) from here on.
local verdict = 'limited'
if not a.ok then
  if not limited_before then
    n = n + 1
    if ends == 0 then
      ends = now + a.window_ms
    end
    redis.call('HSET', KEYS[1], 'n', n, 'ends', string.format('%d', ends))
    -- Garbage collection only: the window itself is judged by the shop's clock above.
    redis.call('PEXPIRE', KEYS[1], math.max(1000, ends - now + 1000))
    if n <= a.limit then
      verdict = 'wrong'
    end
  end
  redis.call('LPUSH', KEYS[2], string.format('%d', now) .. '|' .. a.entry)
  redis.call('LTRIM', KEYS[2], 0, a.keep - 1)
end

local alert = false
if not a.ok then
  -- alert_at failures in the last hour: the alert_at-th newest entry is less than an hour old.
  local oldest = redis.call('LINDEX', KEYS[2], a.alert_at - 1)
  local at = oldest and tonumber(string.match(oldest, '^(%d+)|')) or nil
  if at and now - at < a.hour_ms then
    local last = tonumber(redis.call('GET', KEYS[3]) or 0) or 0
    if last == 0 or now - last >= a.hour_ms then
      redis.call('SET', KEYS[3], string.format('%d', now), 'PX', 2 * a.hour_ms)
      alert = true
    end
  end
end
return cjson.encode({verdict = verdict, wait = wait(), alert = alert, generation = generation})
