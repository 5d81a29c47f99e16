-- search.lua: one partition's share of a contact search.
--
-- KEYS[1..n]   index buckets, one per prefix (members `term\0local-id`, score 0)
-- KEYS[n+1..]  recency buckets named by the args (name prefixes only: the same
--              members, one set per status the filter admits, scored by the
--              customer's last message), then the walk sets: status or inbox
--              sets scored likewise (the filter)
-- args[1]      contact key prefix (`fu:{p3}:c:`)
-- args[2]      n, the number of prefixes
-- args[3..]    n quintuples: kind, prefix (an identity's or handle's, kinds
--              'i' and 'h', ends with \0: it matches whole), position of its first recency bucket
--              in KEYS, how many follow (0 0: none), and 1 when every member
--              of those buckets starts with the prefix (else 0)
-- then         status filter ("" = any), assignee filter ("" = any),
--              sort ("recent" | "name"), need (results wanted), budget (most
--              contacts to read), number of walk sets (the last KEYS), and
--              `rows`: how many of the best matches to return whole
-- Returns {plan, total, truncated, hashes, local1, key1, local2, key2, ...}:
-- the best `need` matches in sort order; key is the last-message time or the
-- name key. `hashes` holds the first `rows` matches' contact hashes (HGETALL,
-- flat), so the caller needs no second round trip for the page.
-- `truncated` = 1 when the budget ran out before the answer was certain.

-- ARGV[1] packs the arguments (`args` below), separated by \31: one argument
-- packs faster on the client than twenty.
local args = {}
for field in string.gmatch(ARGV[1] .. '\31', '([^\31]*)\31') do args[#args + 1] = field end

local prefix_key = args[1]
local n = tonumber(args[2])
local kinds, prefixes, recency, exact_bucket = {}, {}, {}, {}
for i = 1, n do
  local b = 5 * i - 2
  kinds[i] = args[b]
  prefixes[i] = args[b + 1]
  local first, count = tonumber(args[b + 2]), tonumber(args[b + 3])
  if count > 0 then
    recency[i] = {}
    for k = first, first + count - 1 do recency[i][#recency[i] + 1] = KEYS[k] end
  end
  exact_bucket[i] = args[b + 4] == '1'
end
local a = 5 * n + 3
local want_status, want_assignee = args[a], args[a + 1]
local sort, need, budget = args[a + 2], tonumber(args[a + 3]), tonumber(args[a + 4])
local n_walk = tonumber(args[a + 5])
local rows = tonumber(args[a + 6])
local walk_sets = {}
for i = #KEYS - n_walk + 1, #KEYS do walk_sets[#walk_sets + 1] = KEYS[i] end

local found, seen = {}, {}
local reads = 0
-- Costs relative to looking at one member: reading a contact costs READ.
-- Sets up to COMPACT_SET members are listpacks (zset-max-ziplist-entries in
-- bot/store/server.py's TUNING).
local READ, SMALL_BUCKET, COMPACT_SET = 8, 256, 2048
local rx_sizes = {}

local function local_id(member)
  local pos = string.find(member, '\0', 1, true)
  return string.sub(member, pos + 1)
end

-- Reads a contact once; records it when it passes the filters (and, when
-- check_terms, matches one of the prefixes). Returns true when recorded.
local function examine(id, check_terms)
  if seen[id] ~= nil then return seen[id] end
  reads = reads + 1
  local f = redis.call('HMGET', prefix_key .. id, 'st', 'as', 'li', 'tx', 'em')
  local ok = f[1] and (want_status == '' or f[1] == want_status)
    and (want_assignee == '' or f[2] == want_assignee)
  local tx = f[4] or ''
  if ok and check_terms then
    -- Name terms are stored in tx; an e-mail term is the stored address.
    ok = false
    for i = 1, n do
      if kinds[i] == 'n' and string.find(tx, '\30n' .. prefixes[i], 1, true) then ok = true break end
      if kinds[i] == 'e' and string.sub(f[5] or '', 1, #prefixes[i]) == prefixes[i] then
        ok = true break
      end
    end
  end
  ok = ok and true or false
  seen[id] = ok
  if ok then
    local key = tonumber(f[3] or '0') or 0
    -- The name sort key is the first name term: the full name.
    if sort == 'name' then key = string.match(tx, '^\30n([^\30]*)') or '' end
    found[#found + 1] = {id, key}
  end
  return ok
end

local function range_max(p) return '[' .. p .. '\255' end

-- Every contact under prefix i, in term order, until `need` matched (when
-- stop_early) or `cap` reads; returns true when it read them all.
local function scan_index(i, stop_early, cap)
  local matched, offset = 0, 0
  while true do
    local chunk = redis.call('ZRANGEBYLEX', KEYS[i], '[' .. prefixes[i], range_max(prefixes[i]),
      'LIMIT', offset, 128)
    if #chunk == 0 then return true end
    offset = offset + #chunk
    for _, m in ipairs(chunk) do
      if examine(local_id(m), false) then matched = matched + 1 end
      if stop_early and matched >= need then return true end
      if reads >= cap then return false end
    end
    if #chunk < 128 then return true end
  end
end

-- Walk prefix i's recency buckets newest first. Members show their term, so
-- only matches are looked up: their scores (the sort key) in one ZMSCORE, or
-- the contact itself when the assignee must be checked. A bucket's first
-- `need` matches are its newest; `whole` reads the bucket to the end.
local function walk_recency(i, cap, whole)
  local p, len = prefixes[i], #prefixes[i]
  local complete = true
  for s, set in ipairs(recency[i]) do
    local matched, start, looked = 0, 0, 0
    local size = need
    if whole then size = 512 end
    -- A compact (listpack) set finds a member by scanning it, so its scores
    -- come with the range; a large one looks up just the matches' scores.
    local compact = rx_sizes[i][s] <= COMPACT_SET
    local done = false
    while not done do
      local chunk, hits, scores = nil, {}, nil
      if compact and want_assignee == '' then
        chunk = redis.call('ZREVRANGE', set, start, start + size - 1, 'WITHSCORES')
        scores = {}
        for k = 1, #chunk, 2 do
          if string.sub(chunk[k], 1, len) == p then
            hits[#hits + 1] = chunk[k]
            scores[#scores + 1] = chunk[k + 1]
          end
        end
        looked = looked + #chunk / 2
        start = start + #chunk / 2
      else
        chunk = redis.call('ZREVRANGE', set, start, start + size - 1)
        for _, m in ipairs(chunk) do
          if string.sub(m, 1, len) == p then hits[#hits + 1] = m end
        end
        looked = looked + #chunk
        start = start + #chunk
      end
      if #chunk == 0 then break end
      size = math.min(size * 2, 512)
      if #hits > 0 and want_assignee == '' then
        if scores == nil then scores = redis.call('ZMSCORE', set, unpack(hits)) end
        for k, m in ipairs(hits) do
          local id = local_id(m)
          if seen[id] == nil then
            seen[id] = true
            found[#found + 1] = {id, tonumber(scores[k])}
            matched = matched + 1
            if matched >= need and not whole then done = true break end
          end
        end
      else
        for _, m in ipairs(hits) do
          if examine(local_id(m), false) then matched = matched + 1 end
          if matched >= need and not whole then done = true break end
          if reads >= cap then complete = false done = true break end
        end
      end
      if not done and looked >= cap * 16 then complete = false done = true end
    end
  end
  return complete
end

-- Walk a filter set (an inbox) newest first, checking each contact's own terms.
local function walk_set(set, cap)
  local matched, start = 0, 0
  while true do
    local chunk = redis.call('ZREVRANGE', set, start, start + 127)
    if #chunk == 0 then return true end
    start = start + #chunk
    for _, id in ipairs(chunk) do
      if examine(id, true) then matched = matched + 1 end
      if sort == 'recent' and matched >= need then return true end
      if reads >= cap then return false end
    end
  end
end

local function better(x, y)
  if x[2] == y[2] then return x[1] < y[1] end
  if sort == 'name' then return x[2] < y[2] end
  return x[2] > y[2]
end

local function reply(plan, total, truncated)
  table.sort(found, better)
  local hashes = {}
  local out = {plan, total, truncated, hashes}
  for i = 1, math.min(need, #found) do
    out[#out + 1] = found[i][1]
    out[#out + 1] = tostring(found[i][2])
    if i <= rows then hashes[i] = redis.call('HGETALL', prefix_key .. found[i][1]) end
  end
  return out
end

-- Sorted by recency, a name prefix is answered from its recency buckets when
-- they are small (read whole), or when walking them reads less than reading
-- every match would. Costs are relative to looking at one member; reading a
-- contact costs READ. (Each redis.call inside a script costs microseconds:
-- count them.)
-- Identities and handles match whole: a handful of members at most.
local function exact(i) return kinds[i] == 'i' or kinds[i] == 'h' end

local counts, rx_size, total = {}, {}, 0
for i = 1, n do
  if sort == 'recent' and recency[i] ~= nil then
    rx_size[i], rx_sizes[i] = 0, {}
    for s, set in ipairs(recency[i]) do
      rx_sizes[i][s] = redis.call('ZCARD', set)
      rx_size[i] = rx_size[i] + rx_sizes[i][s]
    end
  end
  if rx_size[i] ~= nil and rx_size[i] <= SMALL_BUCKET and want_assignee == '' then
    counts[i] = -1  -- read whole below
  elseif rx_size[i] ~= nil and exact_bucket[i] then
    counts[i] = rx_size[i]  -- every member matches: no need to count
    total = total + counts[i]
  elseif exact(i) or (kinds[i] == 'e' and string.sub(prefixes[i], -1) == '@') then
    counts[i] = 0  -- an identity or an exact local part: a handful at most, read below
  else
    counts[i] = redis.call('ZLEXCOUNT', KEYS[i], '[' .. prefixes[i], range_max(prefixes[i]))
    total = total + counts[i]
  end
end

local function walk_is_cheaper(i)
  if rx_size[i] == nil or counts[i] <= need then return false end
  local read = READ
  if want_assignee == '' then read = 0 end
  return need * (read + rx_size[i] / counts[i]) < counts[i] * READ
end

-- My inbox, when small and the query matches many: read it all (exact).
-- The walk checks name and e-mail terms; identities and handles are read
-- from their own buckets first.
local walkable = true
for i = 1, n do walkable = walkable and (kinds[i] == 'n' or kinds[i] == 'e' or exact(i)) end
if n_walk > 0 and want_assignee ~= '' and total > budget and walkable then
  local walk_size = 0
  for _, set in ipairs(walk_sets) do walk_size = walk_size + redis.call('ZCARD', set) end
  if walk_size <= budget then
    for i = 1, n do if exact(i) then scan_index(i, false, budget) end end
    for _, set in ipairs(walk_sets) do walk_set(set, budget) end
    return reply('set', total, 0)
  end
end

local truncated = 0
local ranged = 0  -- prefixes that share the budget (exact ones cost a read or two)
for i = 1, n do if not exact(i) then ranged = ranged + 1 end end
local share = math.max(need, math.floor(budget / math.max(ranged, 1)))
for i = 1, n do
  local complete
  local cap = reads + share
  if counts[i] < 0 then
    local before = #found
    complete = walk_recency(i, cap, true)
    total = total + (#found - before)
  elseif walk_is_cheaper(i) then
    complete = walk_recency(i, cap, false)
  elseif counts[i] <= share then
    complete = scan_index(i, false, cap)
  elseif sort == 'name' then
    -- Term order is name order for full names: the first matches are the best.
    complete = scan_index(i, true, cap)
    if kinds[i] == 'n' then truncated = 1 end  -- last-name terms interleave
  else
    complete = scan_index(i, false, cap)
    truncated = 1
  end
  if not complete then truncated = 1 end
end
return reply('prefix', total, truncated)
