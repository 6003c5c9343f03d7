-- ledger_page.lua: one page of the ledger, newest first, optionally filtered.
-- Read-only. A filter scans at most a.scan entries per call, so a page costs
-- the same however long the ledger is; the cursor says where to go on.
-- KEYS[1]   ledger (stream)
-- ARGV[1]   JSON {"cursor": "+" or "(<stream id>", "limit", "sku", "reason", "scan"}
-- Returns JSON {"entries": [[id, [field, value, ...]], ...], "next": stream id or false}

local a = cjson.decode(ARGV[1])
local ledger = KEYS[1]
local out = {}
local start = a.cursor
local scanned = 0
local batch = math.max(a.limit + 1, 100)

local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then
      return fields[i + 1]
    end
  end
  return nil
end

while true do
  local rows = redis.call('XREVRANGE', ledger, start, '-', 'COUNT', batch)
  if #rows == 0 then
    break
  end
  for _, row in ipairs(rows) do
    local id, fields = row[1], row[2]
    scanned = scanned + 1
    local keep = (not a.sku or field(fields, 'sku') == a.sku) and
      (not a.reason or field(fields, 'reason') == a.reason)
    if keep then
      if #out == a.limit then
        return cjson.encode({entries = out, next = out[#out][1]})
      end
      table.insert(out, row)
    end
    if scanned >= a.scan then
      return cjson.encode({entries = out, next = id})
    end
  end
  start = '(' .. rows[#rows][1]
end
return cjson.encode({entries = out, next = false})
