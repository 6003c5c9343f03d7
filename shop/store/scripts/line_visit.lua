-- line_visit.lua: one shopper at a chapter's line (SPEC section 7): join it (when asked) and read their place.
-- One atomic step: the ticket cap per address and the shopper-cookie rule are judged with the join itself;
-- position is O(log n) (sorted-set ranks), never a scan. Admission comes from the clock only:
-- admitted(t) = floor((t - opens_at) * admit_per_minute / 60) tickets in line order, so nothing has to run
-- for time to pass. Line order: tickets that joined before opens_at (the shuffle zset, scored by a random
-- draw made at join), then later ones by arrival (their rank in the arrivals zset minus the early ones).
-- The first answer that reports a ticket admitted records its pass (issued at now); a pass that has run out
-- sends its ticket to the back of the line (a new arrival at now).
-- include: line
-- KEYS[1..5]  stock, held, holds, chapters, ledger (see _prelude.lua; read to tell a sold-out chapter)
-- KEYS[6]     release windows (hash chapter -> JSON {"opens_at", "closes_at", "queue"})
-- KEYS[7]     the line's arrivals (zset ticket -> arrival ms, every ticket)
-- KEYS[8]     the line's shuffle (zset ticket -> random draw, only tickets that joined before opens_at)
-- KEYS[9]     the line's draws (hash ticket -> random draw, kept to reshuffle when opens_at moves)
-- KEYS[10]    the line's tickets per client address (hash address digest -> tickets issued)
-- KEYS[11]    the line's passes (hash ticket -> ms the pass was issued)
-- KEYS[12]    the line's counters (hash: joins, passes, rejoined, refused_address, refused_no_cookie, sold_out_at)
-- ARGV[1]     now_ms
-- ARGV[2]     JSON {"chapter", "skus": [the chapter's skus], "member": ticket name or null (no shopper cookie),
--                   "join": bool, "address": client address digest, "draw": random number in [0, 1),
--                   "max_tickets": tickets per address, "ttl_ms": how long the line's keys live after a join}
-- Returns JSON {"state": "waiting" | "admitted" | "not_in_line" | "closed", "position", "ahead", "eta_seconds",
--               "opens_at", "arrival", "pass_expires", "rejoined", "sold_out"}
--           | {"error": "no_line"} | {"error": "not_yet", "starts_at", "opens_at"}
--           | {"error": "no_shopper"} | {"error": "address_cap", "limit"}

local now_ms = ARGV[1]
local now = tonumber(now_ms)
local a = cjson.decode(ARGV[2])
local L = {releases = KEYS[6], arrivals = KEYS[7], shuffle = KEYS[8], draws = KEYS[9], addrs = KEYS[10],
  passes = KEYS[11], stats = KEYS[12]}

local r = line_release_of(redis.call('HGET', L.releases, a.chapter))
if not r then
  return cjson.encode({error = 'no_line'})
end
local opens, q = r.opens_at, r.queue
-- One more of a counter in the line's counters, which live as long as the line.
local function count(name)
  redis.call('HINCRBY', L.stats, name, 1)
  redis.call('PEXPIRE', L.stats, a.ttl_ms)
end
local starts = line_starts_at(r)
local rate = q.admit_per_minute
local m = a.member

-- Closed: after closes_at, or nothing left to sell (every unit sold or held by an open checkout).
local closed, sold_out = false, false
if not is_null(r.closes_at) and now >= r.closes_at then
  closed = true
elseif is_initialized(a.chapter) and #a.skus > 0 then
  drop_expired_holds(now_ms)
  local left = 0
  for _, row in ipairs(chapter_rows(a.skus)) do
    left = left + available(row[2], row[3])
  end
  if left <= 0 then
    closed, sold_out = true, true
    if redis.call('HSETNX', L.stats, 'sold_out_at', now_ms) == 1 then
      redis.call('PEXPIRE', L.stats, a.ttl_ms)
    end
  end
end
if closed then
  return cjson.encode({state = 'closed', position = cjson.null, ahead = cjson.null, eta_seconds = cjson.null,
    opens_at = opens, sold_out = sold_out})
end

if a.join then
  if now < starts then
    return cjson.encode({error = 'not_yet', starts_at = starts, opens_at = opens})
  end
  if is_null(m) then
    count('refused_no_cookie')
    return cjson.encode({error = 'no_shopper'})
  end
  if not redis.call('ZSCORE', L.arrivals, m) then
    if num(redis.call('HGET', L.addrs, a.address)) >= a.max_tickets then
      count('refused_address')
      return cjson.encode({error = 'address_cap', limit = a.max_tickets})
    end
    redis.call('HINCRBY', L.addrs, a.address, 1)
    redis.call('ZADD', L.arrivals, now, m)
    if now < opens then
      redis.call('ZADD', L.shuffle, a.draw, m)
    end
    redis.call('HSET', L.draws, m, a.draw)
    redis.call('HINCRBY', L.stats, 'joins', 1)
    for _, k in ipairs({L.arrivals, L.shuffle, L.draws, L.addrs, L.passes, L.stats}) do
      redis.call('PEXPIRE', k, a.ttl_ms)
    end
  end
end

local arrival = (not is_null(m)) and redis.call('ZSCORE', L.arrivals, m)
if not arrival then
  return cjson.encode({state = 'not_in_line', position = cjson.null, ahead = cjson.null, eta_seconds = cjson.null,
    opens_at = opens})
end

if now < opens then
  -- Before opens_at the place shown is the arrival rank; the shuffle at opens_at decides the real order, so the
  -- wait is the same for every early ticket: the middle of the shuffled part (arriving first is no advantage,
  -- and a page that looks again at its estimate does not look sooner for having come first).
  local rank = redis.call('ZRANK', L.arrivals, m)
  local middle = math.floor(redis.call('ZCARD', L.shuffle) / 2)
  return cjson.encode({state = 'waiting', position = rank + 1, ahead = rank,
    eta_seconds = line_eta(middle, opens, rate, now), opens_at = opens, arrival = tonumber(arrival)})
end

local let_through = math.floor((now - opens) * rate / 60000)
local rank = line_rank(L, m, opens)
local rejoined = false
if rank < let_through then
  local issued = redis.call('HGET', L.passes, m)
  if issued and now >= tonumber(issued) + q.pass_minutes * 60000 then
    -- The pass ran out unused: back of the line, as a new arrival.
    redis.call('ZREM', L.shuffle, m)
    redis.call('ZADD', L.arrivals, now, m)
    redis.call('HDEL', L.passes, m)
    count('rejoined')
    arrival, issued, rejoined = now, nil, true
    rank = line_rank(L, m, opens)
  end
  if rank < let_through then
    if not issued then
      issued = now
      redis.call('HSET', L.passes, m, now_ms)
      count('passes')
    end
    return cjson.encode({state = 'admitted', position = cjson.null, ahead = 0, eta_seconds = 0, opens_at = opens,
      arrival = tonumber(arrival), pass_expires = tonumber(issued) + q.pass_minutes * 60000, rejoined = rejoined})
  end
end
local position = rank - let_through + 1
return cjson.encode({state = 'waiting', position = position, ahead = position - 1,
  eta_seconds = line_eta(rank, opens, rate, now), opens_at = opens, arrival = tonumber(arrival), rejoined = rejoined})
