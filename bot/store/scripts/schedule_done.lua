-- schedule_done.lua: an item was done (sent, or the agent reminded): it leaves
-- the schedule. Only the holder of the running lease may finish it.
--
-- KEYS[1]  the item hash
-- KEYS[2]  the partition's running set
-- KEYS[3]  the partition's listing
-- KEYS[4]  the agent's listing in the partition
-- KEYS[5]  the contact's item set
-- ARGV[1]  the item id
-- Returns 1 when removed, 0 when the item was not running (already done).

if redis.call('HGET', KEYS[1], 'state') ~= 'running' then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('SREM', KEYS[5], ARGV[1])
return 1
