-- apply.lua: commit a change that Python decided, only if the state it was
-- decided from still holds. It holds no business rule: it checks, then writes.
-- Every key it is given shares the contact's hash tag (one slot).
--
-- KEYS[1]   the contact hash
-- KEYS[2..] every other key the change touches (index buckets, status and
--           inbox sets, message hash, outbox stream, ...); ARGV[1] refers to
--           keys by their position in KEYS (1-based)
-- ARGV[1]   the change, JSON:
--   exists   true|false          KEYS[1] must (not) exist; omitted: either
--   expect   {field: value|false} fields of KEYS[1] that must still hold
--                                 (false: the field must be absent)
--   absent   [k]                 keys that must not exist (idempotency)
--   unique   [[k, term]]         lex buckets that must hold no `term\0*` member
--   counter  {field, window_field, window, limit, by}
--                                a counter that belongs to one window: it counts
--                                from 0 when window_field differs from window;
--                                the change needs count < limit (limit may be
--                                false: no limit); then count += by and
--                                window_field = window
--   hset     {field: value}      on KEYS[1]; any write bumps field `v`
--   hdel     [field]             on KEYS[1]
--   del      [k]
--   zadd     [[k, score, member]]
--   zrem     [[k, member]]
--   hset_at  [[k, {field: value}]]
--   xadd     [[k, {field: value}]]
--   lpush    [[k, value, keep]]  LPUSH, then keep the newest `keep` entries
--   setex    [[k, value, seconds]]  SET with an expiry (de-duplication marks)
--   xack     [[k, group, id]]   acknowledge and delete a stream entry
--   merging  true                a step of a merge: allowed on a merged contact
-- A contact merged into another (field `mg`) takes no change but a merge step:
-- the refusal {"merged", survivor id} sends the writer to the survivor.
-- Returns {"ok", version, xadd_id|""} or a refusal:
--   {"missing"} | {"exists"} | {"conflict", field} | {"duplicate", key}
--   | {"taken", member} | {"limit", count}

local change = cjson.decode(ARGV[1])
local contact = KEYS[1]
local null = cjson.null

local function present(v) return v ~= nil and v ~= null end

if not present(change.merging) then
  local into = redis.call('HGET', contact, 'mg')
  if into then return {'merged', into} end
end

if present(change.exists) then
  local exists = redis.call('EXISTS', contact) == 1
  if change.exists and not exists then return {'missing'} end
  if (not change.exists) and exists then return {'exists'} end
end

if present(change.expect) then
  for field, want in pairs(change.expect) do
    local have = redis.call('HGET', contact, field)
    if want == false or want == null then
      if have then return {'conflict', field} end
    elseif have ~= tostring(want) then
      return {'conflict', field}
    end
  end
end

if present(change.absent) then
  for _, k in ipairs(change.absent) do
    if redis.call('EXISTS', KEYS[k]) == 1 then return {'duplicate', KEYS[k]} end
  end
end

if present(change.unique) then
  for _, pair in ipairs(change.unique) do
    local term = pair[2] .. '\0'
    local hit = redis.call('ZRANGEBYLEX', KEYS[pair[1]], '[' .. term, '[' .. term .. '\255', 'LIMIT', 0, 1)
    if hit[1] then return {'taken', hit[1]} end
  end
end

local counter = change.counter
if present(counter) then
  local count = 0
  if redis.call('HGET', contact, counter.window_field) == tostring(counter.window) then
    count = tonumber(redis.call('HGET', contact, counter.field) or '0')
  end
  if present(counter.limit) and counter.limit ~= false and count >= counter.limit then
    return {'limit', tostring(count)}
  end
  redis.call('HSET', contact, counter.field, count + counter.by,
    counter.window_field, tostring(counter.window))
end

local wrote = present(counter)
if present(change.hset) then
  local args = {}
  for field, value in pairs(change.hset) do
    args[#args + 1] = field
    args[#args + 1] = tostring(value)
  end
  if #args > 0 then
    redis.call('HSET', contact, unpack(args))
    wrote = true
  end
end
if present(change.hdel) and #change.hdel > 0 then
  redis.call('HDEL', contact, unpack(change.hdel))
  wrote = true
end

local version = '0'
if wrote then version = tostring(redis.call('HINCRBY', contact, 'v', 1)) end

if present(change.zrem) then
  for _, z in ipairs(change.zrem) do redis.call('ZREM', KEYS[z[1]], z[2]) end
end
if present(change.zadd) then
  for _, z in ipairs(change.zadd) do redis.call('ZADD', KEYS[z[1]], z[2], z[3]) end
end
if present(change.hset_at) then
  for _, h in ipairs(change.hset_at) do
    local args = {}
    for field, value in pairs(h[2]) do
      args[#args + 1] = field
      args[#args + 1] = tostring(value)
    end
    redis.call('HSET', KEYS[h[1]], unpack(args))
  end
end
local xid = ''
if present(change.xadd) then
  for _, x in ipairs(change.xadd) do
    local args = {}
    for field, value in pairs(x[2]) do
      args[#args + 1] = field
      args[#args + 1] = tostring(value)
    end
    xid = redis.call('XADD', KEYS[x[1]], '*', unpack(args))
  end
end
if present(change.lpush) then
  for _, l in ipairs(change.lpush) do
    redis.call('LPUSH', KEYS[l[1]], l[2])
    redis.call('LTRIM', KEYS[l[1]], 0, l[3] - 1)
  end
end
if present(change.setex) then
  for _, x in ipairs(change.setex) do redis.call('SET', KEYS[x[1]], x[2], 'EX', x[3]) end
end
if present(change.xack) then
  for _, x in ipairs(change.xack) do
    redis.call('XACK', KEYS[x[1]], x[2], x[3])
    redis.call('XDEL', KEYS[x[1]], x[3])
  end
end
if present(change.del) then
  for _, k in ipairs(change.del) do redis.call('DEL', KEYS[k]) end
end
return {'ok', version, xid}
