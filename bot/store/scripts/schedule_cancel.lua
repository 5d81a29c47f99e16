-- schedule_cancel.lua: take an item off the schedule before it is done. An
-- item already taken for doing cannot be cancelled: it is being sent.
--
-- KEYS[1]  the item hash
-- KEYS[2]  the partition's due set
-- KEYS[3]  the partition's listing
-- KEYS[4]  the agent's listing in the partition (the item's own agent)
-- KEYS[5]  the contact's item set
-- ARGV[1]  the item id
-- Returns 1 when cancelled, 0 when it is running, -1 when there is no such item.

local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return -1
end
if state == 'running' then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('SREM', KEYS[5], ARGV[1])
return 1
