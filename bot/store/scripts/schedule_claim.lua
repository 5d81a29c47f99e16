-- schedule_claim.lua: take the items of one partition that are due, for doing.
-- An item is taken under a lease: it moves from the due set to the running set,
-- scored by when the lease runs out. An item whose lease ran out (its process
-- died) is taken again first: every item is done at least once. What makes a
-- send happen once is downstream (the follow-up commit is idempotent on the
-- item's id).
--
-- KEYS[1]  the partition's due set
-- KEYS[2]  the partition's running set
-- ARGV[1]  now, epoch ms
-- ARGV[2]  lease ms
-- ARGV[3]  at most this many items
-- ARGV[4]  the prefix of the partition's item hashes (id appended)
-- Returns a flat list: per item, its id then its hash as field, value pairs
-- (an item id whose hash is gone is dropped from both sets and not returned).

local now, lease, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
local taken = 0

local function take(id)
  local key = ARGV[4] .. id
  local fields = redis.call('HGETALL', key)
  if #fields == 0 then
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    return
  end
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], now + lease, id)
  redis.call('HSET', key, 'state', 'running')
  redis.call('HINCRBY', key, 'attempts', 1)
  fields = redis.call('HGETALL', key)
  out[#out + 1] = id
  out[#out + 1] = fields
  taken = taken + 1
end

for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)) do
  take(id)
end
if taken < limit then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit - taken)) do
    take(id)
  end
end
return out
