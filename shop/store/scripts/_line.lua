-- _line.lua: a chapter's waiting line (SPEC section 7), shared by the line scripts (-- include: line).
-- L: the line's keys {arrivals, shuffle, ...}; a line's order is the early tickets (joined before opens_at)
-- in the order of their random draw, then the later ones by arrival.

-- The release of a chapter whose line runs: decoded from its JSON text, or nil when it has no line
-- (no release, no queue settings, or no opens_at).
local function line_release_of(text)
  local r = text and cjson.decode(text) or {}
  if is_null(r.queue) or is_null(r.opens_at) then
    return nil
  end
  return r
end

-- When the line starts taking shoppers (ms): starts_minutes_before its chapter opens.
local function line_starts_at(r)
  return r.opens_at - r.queue.starts_minutes_before * 60000
end

-- A ticket's rank in the line (0 first) once the chapter has opened at `opens`.
local function line_rank(L, member, opens)
  local early = redis.call('ZRANK', L.shuffle, member)
  if early then
    return early
  end
  return redis.call('ZCARD', L.shuffle) + redis.call('ZRANK', L.arrivals, member)
    - redis.call('ZCOUNT', L.arrivals, '-inf', '(' .. int(opens))
end

-- Seconds until the ticket of `rank` is let through, `rate` tickets a minute from `opens`.
local function line_eta(rank, opens, rate, now)
  local at = opens + math.ceil((rank + 1) * 60000 / rate)
  return math.max(0, math.ceil((at - now) / 1000))
end
