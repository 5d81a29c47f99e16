-- schedule_add.lua: put one item on a partition's schedule. Idempotent: an
-- item id that exists already changes nothing (a retried Submit, a Slack retry).
--
-- KEYS[1]  the item hash
-- KEYS[2]  the partition's due set (items waiting for their time)
-- KEYS[3]  the partition's listing (every waiting item, for the team view)
-- KEYS[4]  the agent's listing in the partition
-- KEYS[5]  the contact's item set
-- ARGV[1]  the item id
-- ARGV[2]  due epoch ms, or "" for an item that waits for the customer's message
-- ARGV[3..] the item's fields, as field, value pairs
-- Returns 1 when added, 0 when the id was there already.

if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local fields = {}
for i = 3, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
local score = '+inf'
if ARGV[2] ~= '' then
  score = ARGV[2]
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
end
redis.call('ZADD', KEYS[3], score, ARGV[1])
redis.call('ZADD', KEYS[4], score, ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
return 1
