-- enqueue_many.lua: put entries on a queue kept as a pending hash and a due
-- set (the Slack thread queue), many at once: each payload replaces the
-- entry's pending one; an entry keeps its place in the due set if it has one.
-- (One argument for the whole batch: the client packs arguments one by one.)
--
-- KEYS[1]  the pending hash (entry -> payload)
-- KEYS[2]  the due set (entry, scored by when it was first enqueued)
-- ARGV[1]  the score for entries new to the due set
-- ARGV[2]  JSON: [[entry, payload], ...]; a payload is stored as its JSON
--          (encoded here, so the client encodes the batch once)
-- Returns how many entries were new to the due set.

local score = ARGV[1]
local added = 0
for _, item in ipairs(cjson.decode(ARGV[2])) do
  redis.call('HSET', KEYS[1], item[1], cjson.encode(item[2]))
  added = added + redis.call('ZADD', KEYS[2], 'NX', score, item[1])
end
return added
