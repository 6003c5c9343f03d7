-- _limits.lua: the drop limits a checkout must pass (SPEC section 7), included by checkout_hold.lua so each
-- one is judged in the same atomic step as the hold it limits. Each *_refusal function answers the refusal
-- the script returns, or nil when the limit lets the checkout through.
-- The per-address and per-customer counts are derived from the holds themselves: a member of the address or
-- customer zset counts only while the same member is still in the holds zset, so it lapses, is released or is
-- sold together with the hold, with no worker and no other script knowing about it.

local function product_of(sku)
  return string.match(sku, '^([^/]+)/')
end

-- The release window of every chapter in the cart, by the store's clock. From opens_at, while a chapter's
-- line runs, only a shopper the line let through (passes[chapter]) may hold its units.
local function window_refusal(releases_key, chapters, passes, now)
  for _, chapter in ipairs(chapters) do
    local text = redis.call('HGET', releases_key, chapter)
    if text then
      local r = cjson.decode(text)
      if not is_null(r.opens_at) and now < r.opens_at then
        return {error = 'scheduled', chapter = chapter, opens_at = r.opens_at}
      end
      if not is_null(r.closes_at) and now >= r.closes_at then
        return {error = 'closed', chapter = chapter, closes_at = r.closes_at}
      end
      if not is_null(r.queue) and not is_null(r.opens_at) and not passes[chapter] then
        return {error = 'line', chapter = chapter}
      end
    end
  end
end

-- Checkout starts of one address in the last minute (a sliding window of order id -> ms).
local function rate_refusal(starts_key, per_minute, now)
  redis.call('ZREMRANGEBYSCORE', starts_key, '-inf', now - 60000)
  if redis.call('ZCARD', starts_key) >= per_minute then
    local oldest = redis.call('ZRANGE', starts_key, 0, 0, 'WITHSCORES')
    local wait = math.ceil((tonumber(oldest[2]) + 60000 - now) / 1000)
    return {error = 'rate', retry_after = math.max(1, wait)}
  end
end

-- A hold member still on the books with an end (an awaiting_payment hold has none: it is paid for).
local function live_hold(member)
  local score = redis.call('ZSCORE', S.holds, member)
  return score ~= false and score ~= nil and score ~= 'inf' and score ~= '+inf'
end

-- The shopper's open checkout, released if this one starts: its live hold members (a set: they count for
-- nothing in the limits), the units per SKU they free, and its order id (nil when nothing of it is live).
local function open_checkout(shopper_key)
  local members, freed, order_id = {}, {}, nil
  local text = redis.call('GET', shopper_key)
  if text then
    local old = cjson.decode(text)
    for _, member in ipairs(old.members or {}) do
      if live_hold(member) then
        members[member] = true
        order_id = old.order_id
        local _, _, sku, qty = split_hold(member)
        freed[sku] = (freed[sku] or 0) + qty
      end
    end
  end
  return members, freed, order_id
end

-- Units held by the members of a zset whose hold is still on the books (the others are dropped from it),
-- leaving out the members being replaced: the total and the units per product.
local function units_held(key, replaced)
  local total, by_product = 0, {}
  for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    if redis.call('ZSCORE', S.holds, member) then
      if not replaced[member] then
        local _, _, sku, qty = split_hold(member)
        local product = product_of(sku)
        total = total + qty
        by_product[product] = (by_product[product] or 0) + qty
      end
    else
      redis.call('ZREM', key, member)
    end
  end
  return total, by_product
end

-- Units one address holds now (its members past their hold end are dropped first) plus the cart's units.
local function address_refusal(holds_key, replaced, units, limit, now)
  redis.call('ZREMRANGEBYSCORE', holds_key, '-inf', now)
  local held = units_held(holds_key, replaced)
  if held + units > limit then
    return {error = 'address_limit', limit = limit, held = held}
  end
end

-- Per-customer limits of the cart's limited products: units held by the customer's open checkouts (awaiting
-- payment included) + units paid + units wanted now.
local function customer_refusal(holds_key, paid_key, replaced, wanted, limits)
  local _, held_by = units_held(holds_key, replaced)
  for product, limit in pairs(limits) do
    local taken = (held_by[product] or 0) + num(redis.call('HGET', paid_key, product))
    if wanted[product] and taken + wanted[product] > limit then
      return {error = 'customer_limit', product = product, limit = limit, taken = taken}
    end
  end
end

-- Every line the stock cannot cover; the shopper's own replaced holds (freed) do not count against them.
local function short_refusal(items, freed)
  local short = {}
  for _, item in ipairs(items) do
    local can_sell = 0
    if is_initialized(item.chapter) then
      can_sell = available(num(redis.call('HGET', S.stock, item.sku)),
        num(redis.call('HGET', S.held, item.sku)) - (freed[item.sku] or 0))
    end
    if can_sell < item.quantity then
      table.insert(short, {sku = item.sku, requested = item.quantity, available = can_sell})
    end
  end
  if #short > 0 then
    return {error = 'short', skus = short}
  end
end
