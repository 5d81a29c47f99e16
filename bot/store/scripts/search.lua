-- search.lua: one partition's share of a contact search.
--
-- KEYS[1..n]   index buckets, one per prefix (members are `term\0local-id`)
-- KEYS[n+1..]  walk sets: status or inbox sets scored by the customer's last
--              message, used when the prefix matches too many contacts
-- ARGV[1]      contact key prefix (`fu:{p3}:c:`)
-- ARGV[2]      n, the number of prefixes
-- ARGV[3..]    n pairs: kind, prefix
-- then         status filter ("" = any), assignee filter ("" = any),
--              sort ("recent" | "name"), need (results wanted), budget
--              (most contacts to examine)
-- Returns {plan, total, truncated, local1, key1, local2, key2, ...}: the best
-- `need` matches in sort order; key is the last-message time or the name key.

local prefix_key = ARGV[1]
local n = tonumber(ARGV[2])
local kinds, prefixes = {}, {}
for i = 1, n do
  kinds[i] = ARGV[1 + 2 * i]
  prefixes[i] = ARGV[2 + 2 * i]
end
local a = 3 + 2 * n
local want_status, want_assignee = ARGV[a], ARGV[a + 1]
local sort, need, budget = ARGV[a + 2], tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
local walk_sets = {}
for i = n + 1, #KEYS do walk_sets[#walk_sets + 1] = KEYS[i] end

local function local_id(member)
  local pos = string.find(member, '\0', 1, true)
  return string.sub(member, pos + 1)
end

-- Reads a contact; returns its sort key when it passes the filters (and, when
-- check_terms, matches one of the prefixes), else nil.
local function examine(id, check_terms)
  local f = redis.call('HMGET', prefix_key .. id, 'st', 'as', 'li', 'nk', 'tx')
  if not f[1] then return nil end
  if want_status ~= '' and f[1] ~= want_status then return nil end
  if want_assignee ~= '' and f[2] ~= want_assignee then return nil end
  if check_terms then
    local tx = f[5] or ''
    local hit = false
    for i = 1, n do
      if string.find(tx, '\30' .. kinds[i] .. prefixes[i], 1, true) then hit = true break end
    end
    if not hit then return nil end
  end
  if sort == 'name' then return f[4] or '' end
  return tonumber(f[3] or '0') or 0
end

local function better(x, y)
  if x[2] == y[2] then return x[1] < y[1] end
  if sort == 'name' then return x[2] < y[2] end
  return x[2] > y[2]
end

local function reply(plan, total, truncated, found)
  table.sort(found, better)
  local out = {plan, total, truncated}
  for i = 1, math.min(need, #found) do
    out[#out + 1] = found[i][1]
    out[#out + 1] = tostring(found[i][2])
  end
  return out
end

local total = 0
for i = 1, n do
  total = total + redis.call('ZLEXCOUNT', KEYS[i], '[' .. prefixes[i], '[' .. prefixes[i] .. '\255')
end

local function by_index(limit)
  local seen, found = {}, {}
  for i = 1, n do
    local members = redis.call('ZRANGEBYLEX', KEYS[i], '[' .. prefixes[i],
      '[' .. prefixes[i] .. '\255', 'LIMIT', 0, limit)
    for _, m in ipairs(members) do
      local id = local_id(m)
      if not seen[id] then
        seen[id] = true
        local key = examine(id, false)
        if key then found[#found + 1] = {id, key} end
      end
    end
  end
  return found
end

if total <= budget then
  return reply('index', total, 0, by_index(budget))
end

local walk_size = 0
for _, set in ipairs(walk_sets) do walk_size = walk_size + redis.call('ZCARD', set) end

if #walk_sets > 0 and (walk_size <= budget or sort == 'recent') then
  -- Walk the filter sets newest first, checking each contact's terms. Sorted
  -- by recency, a set's first `need` matches are its best, so the walk stops
  -- there; sorted by name, it reads the whole (small) set. The budget bounds it.
  local found, seen, truncated = {}, {}, 0
  local share = math.floor(budget / #walk_sets)
  for _, set in ipairs(walk_sets) do
    local matched, examined, start = 0, 0, 0
    while (sort == 'name' or matched < need) and examined < share do
      local chunk = redis.call('ZREVRANGE', set, start, start + 63)
      if #chunk == 0 then break end
      start = start + #chunk
      for _, id in ipairs(chunk) do
        examined = examined + 1
        if not seen[id] then
          seen[id] = true
          local key = examine(id, true)
          if key then
            found[#found + 1] = {id, key}
            matched = matched + 1
          end
        end
        if examined >= share then break end
      end
    end
    if matched < need and examined >= share and start < redis.call('ZCARD', set) then
      truncated = 1
    end
  end
  return reply('walk', total, truncated, found)
end

return reply('index', total, 1, by_index(budget))
